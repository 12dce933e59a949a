"""How a config problem is named: the key path inside the config, and the problem with file and line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]
"""A key inside the config, e.g. ("lines", 0, "telegram_token") for `lines[0].telegram_token`."""


def format_key(path: Sequence[str | int]) -> str:
    """("lines", 1, "telegram_desk_chat") -> "lines[1].telegram_desk_chat"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config is not usable; `problems` lists every reason found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))
