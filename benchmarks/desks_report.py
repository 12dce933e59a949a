"""What `desks.py` reports: lag statistics, the verdicts against SPEC §13's targets, the table it prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.results import table
from benchmarks.stage import percentile


def lag_stats(lags: Sequence[float]) -> dict[str, float | int]:
    return {
        "count": len(lags),
        "p50_s": round(percentile(lags, 0.50), 2),
        "p95_s": round(percentile(lags, 0.95), 2),
        "p99_s": round(percentile(lags, 0.99), 2),
        "max_s": round(max(lags), 2) if lags else 0.0,
    }


# --- one scenario ---------------------------------------------------------------------------------------


GROWTH_NOISE_S = 0.1
"""How much worse the last minute's p99 may be than the second's and still count as not growing: the noise of
one post's way (the sandbox's HTTP, two event loops), not a trend (a growing lag adds seconds a minute)."""


def verdicts(r: dict[str, Any]) -> dict[str, bool | None]:
    """Each of the scenario's targets: met (True), not met (False), not measurable here (None)."""
    per_minute = r["per_minute"]
    growth: bool | None = None
    if len(per_minute) >= 3:
        # "no worse", to the measurement's resolution (a post's way through HTTP and the loops: ~0.1 s)
        growth = per_minute[-1]["p99_s"] <= per_minute[1]["p99_s"] + GROWTH_NOISE_S
    card_target = r["targets"]["card_p99_s"]
    cards = r["cards"]
    cards_ok = cards["updated"] == cards["actions"] and cards["p99_s"] < (card_target or 0.0)
    return {
        "lag_p99": r["lag"]["p99_s"] < r["targets"]["lag_p99_s"] and r["lost"] == 0,
        "card_p99": None if card_target is None else cards_ok,
        "no_429": r["refusals_429_total"] == 0 and sum(r["refusals_429_whole_run"].values()) == 0,
        "intact": r["lost"] == 0 and r["duplicates"] == 0 and r["reordered"] == 0 and r["misplaced"] == 0,
        "lag_not_growing": growth,
    }


def print_report(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        lag, cards = r["lag"], r["cards"]
        v = verdicts(r)
        missed = [k for k, ok in v.items() if ok is False]
        rows.append(
            [
                r["scenario"],
                f"{r['offered_per_min']:.0f}/{r['delivered_per_min']:.0f}",
                f"{lag['p50_s']:.1f}/{lag['p95_s']:.1f}/{lag['p99_s']:.1f}/{lag['max_s']:.1f}",
                " ".join(f"{m['p99_s']:.1f}" for m in r["per_minute"]),
                f"{cards['p50_s']:.2f}/{cards['p99_s']:.2f} ({cards['updated']}/{cards['actions']})",
                str(r["refusals_429_total"]),
                f"{r['lost']}/{r['duplicates']}/{r['reordered']}/{r['misplaced']}",
                f"< {r['targets']['lag_p99_s']:.0f} s",
                "met" if not missed else "NOT met: " + ", ".join(missed),
            ]
        )
    print(
        table(
            rows,
            [
                "scenario",
                "offered/delivered per min",
                "lag p50/p95/p99/max s",
                "p99 per minute s",
                "card p50/p99 s (n)",
                "429s",
                "lost/dup/reord/misplaced",
                "target p99",
                "verdict",
            ],
        )
    )
    for r in results:
        if r["refusals_429_whole_run"]:
            print(f"  {r['scenario']}: 429s {r['refusals_429_whole_run']} (warm-up included)")
