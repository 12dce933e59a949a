"""Saved replies (SPEC §14): `[[replies]]` at the top level of the config — canned texts an operator sends to
the client with `/reply`, with a few placeholders filled in from the session."""

from __future__ import annotations

import string
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.config.errors import KeyPath
from core.config.values import check_id

PLACEHOLDERS = ("client_name", "operator_name", "session", "line_name")
"""What a saved reply's text may name in braces; `{{` and `}}` are literal braces."""

Problems = list[tuple[KeyPath, str]]


def placeholders_of(text: str) -> list[str]:
    """The placeholder names in `text`, or ValueError naming what is wrong (an unknown name, a lone brace)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as err:
        raise ValueError(f"{err}: write a literal brace as {{{{ or }}}}") from None
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {field}: use {known}")
        names.append(name)
    return names


class ReplyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    id: str
    """What `/reply ID` names; not only digits (`/reply 42` is session #42's list)."""
    title: str = Field(min_length=1, max_length=75)
    """The button's label."""
    text: str = Field(min_length=1, max_length=4000)
    lines: list[str] | None = None
    """Line ids it is offered on; None: every line."""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        check_id(value)
        if value.isdigit():
            raise ValueError("must not be only digits (/reply N lists the saved replies of session #N)")
        return value

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        placeholders_of(value)
        if value.lstrip().startswith("//"):
            raise ValueError("must not start with // (that makes an internal note, which the client never gets)")
        return value

    def offered_on(self, line_id: str) -> bool:
        return self.lines is None or line_id in self.lines

    def render(self, values: dict[str, str]) -> str:
        return self.text.format(**{name: values.get(name, "") for name in PLACEHOLDERS})


def check_replies(replies: Sequence[tuple[int, ReplyConfig]], known_lines: set[str] | None) -> Problems:
    """Duplicate ids, and `lines` naming a line that is not in the config (`known_lines` None: not checked)."""
    out: Problems = []
    seen: dict[str, int] = {}
    for i, reply in replies:
        if reply.id in seen:
            out.append(
                (("replies", i, "id"), f"duplicate saved reply id {reply.id!r} (also replies[{seen[reply.id]}])")
            )
        seen.setdefault(reply.id, i)
        for j, line in enumerate(reply.lines or []):
            if known_lines is not None and line not in known_lines:
                out.append((("replies", i, "lines", j), f"unknown line {line!r}"))
    return out
