"""How loaded each desk is: its backlog (outbox entries whose time has come — due, or waiting for a retry —
and that are not delivered yet) and lag (the age of the oldest of them), and for Slack desk channels the open
sessions they hold — so a team sees when a line needs another desk channel (`slack_desk_channels`, SPEC §13).
Read from the store in one query per figure, for `/metrics` and the App Home's admin section."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Config, LineConfig
from core.courier import SLACK_DESK, TELEGRAM_DESK
from core.store.base import Store

UNASSIGNED = "unassigned"
"""The Slack desk "channel" of entries whose session has no channel chosen yet (a line with several)."""


@dataclass
class DeskLoad:
    line_id: str
    desk: str
    """"slack:<channel>" or "telegram:<chat id>"."""
    backlog: int = 0
    lag: float = 0.0
    """Seconds."""
    open_sessions: int | None = None
    """Open sessions whose thread is in this Slack channel (None: not counted — Telegram desks, or not asked)."""


def _desks(line: LineConfig) -> list[str]:
    desks = [f"slack:{channel}" for channel in line.desk_channels]
    if line.telegram_desk_chat is not None:
        desks.append(f"telegram:{line.telegram_desk_chat}")
    return desks


def _desk_of(line: LineConfig | None, route: str, channel: str) -> str:
    if route == TELEGRAM_DESK:
        return f"telegram:{line.telegram_desk_chat if line is not None else ''}"
    if not channel and line is not None and len(line.desk_channels) == 1:
        channel = line.desk_channels[0]  # one channel: nothing to choose
    return f"slack:{channel or UNASSIGNED}"


async def desk_load(store: Store, config: Config, now: float, *, open_sessions: bool = False) -> list[DeskLoad]:
    """Every configured desk (idle ones too, with 0), and any other desk that still has a backlog (a channel
    taken out of the config with threads still waiting); with `open_sessions`, each Slack channel's open
    sessions too (one more query per line)."""
    loads: dict[tuple[str, str], DeskLoad] = {}
    for line in config.lines:
        for desk in _desks(line):
            loads[(line.id, desk)] = DeskLoad(line.id, desk)
    for row in await store.desk_backlog(now, [SLACK_DESK, TELEGRAM_DESK], SLACK_DESK):
        desk = _desk_of(config.line(row.line_id), row.route, row.channel)
        load = loads.setdefault((row.line_id, desk), DeskLoad(row.line_id, desk))
        load.backlog += row.waiting
        load.lag = max(load.lag, now - row.oldest_created_at, 0.0)
    if open_sessions:
        for line in config.lines:
            if not line.desk_channels:
                continue
            counts = await store.desk_channel_sessions(line.id)
            for (line_id, desk), load in loads.items():
                if line_id == line.id and desk.startswith("slack:"):
                    load.open_sessions = counts.get(desk.removeprefix("slack:"), 0)
    return list(loads.values())
