"""Line numbers for config problems: where a key path is in the TOML text, and where a syntax error is."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence

from core.config.errors import ConfigProblem, KeyPath

_TOML_NAME_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_TOML_DOTTED = rf"{_TOML_NAME_PART}(?:\s*\.\s*{_TOML_NAME_PART})*"
_AOT_HEADER_RE = re.compile(rf"^\s*\[\[\s*({_TOML_DOTTED})\s*\]\]")
_TABLE_HEADER_RE = re.compile(rf"^\s*\[\s*({_TOML_DOTTED})\s*\]")
_KEY_LINE_RE = re.compile(rf"^\s*({_TOML_DOTTED})\s*=")
_NAME_PART_RE = re.compile(_TOML_NAME_PART)


def _name_parts(dotted: str) -> list[str]:
    return [part[1:-1] if part[0] in "\"'" else part for part in _NAME_PART_RE.findall(dotted)]


class KeyLocator:
    """Best-effort map from key paths to line numbers of a TOML text.

    Follows table headers and arrays of tables (`[[lines]]`, `[[lines.autostart]]`),
    so `("lines", 1, "id")` finds the `id` key under the second `[[lines]]`. Keys
    inside inline tables/arrays fall back to the line of the enclosing key.
    """

    def __init__(self, text: str) -> None:
        self._index: dict[KeyPath, int] = {}
        aot_counts: dict[KeyPath, int] = {}
        current: KeyPath = ()
        in_string: str | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if raw.count(in_string) % 2 == 1:
                    in_string = None
                continue
            if match := _AOT_HEADER_RE.match(raw):
                parts = _name_parts(match.group(1))
                parent = self._resolve(parts[:-1], aot_counts)
                table = (*parent, parts[-1])
                index = aot_counts.get(table, 0)
                aot_counts[table] = index + 1
                current = (*table, index)
                self._index.setdefault(current, number)
            elif match := _TABLE_HEADER_RE.match(raw):
                current = self._resolve(_name_parts(match.group(1)), aot_counts)
                self._index.setdefault(current, number)
            elif match := _KEY_LINE_RE.match(raw):
                self._index.setdefault((*current, *_name_parts(match.group(1))), number)
                for delimiter in ('"""', "'''"):
                    if raw.count(delimiter) % 2 == 1:
                        in_string = delimiter
                        break

    @staticmethod
    def _resolve(parts: Sequence[str], aot_counts: Mapping[KeyPath, int]) -> KeyPath:
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in aot_counts:
                path = (*path, aot_counts[path] - 1)
        return path

    def line_of(self, path: KeyPath) -> int | None:
        while path:
            if path in self._index:
                return self._index[path]
            path = path[:-1]
        return None


def syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    """The problem for a TOML syntax error: its line and column when tomllib names them."""
    text = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", text)
    if match:
        message = f"TOML syntax error: {text[: match.start()]} (column {match.group(2)})"
        return ConfigProblem(source, int(match.group(1)), "", message)
    text = re.sub(r"\s*\(at end of document\)\s*$", " at the end of the file", text)
    return ConfigProblem(source, None, "", f"TOML syntax error: {text}")
