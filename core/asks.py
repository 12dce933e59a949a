"""`linedesk.ask` (SPEC §14): a process asks the client a question with one button per choice and waits.

An ask is one question put by one task run. It is kept as a ref (`RefSpace.ASK`, keyed by its short random id,
the id its buttons carry) while the instance waits with `waiting_for = "ask:<id>"`: a click (or, with
`allow_text`, a typed answer) counts only while the instance still waits for that very ask, which makes an
answer one transition of the instance (its commit), checked under the instance's lock — a second click, a click
on an older question, or on one whose instance moved on or was cancelled changes nothing. A button carries
the ask's id and the choice's index (never its label: Telegram allows 64 bytes of callback data).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

ASK = "linedesk.ask"
WAITING_PREFIX = "ask:"
"""An instance waiting for an ask's answer has `waiting_for = WAITING_PREFIX + ask id`."""
MAX_CHOICES = 10
"""Buttons under one question: more do not fit a phone's screen (Slack allows 25 in a block, Telegram 100)."""
MAX_LABEL = 64
"""Characters of a choice's label: Slack's button text takes 75, Telegram shows about this many on a phone."""
MAX_QUESTION = 3000
"""Characters of the question: Slack's section block takes 3000 (Telegram 4096)."""
ID_BYTES = 6
"""Random bytes of an ask's id (12 hex characters on its buttons)."""


class AskError(ValueError):
    """A question that cannot be put; the message names the input."""


class Outcome(StrEnum):
    """What became of a client's answer."""

    TAKEN = "taken"
    CLOSED = "closed"
    """Answered already, or its instance moved on, was cancelled or asks something newer."""
    INVALID = "invalid"
    """No such question or choice, or not this client's question (a forged or tampered button)."""


REPLIES: dict[Outcome, str] = {
    Outcome.TAKEN: "Thank you, got it.",
    Outcome.CLOSED: "This question has already been answered or is no longer open — nothing was changed.",
    Outcome.INVALID: "Sorry, this button is not valid — nothing was changed.",
}
"""What the client is told after a click (Telegram: the button's toast; Slack: an ephemeral message)."""


class AskRecord(BaseModel):
    """One question put to a client (stored as a ref under its id)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    instance_id: str
    task_id: str
    """SpiffWorkflow's id of the ask task: the answer completes it."""
    session: int
    client_id: str
    text: str
    choices: list[str]
    allow_text: bool = False
    message_id: int
    """The session message the question is: its client copy is edited once answered."""
    process: str = ""


@dataclass(frozen=True)
class Question:
    """The block's inputs, checked."""

    text: str
    choices: tuple[str, ...]
    allow_text: bool


def new_id() -> str:
    return secrets.token_hex(ID_BYTES)


def waiting_for(ask_id: str) -> str:
    return f"{WAITING_PREFIX}{ask_id}"


def parse_choices(value: Any) -> tuple[str, ...]:
    """`choices` as given: a comma-separated text, or a list (an `=` expression); None or "" is no choice."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Sequence[Any] = value.split(",") if value.strip() else []
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise AskError(f"ask: 'choices' must be a comma-separated text or a list, not {type(value).__name__}")
    labels = tuple(str(item).strip() for item in items)
    for number, label in enumerate(labels, start=1):
        if not label:
            raise AskError(f"ask: choice {number} of 'choices' has an empty label")
    return labels


def parse_flag(value: Any) -> bool:
    """`allow_text`: true/false, yes/no, 1/0 (default false)."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "yes", "1"):
        return True
    if word in ("false", "no", "0"):
        return False
    raise AskError(f"ask: 'allow_text' must be true or false, not {value!r}")


def check_choices(choices: Sequence[str], allow_text: bool) -> list[str]:
    """Problems with a question's choices (empty: none)."""
    problems = []
    if not choices and not allow_text:
        problems.append("ask: no 'choices' and allow_text is false: the client could not answer")
    if len(choices) > MAX_CHOICES:
        problems.append(f"ask: {len(choices)} choices, at most {MAX_CHOICES} fit under a question")
    for label in choices:
        if len(label) > MAX_LABEL:
            problems.append(f"ask: choice {label[:20]!r}… is {len(label)} characters, at most {MAX_LABEL}")
    if len(set(choices)) < len(choices):
        problems.append("ask: two choices have the same label")
    return problems


def question(args: dict[str, Any]) -> Question:
    """The block's rendered inputs as a question, or AskError naming what is wrong."""
    text = args.get("text")
    if text is None or str(text).strip() == "":
        raise AskError("ask: the block needs a non-empty 'text' input")
    if len(str(text)) > MAX_QUESTION:
        raise AskError(f"ask: 'text' is {len(str(text))} characters, at most {MAX_QUESTION}")
    choices = parse_choices(args.get("choices"))
    allow_text = parse_flag(args.get("allow_text"))
    problems = check_choices(choices, allow_text)
    if problems:
        raise AskError("; ".join(problems))
    return Question(text=str(text), choices=choices, allow_text=allow_text)


def static_problems(inputs: dict[str, str]) -> list[str]:
    """What `check-config` can tell from an ask task's inputs as written (expressions are checked when run)."""
    computed = [name for name in ("choices", "allow_text") if _computed(inputs.get(name))]
    if computed:
        return []
    text = inputs.get("text")
    problems = [] if text and text.strip() else ["ask: the block needs a non-empty 'text' input"]
    if text and len(text) > MAX_QUESTION and not _computed(text):
        problems.append(f"ask: 'text' is {len(text)} characters, at most {MAX_QUESTION}")
    try:
        choices = parse_choices(inputs.get("choices"))
        allow_text = parse_flag(inputs.get("allow_text"))
    except AskError as err:
        return [*problems, str(err)]
    return problems + check_choices(choices, allow_text)


def _computed(text: str | None) -> bool:
    """A value known only when the block runs: an expression, JUEL or a template with variables."""
    return text is not None and (text.startswith("=") or "{" in text)


def answered_text(record: AskRecord, answer: str) -> str:
    """The question as the client sees it once answered (its buttons gone)."""
    return f"{record.text}\n\n✔ {answer}"
