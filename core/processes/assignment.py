"""Who does a user task (SPEC §11): `camunda:assignee`, `camunda:candidateUsers`, `camunda:candidateGroups`.

An operator's groups are its `groups = [...]` and the ids of the lines it works. A name linedesk does not
know never leaves a task stuck: the task goes to the session's assignee, else to any operator of the line,
with the reason on its card. `check-config` names such literal names beforehand (`people_notes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from core.bpmn import juel
from core.bpmn.catalog import Catalog
from core.bpmn.checks import CatalogProblem
from core.bpmn.engine import UserTaskView
from core.config import Config, OperatorConfig
from core.model import InstanceRecord, Session

AUTOMATION = "automation"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
PEOPLE = ("assignee", "candidateUsers", "candidateGroups")


@dataclass(frozen=True)
class Decision:
    """Whom a task went to: one operator (`assignee`), or any of `candidates` (none: anyone of the line)."""

    assignee: str | None
    candidates: tuple[str, ...] = ()
    note: str | None = None


def groups_of(operator: OperatorConfig, config: Config) -> set[str]:
    lines = [line.id for line in config.lines] if "*" in operator.lines else operator.lines
    return {*operator.groups, *lines}


def known_groups(config: Config) -> set[str]:
    return {group for operator in config.operators for group in groups_of(operator, config)}


def decide(task: UserTaskView, record: InstanceRecord, session: Session | None, config: Config) -> Decision:
    """The task's assignee or candidates as the model names them, resolved against the config."""
    if task.assignee and task.assignee != AUTOMATION:
        operator = config.operator(task.assignee)
        if operator is None:
            return _fallback(f"{task.assignee!r} is not an operator here", session, config)
        if record.line_id is not None and not operator.serves(record.line_id):
            return _fallback(f"{operator.name} does not work line {record.line_id!r}", session, config)
        return Decision(operator.id)
    if task.candidate_users or task.candidate_groups:
        found = _candidates(task.candidate_users, task.candidate_groups, record.line_id, config)
        if found:
            return Decision(None, found)
        named = [*(repr(u) for u in task.candidate_users), *(f"group {g!r}" for g in task.candidate_groups)]
        return _fallback(f"nobody of this line is {' or '.join(named)}", session, config)
    if record.started_by != AUTOMATION:
        return Decision(record.started_by)
    return Decision(session.assignee if session else None)


def _candidates(users: Sequence[str], groups: Sequence[str], line_id: str | None, config: Config) -> tuple[str, ...]:
    wanted = set(groups)
    return tuple(
        operator.id
        for operator in config.operators
        if (line_id is None or operator.serves(line_id))
        and (operator.id in users or wanted & groups_of(operator, config))
    )


def _fallback(reason: str, session: Session | None, config: Config) -> Decision:
    owner = config.operator(session.assignee) if session and session.assignee else None
    if owner is not None:
        return Decision(owner.id, note=f"assigned to {owner.name}: {reason}")
    return Decision(None, note=f"for any operator of the line: {reason}")


def names(operator_ids: Iterable[str], lookup: Callable[[str], OperatorConfig | None]) -> list[str]:
    """The operators' names (an id nobody has stays as it is)."""
    return [(op.name if (op := lookup(i)) else i) for i in operator_ids]


def people_notes(catalog: Catalog, config: Config) -> list[CatalogProblem]:
    """`check-config` warnings: literal assignees and candidates that name nobody linedesk knows."""
    groups = known_groups(config)
    notes: list[CatalogProblem] = []
    for file in sorted({entry.file for entry in catalog}):
        notes.extend(_file_notes(file, config, groups))
    return notes


def _file_notes(file: Path, config: Config, groups: set[str]) -> list[CatalogProblem]:
    try:
        tree = etree.parse(str(file))
    except (OSError, etree.XMLSyntaxError):
        return []
    notes = []
    for element in tree.iter():
        if not isinstance(element.tag, str) or etree.QName(element).localname != "userTask":
            continue
        for attribute in PEOPLE:
            text = element.get(f"{{{CAMUNDA_NS}}}{attribute}") or ""
            if not text.strip() or juel.is_juel(text):
                continue
            unknown = [
                n for n in (p.strip() for p in text.split(",")) if n and not _known(attribute, n, config, groups)
            ]
            if unknown:
                what = "group" if attribute == "candidateGroups" else "operator"
                is_none = f"is no {what}" if len(unknown) == 1 else f"are no {what}s"
                message = (
                    f"camunda:{attribute}: {', '.join(map(repr, unknown))} {is_none} in the config: at run time "
                    "the task goes to the session's assignee, else to any operator of the line"
                )
                name = " ".join((element.get("name") or "").split()) or None
                notes.append(CatalogProblem(str(file), element.sourceline, element.get("id"), message, name))
    return notes


def _known(attribute: str, name: str, config: Config, groups: set[str]) -> bool:
    return name in groups if attribute == "candidateGroups" else config.operator(name) is not None
