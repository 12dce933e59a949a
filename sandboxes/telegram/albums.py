"""The Bot API methods that send several messages in one call: ``copyMessages`` and ``sendMediaGroup``.

As Telegram: ``copyMessages`` copies 1–100 messages given in strictly increasing order, skipping those that cannot
be copied (gone, or service messages), keeps album grouping (the copies of one album form a new album) and returns
the new ``MessageId``s in order; ``sendMediaGroup`` sends 2–10 photos / videos (together), documents or audio files
(each only with their own kind) as one album sharing a ``media_group_id`` (a single item goes as a message of its
own), and sends nothing when any item is refused.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from .params import Attached, Params
from .records import _CONTENT_KEYS, JSON, FileRecord, _bad
from .state import BotState
from .targets import Targets

COPY_LIMIT = 100
ALBUM_LIMIT = 10
_ALBUM_KINDS = ("photo", "video", "document", "audio")
_ALONE = ("document", "audio")
"""Kinds an album holds only with their own kind."""


class Albums(Targets):
    """``copyMessages`` and ``sendMediaGroup`` (:class:`BotApi` registers them)."""

    async def copy_messages(self, bot: BotState, p: Params) -> list[JSON]:
        ids = self._message_ids(p)
        source = self.chat_for(bot, p.chat_ref("from_chat_id"), writing=False)
        target = self.target(bot, p)
        albums: dict[str, str] = {}
        copied: list[JSON] = []
        for message_id in ids:
            message = source.find(message_id)
            if message is None or message.is_service:
                continue  # skipped, as Telegram skips what it cannot copy
            content = {k: v for k, v in message.payload.items() if k in _CONTENT_KEYS}
            if p.flag("remove_caption"):
                content = {k: v for k, v in content.items() if k not in ("caption", "caption_entities")}
            album = message.payload.get("media_group_id")
            if album:
                content["media_group_id"] = albums.setdefault(str(album), self.state.new_media_group_id())
            copied.append({"message_id": self.store(bot, target, content, p)["message_id"]})
        if not copied:
            raise _bad("message to copy not found")
        return copied

    @staticmethod
    def _message_ids(p: Params) -> list[int]:
        ids = p.opt_list("message_ids")
        if not ids:
            raise _bad("message identifiers are not specified")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise _bad("can't parse message_ids JSON array")
        if len(ids) > COPY_LIMIT:
            raise _bad("too many messages to copy")
        if any(later <= earlier for earlier, later in pairwise(ids)):
            raise _bad("message identifiers must be in a strictly increasing order")
        return [int(i) for i in ids]

    async def send_media_group(self, bot: BotState, p: Params) -> list[JSON]:
        media = p.values.get("media")
        if not isinstance(media, list):
            raise _bad("can't parse media JSON object")
        if not media:
            raise _bad("there are no messages to send")
        if len(media) > ALBUM_LIMIT:
            raise _bad("too many messages to send as an album")
        items = [self._album_item(item) for item in media]
        kinds = {kind for kind, _, _ in items}
        for alone in _ALONE:
            if alone in kinds and len(kinds) > 1:
                raise _bad(f"{alone} can't be mixed with other media types")
        target = self.target(bot, p)
        album = self.state.new_media_group_id() if len(items) > 1 else None
        sent: list[JSON] = []
        for kind, record, caption in items:
            content = {**record.content(kind), **caption}
            if album is not None:
                content["media_group_id"] = album
            sent.append(self.store(bot, target, content, p))
        return sent

    def _album_item(self, item: Any) -> tuple[str, FileRecord, JSON]:
        """An InputMedia's kind, file and caption; refused as Telegram words it."""
        if not isinstance(item, dict):
            raise _bad("can't parse InputMedia: object expected")
        kind = item.get("type")
        if kind == "animation":
            raise _bad("can't parse InputMedia: type \"animation\" can't be used in sendMediaGroup")
        if kind not in _ALBUM_KINDS:
            raise _bad(f'can\'t parse InputMedia: type "{kind}" is unsupported')
        media = item.get("media")
        if isinstance(media, Attached):
            media = media.upload
        elif media is None or (isinstance(media, str) and media.startswith("attach://")):
            raise _bad("can't parse InputMedia: media not found")
        fields = Params(item)
        return str(kind), self.file_record(media, str(kind), fields), self.caption_content(fields)
