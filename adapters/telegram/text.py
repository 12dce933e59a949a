"""Telegram measures texts in UTF-16 code units (an emoji outside the BMP counts twice):
`text` ≤ 4096, `caption` ≤ 1024, a topic name ≤ 128."""

from __future__ import annotations

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
TOPIC_NAME_LIMIT = 128


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """The largest number of characters of `text` whose UTF-16 length is ≤ limit."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def fit(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 units, with an ellipsis when it was cut."""
    if utf16_len(text) <= limit:
        return text
    return text[: _prefix_within(text, limit - 1)] + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Texts over the limit are sent as several messages, cut at a line break or a space where possible."""
    chunks: list[str] = []
    while utf16_len(text) > limit:
        room = _prefix_within(text, limit)
        cut = text.rfind("\n", 0, room)
        if cut < room // 2:
            cut = text.rfind(" ", 0, room)
        if cut < room // 2:
            cut = room
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    chunks.append(text)
    return chunks
