"""The cross-field rules of SPEC §4 (and the decisions where it is silent), over validated items."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from core.config.errors import KeyPath, format_key

if TYPE_CHECKING:
    from core.config.schema import LineConfig, OperatorConfig, ServerConfig, SlackConfig

Problems = list[tuple[KeyPath, str]]
_K = TypeVar("_K", bound=Hashable)


def check_rules(
    server: ServerConfig | None,
    slack: SlackConfig | None,
    lines: Sequence[tuple[int, LineConfig]],
    operators: Sequence[tuple[int, OperatorConfig]],
    known_line_ids: Sequence[str] | None = None,
    check_operator_lines: bool = True,
) -> Problems:
    """The cross-field rules of SPEC §4, as (key, message) pairs.

    Works on items validated one by one (index, model) so that a broken item elsewhere
    does not hide these problems. `known_line_ids` (default: the ids of `lines`) is what
    operators' `lines` are checked against. A section passed as None (it failed validation)
    is skipped.
    """
    out: Problems = []
    line_ids, slack_needed_by = _check_lines(server, lines, out)
    _check_hours(lines, out)
    if slack is not None and slack_needed_by:
        for attr in ("bot_token", "signing_secret"):
            if not getattr(slack, attr):
                out.append((("slack", attr), f"required because {slack_needed_by[0]}"))
    known = set(line_ids) if known_line_ids is None else set(known_line_ids)
    _check_operators(operators, known if check_operator_lines else None, out)
    return out


def _check_hours(lines: Iterable[tuple[int, LineConfig]], out: Problems) -> None:
    """Business hours (SPEC §14): a schedule open at least once a week; an out-of-hours message needs hours."""
    for i, line in lines:
        if line.hours is not None and not any(line.hours.week()):
            out.append((("lines", i, "hours"), "no day has open hours: give at least one, e.g. mon = '09:00-18:00'"))
        if line.out_of_hours_message and line.hours is None:
            out.append((("lines", i, "out_of_hours_message"), "needs the line's hours (hours = { tz = …, mon = … })"))


def _first_seen(seen: dict[_K, int], key: _K, index: int) -> int | None:
    """The index `key` was first seen at if it was seen before; otherwise remembers `index`, None."""
    if key in seen:
        return seen[key]
    seen[key] = index
    return None


def _check_lines(
    server: ServerConfig | None, lines: Iterable[tuple[int, LineConfig]], out: Problems
) -> tuple[list[str], list[str]]:
    """The rules of each line and between lines; returns the line ids and what requires the Slack app."""
    ids: dict[str, int] = {}
    tokens: dict[str, int] = {}
    dm_line: dict[str, int] = {}  # the one line with slack_dm = true
    channels: dict[str, int] = {}  # Slack desk channel → the line that has it
    slack_needed_by: list[str] = []
    for i, line in lines:
        base: KeyPath = ("lines", i)
        if (other := _first_seen(ids, line.id, i)) is not None:
            out.append(((*base, "id"), f"duplicate line id {line.id!r} (also lines[{other}])"))
        if not line.telegram_token and not line.slack_dm:
            out.append((base, f"line {line.id!r} has no client channel: set telegram_token or slack_dm = true"))
        if line.slack_dm:
            if (other := _first_seen(dm_line, "slack_dm", i)) is not None:
                message = f"only one line may set slack_dm = true (lines[{other}] already does)"
                out.append(((*base, "slack_dm"), message))
            slack_needed_by.append(f"{format_key((*base, 'slack_dm'))} = true")
        if line.desk_channels:
            key = "slack_desk_channels" if line.slack_desk_channels is not None else "slack_desk_channel"
            slack_needed_by.append(f"{format_key((*base, key))} is set")
        _check_desk_channels(i, line, channels, out)
        _check_telegram(server, i, line, tokens, out)
        _check_autostart(base, line, out)
    return list(ids), slack_needed_by


def _check_desk_channels(i: int, line: LineConfig, channels: dict[str, int], out: Problems) -> None:
    """`slack_desk_channel` or `slack_desk_channels` (a non-empty list of channel IDs), not both; a channel is
    the desk of one line only, listed once (each channel's posting limit and open sessions are the line's)."""
    base: KeyPath = ("lines", i)
    if line.slack_desk_channels is None:
        listed: list[tuple[KeyPath, str]] = []
        if line.slack_desk_channel:
            listed.append(((*base, "slack_desk_channel"), line.slack_desk_channel))
    else:
        key: KeyPath = (*base, "slack_desk_channels")
        if line.slack_desk_channel:
            out.append(
                (key, f"line {line.id!r} sets both slack_desk_channel and slack_desk_channels: keep one of them")
            )
        if not line.slack_desk_channels:
            out.append((key, f"line {line.id!r}: an empty list; list one channel ID or more, or leave the key out"))
        listed = [((*key, j), channel) for j, channel in enumerate(line.slack_desk_channels)]
    for path, channel in listed:
        if not channel:
            out.append((path, "an empty channel ID"))
        elif (other := _first_seen(channels, channel, i)) is not None:
            where = "this line" if other == i else f"lines[{other}]"
            out.append((path, f"channel {channel!r} is already a Slack desk of {where}; each channel serves one line"))


def _check_telegram(
    server: ServerConfig | None, i: int, line: LineConfig, tokens: dict[str, int], out: Problems
) -> None:
    base: KeyPath = ("lines", i)
    if line.telegram_token:
        if (other := _first_seen(tokens, line.telegram_token, i)) is not None:
            out.append(
                (
                    (*base, "telegram_token"),
                    f"the same bot token is already used by lines[{other}]; each line needs its own bot",
                )
            )
        if server is not None and server.public_url and not line.telegram_webhook_secret:
            out.append(
                (
                    (*base, "telegram_webhook_secret"),
                    "required when server.public_url is set (Telegram webhook mode) and the line has a telegram_token",
                )
            )
    elif line.telegram_desk_chat is not None:
        out.append(
            ((*base, "telegram_desk_chat"), "a Telegram desk is served by the line's bot: set telegram_token too")
        )


def _check_autostart(base: KeyPath, line: LineConfig, out: Problems) -> None:
    events: dict[str, int] = {}
    for j, rule in enumerate(line.autostart):
        if (other := _first_seen(events, rule.event, j)) is not None:
            out.append(
                (
                    (*base, "autostart", j, "event"),
                    f"duplicate auto-start event {rule.event!r} (also autostart[{other}]): "
                    "one process per line and event",
                )
            )


def _check_operators(
    operators: Iterable[tuple[int, OperatorConfig]], known_lines: set[str] | None, out: Problems
) -> None:
    """The rules of each operator and between operators; `known_lines` None: their `lines` are not checked."""
    ids: dict[str, int] = {}
    slack_users: dict[str, int] = {}
    telegram_users: dict[int, int] = {}
    for i, op in operators:
        base: KeyPath = ("operators", i)
        if (other := _first_seen(ids, op.id, i)) is not None:
            out.append(((*base, "id"), f"duplicate operator id {op.id!r} (also operators[{other}])"))
        if known_lines is not None:
            for j, name in enumerate(op.lines):
                if name != "*" and name not in known_lines:
                    out.append(((*base, "lines", j), f"unknown line {name!r}"))
        if op.slack_user and (other := _first_seen(slack_users, op.slack_user, i)) is not None:
            out.append(((*base, "slack_user"), f"Slack user {op.slack_user!r} is already operators[{other}]"))
        if op.telegram_user is not None and (other := _first_seen(telegram_users, op.telegram_user, i)) is not None:
            out.append(((*base, "telegram_user"), f"Telegram user {op.telegram_user} is already operators[{other}]"))
