"""``parse_mode`` (HTML, Markdown, MarkdownV2) → plain text + entities, as Telegram parses it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any, Final

from .records import _BOT_COMMAND, JSON, ApiError, _bad, utf16_len


class _HtmlEntityParser(HTMLParser):
    """Telegram's HTML subset: tags become entities, everything else is an error."""

    _SIMPLE: Final[Mapping[str, str]] = MappingProxyType(
        {
            "b": "bold",
            "strong": "bold",
            "i": "italic",
            "em": "italic",
            "u": "underline",
            "ins": "underline",
            "s": "strikethrough",
            "strike": "strikethrough",
            "del": "strikethrough",
            "tg-spoiler": "spoiler",
            "code": "code",
            "pre": "pre",
            "blockquote": "blockquote",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._at16 = 0
        self.entities: list[JSON] = []
        self._stack: list[tuple[str, int, JSON | None]] = []

    def _fail(self, reason: str) -> ApiError:
        return _bad(f"can't parse entities: {reason}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        entity: JSON | None
        if tag == "a":
            entity = {"type": "text_link", "url": attributes.get("href") or ""}
        elif tag == "span" and attributes.get("class") == "tg-spoiler":
            entity = {"type": "spoiler"}
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": attributes.get("emoji-id") or ""}
        elif tag == "blockquote" and "expandable" in attributes:
            entity = {"type": "expandable_blockquote"}
        elif tag in self._SIMPLE:
            entity = {"type": self._SIMPLE[tag]}
            language = (attributes.get("class") or "").removeprefix("language-")
            if tag == "code" and language and self._stack and self._stack[-1][0] == "pre":
                pre = self._stack[-1][2]
                if pre is not None:
                    pre["language"] = language
                entity = None  # <pre><code class="language-x"> is one pre entity
        else:
            raise self._fail(f'Unsupported start tag "{tag}" at byte offset {self._at16}')
        self._stack.append((tag, self._at16, entity))

    def handle_endtag(self, tag: str) -> None:
        if not self._stack or self._stack[-1][0] != tag:
            expected = self._stack[-1][0] if self._stack else None
            if expected is None:
                raise self._fail(f'Unexpected end tag "{tag}" at byte offset {self._at16}')
            raise self._fail(f'Can\'t find end tag corresponding to start tag "{expected}"')
        _, start, entity = self._stack.pop()
        if entity is not None and self._at16 > start:
            self.entities.append({**entity, "offset": start, "length": self._at16 - start})

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise self._fail(f'Unsupported start tag "{tag}" at byte offset {self._at16}')

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self._at16 += utf16_len(data)

    def parse(self, source: str) -> tuple[str, list[JSON]]:
        self.feed(source)
        self.close()
        if self._stack:
            raise self._fail(f'Can\'t find end tag corresponding to start tag "{self._stack[-1][0]}"')
        return "".join(self.parts), self.entities


_MD2_RESERVED: Final = frozenset("_*[]()~`>#+-=|{}.!")
_LEGACY_LINK: Final = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_MD2_TOGGLES: Final[Mapping[str, str]] = MappingProxyType(
    {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
)


class _MarkdownParser:
    """MarkdownV2 (``v2=True``) and legacy Markdown, enough to know what a reader sees."""

    def __init__(self, source: str, *, v2: bool) -> None:
        self.src = source
        self.v2 = v2
        self.out: list[str] = []
        self.offset = 0
        self.entities: list[JSON] = []

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.offset += utf16_len(text)

    def _add(self, entity_type: str, start: int, **extra: Any) -> None:
        if self.offset > start:
            self.entities.append({"type": entity_type, "offset": start, "length": self.offset - start, **extra})

    @staticmethod
    def _fail(reason: str) -> ApiError:
        return _bad(f"can't parse entities: {reason}")

    def _find_close(self, marker: str, start: int) -> int:
        i = start
        while i < len(self.src):
            if self.src[i] == "\\" and self.v2:
                i += 2
                continue
            if self.src.startswith(marker, i):
                return i
            i += 1
        return -1

    def _unescape(self, text: str) -> str:
        return re.sub(r"\\(.)", r"\1", text) if self.v2 else text

    def parse(self) -> tuple[str, list[JSON]]:
        src, i = self.src, 0
        open_: dict[str, int] = {}
        links: list[int] = []
        quote_start: int | None = None
        while i < len(src):
            c = src[i]
            if c == "\\" and i + 1 < len(src) and (self.v2 or src[i + 1] in "_*`["):
                self._emit(src[i + 1])
                i += 2
            elif c == "`":
                i = self._code(i)
            elif self.v2 and c == ">" and (i == 0 or src[i - 1] == "\n"):
                quote_start = self.offset if quote_start is None else quote_start
                i += 1
            elif c == "\n" and quote_start is not None and not src.startswith(">", i + 1):
                self._add("blockquote", quote_start)
                quote_start = None
                self._emit(c)
                i += 1
            elif self.v2 and (marker := self._toggle_marker(i)) is not None:
                kind = _MD2_TOGGLES[marker]
                if kind in open_:
                    self._add(kind, open_.pop(kind))
                else:
                    open_[kind] = self.offset
                i += len(marker)
            elif not self.v2 and c in "*_":
                end = src.find(c, i + 1)
                if end < 0:
                    raise self._fail(f"Can't find end of the entity starting at byte offset {i}")
                start = self.offset
                self._emit(src[i + 1 : end])
                self._add("bold" if c == "*" else "italic", start)
                i = end + 1
            elif c == "[" and not self.v2:
                i = self._legacy_link(i)
            elif c == "[":
                links.append(self.offset)
                i += 1
            elif c == "]" and links:
                i = self._link_target(i, links.pop())
            elif self.v2 and c in _MD2_RESERVED:
                raise self._fail(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
            else:
                self._emit(c)
                i += 1
        if quote_start is not None:
            self._add("blockquote", quote_start)
        if open_ or links:
            kind = next(iter(open_)) if open_ else "TextUrl"
            raise self._fail(f"Can't find end of {kind.title()} entity at byte offset {len(src)}")
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _toggle_marker(self, i: int) -> str | None:
        return next((m for m in ("||", "__", "*", "_", "~") if self.src.startswith(m, i)), None)

    def _code(self, i: int) -> int:
        if self.src.startswith("```", i):
            end = self._find_close("```", i + 3)
            if end < 0:
                raise self._fail(f"Can't find end of PreCode entity at byte offset {i}")
            body = self.src[i + 3 : end]
            language = ""
            first, newline, rest = body.partition("\n")
            if newline and first and " " not in first:
                language, body = first, rest
            start = self.offset
            self._emit(self._unescape(body))
            self._add("pre", start, **({"language": language} if language else {}))
            return end + 3
        end = self._find_close("`", i + 1)
        if end < 0:
            raise self._fail(f"Can't find end of Code entity at byte offset {i}")
        start = self.offset
        self._emit(self._unescape(self.src[i + 1 : end]))
        self._add("code", start)
        return end + 1

    def _legacy_link(self, i: int) -> int:
        match = _LEGACY_LINK.match(self.src, i)
        if match is None:
            self._emit("[")
            return i + 1
        start = self.offset
        self._emit(match.group(1))
        self._add("text_link", start, url=match.group(2))
        return match.end()

    def _link_target(self, i: int, start: int) -> int:
        if not self.src.startswith("(", i + 1):
            if self.v2:
                raise self._fail("Character ']' is reserved and must be escaped with the preceding '\\'")
            self._emit("]")
            return i + 1
        end = self._find_close(")", i + 2)
        if end < 0:
            raise self._fail(f"Can't find end of a URL at byte offset {i}")
        self._add("text_link", start, url=self._unescape(self.src[i + 2 : end]))
        return end + 1


def format_text(text: str, parse_mode: str | None, entities: list[Any] | None) -> tuple[str, list[JSON]]:
    """What a reader sees: the plain text and its entities (``entities`` wins over ``parse_mode``)."""
    if entities is not None:
        if not all(isinstance(e, dict) and {"type", "offset", "length"} <= e.keys() for e in entities):
            raise _bad("can't parse entities JSON object")
        return text, entities
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        plain, found = _HtmlEntityParser().parse(text)
        found.sort(key=lambda e: (e["offset"], -e["length"]))
        return plain, found
    if mode in ("markdown", "markdownv2"):
        return _MarkdownParser(text, v2=mode == "markdownv2").parse()
    raise _bad("unsupported parse_mode")


def command_entities(text: str) -> list[JSON]:
    """A leading ``/command`` (or ``/command@bot``) is a ``bot_command`` entity."""
    match = _BOT_COMMAND.match(text)
    if match is None:
        return []
    return [{"offset": 0, "length": utf16_len(match.group()), "type": "bot_command"}]
