"""What a Web API call costs against Slack's rate limits (:mod:`sandboxes.limits`).

``chat.postMessage`` (and ``chat.meMessage``, should the sandbox answer it) counts once against its channel's
burst bucket; ``files.completeUploadExternal`` once against each channel it shares the files into;
``chat.update`` once against the workspace's per-minute window. Nothing else is limited (``chat.postEphemeral``
neither: Slack limits it per user, not per channel).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..limits import SLACK_CHANNEL, SLACK_UPDATE, Charge, Limits
from .state import SlackWorkspace

_POSTS = frozenset({"chat.postMessage", "chat.meMessage"})
_UPDATES = frozenset({"chat.update"})
_SHARES = frozenset({"files.completeUploadExternal"})


def _channel_key(ws: SlackWorkspace, ref: str) -> str:
    """The channel id ``ref`` names (an id, a ``#name``, a user's DM), without opening anything."""
    if ref in ws.channels:
        return ref
    if ref in ws.users:  # the user's DM with the app, if open
        return next((c.id for c in ws.channels.values() if c.is_im and c.user == ref), ref)
    name = ref.lstrip("#")
    return next((c.id for c in ws.channels.values() if c.name == name and not c.is_im), ref)


def _targets(method: str, params: Mapping[str, Any]) -> list[str]:
    if method in _POSTS:
        channel = params.get("channel")
        return [str(channel)] if channel else []
    if method in _SHARES:
        if params.get("channel_id"):
            return [str(params["channel_id"])]
        return [c for c in str(params.get("channels") or "").split(",") if c]
    return []


def slack_charges(limits: Limits, ws: SlackWorkspace, method: str, params: Mapping[str, Any]) -> list[Charge]:
    """The buckets a call of ``method`` with ``params`` is charged to."""
    charges: list[Charge] = []
    if method in _UPDATES and limits.slack_update is not None:
        charges.append(Charge(SLACK_UPDATE, ws.identity.team_id, limits.slack_update))
    if limits.slack_channel is not None:
        keys = dict.fromkeys(_channel_key(ws, ref) for ref in _targets(method, params))
        charges.extend(Charge(SLACK_CHANNEL, key, limits.slack_channel) for key in keys)
    return charges
