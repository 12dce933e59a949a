"""Business rule tasks on DMN 1.3 decision tables (SPEC §11 "Flow").

Every `.dmn` file under the catalog folder is read (each `dmn:decision` in it, as Camunda Modeler saves
them); a business rule task names one by `camunda:decisionRef`. SpiffWorkflow parses the table; linedesk
evaluates it with FEEL unary tests (core/bpmn/feel.py) and stores the result as Camunda does:
`camunda:resultVariable` receives it shaped by `camunda:mapDecisionResult` (`resultList` by default,
`singleEntry`, `singleResult`, `collectEntries`); without a result variable nothing is stored.
Hit policies: UNIQUE, FIRST, ANY, RULE ORDER, COLLECT (without aggregation).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, BusinessRuleTaskParser
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.task import Task

from core.bpmn.feel import FeelError, expression, unary_test

DMN_NAMESPACES = ("https://www.omg.org/spec/DMN/20191111/MODEL/", "http://www.omg.org/spec/DMN/20180521/MODEL/")
HIT_POLICIES = frozenset({"UNIQUE", "FIRST", "ANY", "RULE ORDER", "COLLECT"})
MAPPINGS = frozenset({"resultList", "singleEntry", "singleResult", "collectEntries"})
_CAMUNDA = "{" + CAMUNDA_MODEL_NS + "}"


@dataclass
class DecisionIndex:
    """Every decision of the catalog folder's `.dmn` files, by id, and what is wrong with them."""

    decisions: dict[str, tuple[Path, Any]] = field(default_factory=dict)
    problems: list[tuple[str, int | None, str | None, str]] = field(default_factory=list)

    @classmethod
    def scan(cls, root: Path) -> DecisionIndex:
        index = cls()
        for file in sorted(root.rglob("*.dmn")) if root.is_dir() else []:
            index._read(file)
        return index

    def _read(self, file: Path) -> None:
        try:
            tree = etree.parse(str(file))
        except etree.XMLSyntaxError as err:
            self.problems.append((str(file), err.lineno, None, f"not valid XML: {err.msg}"))
            return
        for ns in DMN_NAMESPACES:
            for decision in tree.getroot().iter(f"{{{ns}}}decision"):
                problem = _decision_problem(decision, ns)
                decision_id = decision.get("id") or ""
                if not problem and decision_id in self.decisions:
                    problem = f"duplicate decision id {decision_id!r} (also in {self.decisions[decision_id][0]})"
                if problem:
                    self.problems.append((str(file), decision.sourceline, decision_id, problem))
                    continue
                self.decisions[decision_id] = (file, decision)

    def add_to(self, parser: Any) -> None:
        """One DMN document per decision (Spiff reads one decision per document)."""
        for file, decision in self.decisions.values():
            root = decision.getroottree().getroot()
            single = etree.Element(root.tag, nsmap=root.nsmap, attrib=dict(root.attrib))
            single.append(copy.deepcopy(decision))
            parser.add_dmn_xml(single, filename=str(file))


def _decision_problem(decision: Any, ns: str) -> str | None:
    table = decision.find(f"{{{ns}}}decisionTable")
    if table is None:
        return "only decision tables are supported (not literal expressions or other decision logic)"
    if decision.find(f"{{{ns}}}informationRequirement") is not None:
        return "decisions that require other decisions are not supported: draw one table per decision"
    policy = (table.get("hitPolicy") or "UNIQUE").upper()
    if policy not in HIT_POLICIES:
        return f"hit policy {policy} is not supported (use {', '.join(sorted(HIT_POLICIES))})"
    if table.get("aggregation"):
        return "COLLECT with an aggregation is not supported: collect the list and sum it in a script"
    for entry in table.iter(f"{{{ns}}}inputEntry", f"{{{ns}}}inputExpression", f"{{{ns}}}outputEntry"):
        text = entry.findtext(f"{{{ns}}}text")
        try:
            if etree.QName(entry).localname == "inputEntry":
                unary_test(text)
            else:
                expression(text)
        except FeelError as err:
            return f"{etree.QName(entry).localname} {entry.get('id')}: {err}"
    return None


class DecisionTask(BusinessRuleTask):
    """A business rule task evaluated with FEEL unary tests; the result is stored as Camunda does."""

    def _run_hook(self, my_task: Task) -> bool:
        attrs = (getattr(self, "extensions", None) or {}).get("linedesk", {})
        try:
            rows = evaluate(self.dmnEngine.decision_table, my_task.data)
            variable = attrs.get("resultVariable")
            if variable:
                my_task.data[variable] = map_result(rows, attrs.get("mapDecisionResult") or "resultList")
        except (FeelError, ValueError) as err:
            error = WorkflowTaskException(str(err), task=my_task)
            error.add_note(f"Business rule task '{self.bpmn_name or self.bpmn_id}'.")
            raise error from err
        return True


def evaluate(table: Any, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The matched rules' outputs (output name → value), in rule order, as the hit policy allows."""
    values = [expression(entry.expression)(data) for entry in table.inputs]
    by_input = {entry.id: value for entry, value in zip(table.inputs, values, strict=True)}
    matched = []
    for rule in table.rules:
        if all(
            all(unary_test(lhs)(by_input[entry.input.id], data) for lhs in entry.lhs) for entry in rule.inputEntries
        ):
            matched.append({(o.output.name or o.output.label): expression(o.text)(data) for o in rule.outputEntries})
    policy = (table.hit_policy or "UNIQUE").upper()
    if policy == "UNIQUE" and len(matched) > 1:
        raise ValueError(f"decision {table.id}: hit policy UNIQUE but {len(matched)} rules match")
    if policy == "ANY" and any(row != matched[0] for row in matched):
        raise ValueError(f"decision {table.id}: hit policy ANY but the matching rules give different outputs")
    if policy in ("FIRST", "ANY"):
        return matched[:1]
    return matched


def map_result(rows: list[dict[str, Any]], mapping: str) -> Any:
    """`camunda:mapDecisionResult` as Camunda 7 defines it."""
    if mapping == "resultList":
        return rows
    if mapping == "collectEntries":
        if any(len(row) > 1 for row in rows):
            raise ValueError("collectEntries needs a decision with one output")
        return [next(iter(row.values())) for row in rows]
    if len(rows) > 1:
        raise ValueError(f"{mapping} needs at most one matching rule, {len(rows)} matched")
    if not rows:
        return None
    if mapping == "singleResult":
        return rows[0]
    if len(rows[0]) > 1:
        raise ValueError("singleEntry needs a decision with one output")
    return next(iter(rows[0].values()))


class DecisionTaskParser(BusinessRuleTaskParser):
    def create_task(self) -> DecisionTask:
        ref = self.get_decision_ref(self.node)
        engine = self.process_parser.parser.get_engine(ref, self.node)
        return DecisionTask(self.spec, self.bpmn_id, dmnEngine=engine, **self.bpmn_attributes)

    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions: dict[str, Any] = super().parse_extensions(node)
        attrs = {}
        for name in ("resultVariable", "mapDecisionResult", "decisionRef"):
            value = self.node.get(_CAMUNDA + name)
            if value is not None:
                attrs[name] = value
        extensions["linedesk"] = attrs
        return extensions


def decision_problem(element: Any, index: DecisionIndex) -> str | None:
    """What is wrong with a business rule task, for check-config."""
    ref = element.get(_CAMUNDA + "decisionRef")
    if not ref:
        return "business rule task without camunda:decisionRef (linedesk runs DMN decision tables only)"
    if ref not in index.decisions:
        known = ", ".join(sorted(index.decisions)) or "none"
        return f"no DMN decision {ref!r} in the catalog folder (decisions: {known})"
    mapping = element.get(_CAMUNDA + "mapDecisionResult")
    if mapping and mapping not in MAPPINGS:
        return f"camunda:mapDecisionResult {mapping!r} is not one of {', '.join(sorted(MAPPINGS))}"
    return None
