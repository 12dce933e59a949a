"""A Modeler file made ready for SpiffWorkflow, before it is parsed (SPEC §11).

- Sequence flows without an id (BPMN allows it) get one.
- Tolerated elements that Spiff would try to run (annotations, associations, groups, data
  objects and stores with their associations, extension properties) are removed.
- A task or event with no outgoing flow ends its path there (an end event is added behind it).
- A task or intermediate event with several outgoing flows gets an explicit gateway behind it,
  as Camunda runs it: without conditions a parallel split; with conditions an inclusive split in
  which every flow whose condition is true is taken, unconditional flows always, and the task's
  default flow when no condition is true.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from core.bpmn.checks import BPMN_NS, IGNORED_WHEN_PARSING

_B = "{" + BPMN_NS + "}"
_SPLITS_ON_THEIR_OWN = frozenset(
    {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway", "startEvent"}
)
_ENDS_WITHOUT_FLOW = frozenset(
    {
        "startEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "task",
        "userTask",
        "serviceTask",
        "scriptTask",
        "manualTask",
        "subProcess",
    }
)
"""Flow nodes that end their path when nothing leaves them (Camunda's implicit end)."""
ALWAYS = "True"
"""The condition given to an unconditional flow of a conditional split (Python: the engine's language)."""


def normalize(root: Any) -> None:
    for store in list(root.iter(_B + "dataStore")):
        parent = store.getparent()
        if parent is not None:
            parent.remove(store)
    for process in list(root.iter(_B + "process")):
        _strip_tolerated(process)
        _name_flows(process)
        for container in [process, *process.iter(_B + "subProcess")]:
            _add_implicit_splits(container)


def _strip_tolerated(process: Any) -> None:
    doomed = [
        element
        for element in process.iter()
        if isinstance(element.tag, str)
        and element.tag.startswith(_B)
        and etree.QName(element).localname in IGNORED_WHEN_PARSING
    ]
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)


def _name_flows(process: Any) -> None:
    """Camunda accepts sequence flows without an id (BPMN makes it optional); SpiffWorkflow needs one."""
    for index, flow in enumerate(process.iter(_B + "sequenceFlow")):
        if not flow.get("id"):
            flow.set("id", f"flow__{flow.get('sourceRef')}__{flow.get('targetRef')}__{index}")


def _add_implicit_splits(container: Any) -> None:
    flows: dict[str, list[Any]] = {}
    for flow in container.findall(_B + "sequenceFlow"):
        flows.setdefault(flow.get("sourceRef") or "", []).append(flow)
    for node in list(container):
        if not isinstance(node.tag, str) or not node.tag.startswith(_B):
            continue
        local = etree.QName(node).localname
        outgoing = flows.get(node.get("id") or "", [])
        if len(outgoing) > 1 and local not in _SPLITS_ON_THEIR_OWN and local != "sequenceFlow":
            _split_after(container, node, outgoing)
        elif not outgoing and local in _ENDS_WITHOUT_FLOW:
            _end_after(container, node)


def _end_after(container: Any, node: Any) -> None:
    node_id = node.get("id")
    end = etree.SubElement(container, _B + "endEvent")
    end.set("id", f"{node_id}__end")
    link = etree.SubElement(container, _B + "sequenceFlow")
    link.set("id", f"{node_id}__to_end")
    link.set("sourceRef", node_id)
    link.set("targetRef", end.get("id"))
    etree.SubElement(end, _B + "incoming").text = link.get("id")
    etree.SubElement(node, _B + "outgoing").text = link.get("id")


def _split_after(container: Any, node: Any, outgoing: list[Any]) -> None:
    node_id = node.get("id")
    conditional = any(flow.find(_B + "conditionExpression") is not None for flow in outgoing)
    gateway = etree.SubElement(container, _B + ("inclusiveGateway" if conditional else "parallelGateway"))
    gateway.set("id", f"{node_id}__split")
    link = etree.SubElement(container, _B + "sequenceFlow")
    link.set("id", f"{node_id}__to_split")
    link.set("sourceRef", node_id)
    link.set("targetRef", gateway.get("id"))
    default = node.attrib.pop("default", None)
    if default:
        gateway.set("default", default)
    etree.SubElement(gateway, _B + "incoming").text = link.get("id")
    for child in node.findall(_B + "outgoing"):
        node.remove(child)
    etree.SubElement(node, _B + "outgoing").text = link.get("id")
    for flow in outgoing:
        flow.set("sourceRef", gateway.get("id"))
        etree.SubElement(gateway, _B + "outgoing").text = flow.get("id")
        if conditional and flow.get("id") != default and flow.find(_B + "conditionExpression") is None:
            condition = etree.SubElement(flow, _B + "conditionExpression")
            condition.text = ALWAYS
