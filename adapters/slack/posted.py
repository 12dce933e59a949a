"""No duplicate desk posts after a crash: every post linedesk makes into a desk channel carries Slack message
metadata naming its outbox entry, and an entry claimed again after its lease ran out (`OutboxEntry.retaken`:
linedesk may have died after Slack took the post and before the outbox heard so) is first looked up in the
thread — or, for a session's card, the channel — before it is posted again.

The lookup costs one `conversations.replies` / `conversations.history` call, and only for retaken entries.

One entry can make two posts: a message whose session has no thread yet opens it (the card) and then posts
into it. Each post is tagged with its part too, so the message's lookup, whose `conversations.replies` answer
starts with the thread's root, does not take its own card for the message (the message would be lost).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from core.model import OutboxEntry

EVENT_TYPE = "linedesk_outbox_entry"
LOOKUP_PAGES = 5
"""Pages of a thread (1,000 replies each) or of the channel (the newest 200 roots each) looked through."""


class Part(StrEnum):
    """Which of an entry's posts: the message it delivers, or the session card it had to post first."""

    POST = "post"
    CARD = "card"


def tag(entry: OutboxEntry, part: Part = Part.POST) -> dict[str, Any]:
    """The metadata a post of `entry` carries."""
    return {"event_type": EVENT_TYPE, "event_payload": {"entry": entry.id, "part": part.value}}


def _tagged(message: dict[str, Any], entry: OutboxEntry, part: Part) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    # posts tagged before parts were: a card then carried its entry alone, like a message
    posted_as = payload.get("part", Part.POST.value)
    return metadata.get("event_type") == EVENT_TYPE and payload.get("entry") == entry.id and posted_as == part.value


async def earlier_post(
    client: AsyncWebClient, entry: OutboxEntry, channel: str, thread_ts: str | None, part: Part = Part.POST
) -> str | None:
    """The ts of the post `part` that `entry` already made (None: none, or the entry was not retaken)."""
    if not entry.retaken:
        return None
    cursor: str | None = None
    for _ in range(LOOKUP_PAGES):
        if thread_ts is None:
            response = await client.conversations_history(
                channel=channel, include_all_metadata=True, limit=200, cursor=cursor
            )
        else:
            response = await client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=1000, cursor=cursor
            )
        for message in response.get("messages") or []:
            if _tagged(message, entry, part):
                return str(message["ts"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            return None
    return None


class Poster:
    """`chat.postMessage` for one outbox entry: tagged, and not posted twice."""

    def __init__(self, client: AsyncWebClient, entry: OutboxEntry):
        self._client = client
        self._entry = entry

    async def post(self, part: Part = Part.POST, **params: Any) -> str:
        """Post (`channel`, `thread_ts`, `text`, `blocks` …) and return its ts — or the ts of the same entry's
        earlier post of that `part`, when there is one."""
        channel = str(params["channel"])
        earlier = await earlier_post(self._client, self._entry, channel, params.get("thread_ts"), part)
        if earlier is not None:
            return earlier
        response = await self._client.chat_postMessage(**params, metadata=tag(self._entry, part))
        return str(response["ts"])
