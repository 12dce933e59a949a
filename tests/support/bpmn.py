"""A tiny builder of Camunda-style BPMN files for tests: a linear flow of steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">\n'
    '  <bpmn:message id="Message_client" name="client_message" />\n'
)


@dataclass
class Step:
    xml: str  # with {id}, {incoming}, {outgoing} placeholders


def block(topic: str, result: str | None = None, **inputs: str) -> Step:
    params = "".join(
        f'<camunda:inputParameter name="{k}">{escape(v)}</camunda:inputParameter>' for k, v in inputs.items()
    )
    result_attr = f' camunda:resultVariable="{result}"' if result else ""
    return Step(
        f'<bpmn:serviceTask id="{{id}}" name="{topic}" camunda:type="external" camunda:topic="{topic}"'
        f"{result_attr}><bpmn:extensionElements><camunda:inputOutput>{params}</camunda:inputOutput>"
        "</bpmn:extensionElements>{incoming}{outgoing}</bpmn:serviceTask>"
    )


def script(code: str) -> Step:
    return Step(
        '<bpmn:scriptTask id="{id}" name="Script" scriptFormat="python">{incoming}{outgoing}'
        f"<bpmn:script>{escape(code)}</bpmn:script></bpmn:scriptTask>"
    )


def field(
    fid: str,
    ftype: str,
    label: str | None = None,
    *,
    required: bool = False,
    default: str | None = None,
    options: dict[str, str] | None = None,
    constraints: dict[str, str | None] | None = None,
) -> str:
    """A `camunda:formField`; `constraints` are more `camunda:constraint`s by name (config None: none)."""
    default_attr = f" defaultValue={quoteattr(default)}" if default is not None else ""
    inner = "".join(f'<camunda:value id="{k}" name="{v}" />' for k, v in (options or {}).items())
    checks = {**({"required": None} if required else {}), **(constraints or {})}
    if checks:
        inner += (
            "<camunda:validation>"
            + "".join(
                f"<camunda:constraint name={quoteattr(name)}"
                + (f" config={quoteattr(config)}" if config is not None else "")
                + " />"
                for name, config in checks.items()
            )
            + "</camunda:validation>"
        )
    return (
        f'<camunda:formField id="{fid}" label={quoteattr(label or fid)} type="{ftype}"{default_attr}>'
        f"{inner}</camunda:formField>"
    )


def _form_attrs(form_ref: str | None, form_key: str | None) -> str:
    attrs = f' camunda:formRef={quoteattr(form_ref)} camunda:formRefBinding="latest"' if form_ref else ""
    return attrs + (f" camunda:formKey={quoteattr(form_key)}" if form_key else "")


def _form_data(fields: tuple[str, ...]) -> str:
    return f"<bpmn:extensionElements><camunda:formData>{''.join(fields)}</camunda:formData></bpmn:extensionElements>"


def user_task(
    name: str,
    *fields: str,
    assignee: str | None = None,
    form_ref: str | None = None,
    form_key: str | None = None,
    candidate_users: str | None = None,
    candidate_groups: str | None = None,
) -> Step:
    assignee_attr = f" camunda:assignee={quoteattr(assignee)}" if assignee else ""
    if candidate_users:
        assignee_attr += f" camunda:candidateUsers={quoteattr(candidate_users)}"
    if candidate_groups:
        assignee_attr += f" camunda:candidateGroups={quoteattr(candidate_groups)}"
    form = _form_data(fields) if fields or not (form_ref or form_key) else ""
    return Step(
        f'<bpmn:userTask id="{{id}}" name={quoteattr(name)}{assignee_attr}{_form_attrs(form_ref, form_key)}>'
        f"{form}{{incoming}}{{outgoing}}</bpmn:userTask>"
    )


def start(
    *fields: str,
    name: str | None = None,
    initiator: str | None = None,
    form_ref: str | None = None,
    form_key: str | None = None,
) -> str:
    """The process's (none) start event: with a start form (formData fields or a Camunda Form), an initiator."""
    attrs = (f" name={quoteattr(name)}" if name else "") + (
        f" camunda:initiator={quoteattr(initiator)}" if initiator else ""
    )
    form = _form_data(fields) if fields else ""
    return (
        f'<bpmn:startEvent id="start"{attrs}{_form_attrs(form_ref, form_key)}>{form}'
        "<bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>"
    )


def wait_client() -> Step:
    return Step(
        '<bpmn:intermediateCatchEvent id="{id}" name="Client answers">{incoming}{outgoing}'
        '<bpmn:messageEventDefinition messageRef="Message_client" /></bpmn:intermediateCatchEvent>'
    )


def timer(duration: str | None = None, date: str | None = None) -> Step:
    body = (
        f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{duration}</bpmn:timeDuration>'
        if duration
        else f'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">{date}</bpmn:timeDate>'
    )
    return Step(
        '<bpmn:intermediateCatchEvent id="{id}" name="Timer">{incoming}{outgoing}'
        f"<bpmn:timerEventDefinition>{body}</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )


def process(pid: str, name: str, *steps: Step, start_event: str | None = None) -> str:
    parts = [
        f'  <bpmn:process id="{pid}" name={quoteattr(name)} isExecutable="true">',
        "    " + (start_event or start()),
    ]
    for index, step in enumerate(steps):
        xml = (
            step.xml.replace("{id}", f"step{index + 1}")
            .replace("{incoming}", f"<bpmn:incoming>f{index}</bpmn:incoming>")
            .replace("{outgoing}", f"<bpmn:outgoing>f{index + 1}</bpmn:outgoing>")
        )
        parts.append("    " + xml)
    last = len(steps)
    parts.append(f'    <bpmn:endEvent id="end"><bpmn:incoming>f{last}</bpmn:incoming></bpmn:endEvent>')
    nodes = ["start", *[f"step{i + 1}" for i in range(last)], "end"]
    for index in range(last + 1):
        source, target = nodes[index], nodes[index + 1]
        parts.append(f'    <bpmn:sequenceFlow id="f{index}" sourceRef="{source}" targetRef="{target}" />')
    parts.append("  </bpmn:process>")
    return HEAD + "\n".join(parts) + "\n</bpmn:definitions>\n"


def write_process(
    folder: Path, relative: str, pid: str, name: str, *steps: Step, start_event: str | None = None
) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(process(pid, name, *steps, start_event=start_event))
    return path
