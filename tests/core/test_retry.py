"""The retry policies (core.retry) and the http block's allow list (core.http_calls): waits, caps, tries."""

from __future__ import annotations

import pytest
from tenacity import RetryCallState, Retrying

from adapters.telegram.inbound import POLL_CONFLICT, POLL_FAILED
from core.http_calls import allow_entry, http_refusal
from core.intake import HANDLE_BACKOFF, TAKE_BACKOFF
from core.retry import Backoff
from core.store.base import STEADY_BACKOFF


def waits(policy: Backoff, n: int) -> list[float]:
    """The tenacity waits after the 1st … n-th failure in a row."""
    strategy = policy.wait()
    result = []
    for attempt in range(1, n + 1):
        state = RetryCallState(Retrying(), None, (), {})
        state.attempt_number = attempt
        result.append(strategy(state))
    return result


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (TAKE_BACKOFF, [0.5, 1, 2, 4, 5, 5, 5]),
        (HANDLE_BACKOFF, [0.25, 0.5, 1, 2, 4, 5, 5]),
        (STEADY_BACKOFF, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5, 5, 5]),
        (POLL_FAILED, [1, 2, 4, 8, 16, 30, 30]),
        (POLL_CONFLICT, [2, 4, 8, 16, 30, 30]),
        (Backoff(first=0.002, cap=0.05), [0.002, 0.004, 0.008, 0.016, 0.032, 0.05]),
    ],
)
def test_each_policy_waits_as_the_hand_written_loop_did(policy: Backoff, expected: list[float]) -> None:
    assert waits(policy, len(expected)) == pytest.approx(expected)
    assert [policy.delay(n) for n in range(1, len(expected) + 1)] == pytest.approx(expected)


def test_a_policy_that_never_stops_does_not_overflow() -> None:
    assert waits(POLL_FAILED, 1100)[-1] == 30
    assert POLL_FAILED.delay(5000) == 30
    assert (TAKE_BACKOFF.attempts, HANDLE_BACKOFF.attempts, STEADY_BACKOFF.attempts) == (8, 8, 10)


class Flaky:
    def __init__(self, failures: int, error: type[Exception] = OSError):
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


async def test_call_tries_until_it_works() -> None:
    flaky = Flaky(3)
    slept: list[float] = []
    policy = Backoff(first=0.001, cap=0.002, attempts=5)
    result = await policy.call(OSError, flaky, before_sleep=lambda s: slept.append(s.next_action.sleep))  # type: ignore[union-attr]
    assert result == "done" and flaky.calls == 4
    assert slept == pytest.approx([0.001, 0.002, 0.002])


async def test_call_gives_up_after_its_attempts_raising_the_last_error() -> None:
    flaky = Flaky(10)
    with pytest.raises(OSError, match="failure 3"):
        await Backoff(first=0.001, attempts=3).call(OSError, flaky)
    assert flaky.calls == 3


async def test_call_gives_up_once_its_time_is_over() -> None:
    flaky = Flaky(10_000)
    with pytest.raises(OSError):
        await Backoff(first=0.001, cap=0.001, within=0.05).call(OSError, flaky)
    assert 2 < flaky.calls < 10_000


async def test_other_errors_and_errors_not_meant_go_through_at_once() -> None:
    flaky = Flaky(1, ValueError)
    with pytest.raises(ValueError):
        await Backoff(first=0.001, attempts=3).call(OSError, flaky)
    assert flaky.calls == 1
    flaky = Flaky(5)
    with pytest.raises(OSError):
        await Backoff(first=0.001, attempts=3).call(OSError, flaky, when=lambda err: "failure 2" not in str(err))
    assert flaky.calls == 2


async def test_the_first_try_that_works_builds_no_retry() -> None:
    flaky = Flaky(0)
    assert await Backoff(first=1.0, attempts=1).call(OSError, flaky) == "done"
    assert flaky.calls == 1


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("api.example.com", ("api.example.com", None)),
        ("API.example.com:8443", ("api.example.com", 8443)),
        ("10.0.0.5:80", ("10.0.0.5", 80)),
        ("[::1]", ("::1", None)),
        ("[::1]:8080", ("::1", 8080)),
        ("::1", ("::1", None)),
    ],
)
def test_allow_entries(entry: str, parsed: tuple[str, int | None]) -> None:
    assert allow_entry(entry) == parsed


@pytest.mark.parametrize("entry", ["api.example.com:http", "api.example.com:0", "api.example.com:70000", "[::1]x"])
def test_a_bad_port_in_an_allow_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match=r"processes\.http_allow entry"):
        allow_entry(entry)
    assert "processes.http_allow entry" in (http_refusal("https://api.example.com/", [entry]) or "")


@pytest.mark.parametrize(
    ("url", "allow", "refusal"),
    [
        ("https://crm.example.com/deals", ["crm.example.com"], None),
        ("http://crm.example.com:8080/deals", ["crm.example.com"], None),  # no port named: any port
        ("https://crm.example.com/deals", ["crm.example.com:443"], None),
        ("http://crm.example.com/deals", ["crm.example.com:80"], None),
        ("http://crm.example.com:8080/", ["crm.example.com:8080", "crm.example.com:9090"], None),
        ("http://[::1]:8080/", ["[::1]:8080"], None),
        ("https://crm.example.com/", ["crm.example.com:8443"], "port 443 of host 'crm.example.com' is not in"),
        ("http://crm.example.com:9/", ["crm.example.com:80", "crm.example.com:8080"], "(allowed there: 80, 8080)"),
        ("https://other.example.com/", ["crm.example.com"], "host 'other.example.com' is not in"),
        ("ftp://crm.example.com/", ["crm.example.com"], "is not an http(s) URL"),
        ("http://crm.example.com:99999/", ["crm.example.com"], "is not an http(s) URL"),
        ("crm.example.com/deals", ["crm.example.com"], "is not an http(s) URL"),
    ],
)
def test_http_refusal(url: str, allow: list[str], refusal: str | None) -> None:
    got = http_refusal(url, allow)
    if refusal is None:
        assert got is None
    else:
        assert got is not None and refusal in got, got
