"""What the Modeler always writes is accepted and ignored; implicit splits and conditional flows out of a task run as
Camunda runs them; the §11 check-config rules name the element and say what to do instead."""

from __future__ import annotations

from pathlib import Path

from core.blocks import BLOCKS
from core.bpmn.catalog import load_catalog
from core.bpmn.engine import WorkflowRun

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">\n'
)

EXTRAS = (
    HEAD
    + """<bpmn:collaboration id="c">
  <bpmn:participant id="pool" name="Refunds desk" processRef="refund" />
  <bpmn:participant id="partner" name="Bank" processRef="bank" />
  <bpmn:messageFlow id="mf" sourceRef="t" targetRef="partner" />
  <bpmn:group id="g" categoryValueRef="cv" />
</bpmn:collaboration>
<bpmn:category id="cat"><bpmn:categoryValue id="cv" value="Money" /></bpmn:category>
<bpmn:dataStore id="ds" name="Ledger" />
<bpmn:process id="refund" isExecutable="true">
  <bpmn:documentation>Refunds as the desk does them</bpmn:documentation>
  <bpmn:extensionElements><camunda:properties><camunda:property name="a" value="b" /></camunda:properties>
  </bpmn:extensionElements>
  <bpmn:laneSet id="ls"><bpmn:lane id="l1" name="Desk"><bpmn:flowNodeRef>s</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
  <bpmn:dataObject id="do" />
  <bpmn:dataObjectReference id="dor" name="Receipt" dataObjectRef="do" />
  <bpmn:dataStoreReference id="dsr" name="Ledger" dataStoreRef="ds" />
  <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
  <bpmn:scriptTask id="t" name="Count" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming>
    <bpmn:outgoing>f2</bpmn:outgoing>
    <bpmn:dataInputAssociation id="dia"><bpmn:sourceRef>dor</bpmn:sourceRef><bpmn:targetRef>t</bpmn:targetRef>
    </bpmn:dataInputAssociation>
    <bpmn:dataOutputAssociation id="doa"><bpmn:targetRef>dsr</bpmn:targetRef></bpmn:dataOutputAssociation>
    <bpmn:script>counted = 1</bpmn:script></bpmn:scriptTask>
  <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />
  <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e" />
  <bpmn:textAnnotation id="ta"><bpmn:text>Ask the bank first</bpmn:text></bpmn:textAnnotation>
  <bpmn:association id="as" sourceRef="t" targetRef="ta" />
</bpmn:process>
<bpmn:process id="bank" isExecutable="false"><bpmn:task id="x" /></bpmn:process>
</bpmn:definitions>
"""
)


def split(conditions: dict[str, str], start: str) -> str:
    """A script task with three outgoing flows to scripts a, b, c (flow conditions as given) and an end each."""
    flows, nodes = [], []
    for branch in "abc":
        condition = conditions.get(branch)
        body = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
        flows.append(
            f'<bpmn:sequenceFlow id="to_{branch}" sourceRef="t" targetRef="{branch}">{body}</bpmn:sequenceFlow>'
        )
        nodes.append(
            f'<bpmn:scriptTask id="{branch}" scriptFormat="python"><bpmn:script>{branch} = 1</bpmn:script>'
            f'</bpmn:scriptTask><bpmn:endEvent id="end_{branch}" />'
            f'<bpmn:sequenceFlow id="{branch}_end" sourceRef="{branch}" targetRef="end_{branch}" />'
        )
    return (
        HEAD + '<bpmn:process id="p" name="Split" isExecutable="true"><bpmn:startEvent id="s" />'
        f'<bpmn:scriptTask id="t" scriptFormat="python"><bpmn:script>{start}</bpmn:script></bpmn:scriptTask>'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />'
        + "".join(flows)
        + "".join(nodes)
        + "</bpmn:process>"
        "</bpmn:definitions>\n"
    )


def run_to_end(tmp_path: Path, text: str, pid: str) -> dict[str, object]:
    (tmp_path / "m.bpmn").write_text(text)
    catalog = load_catalog(tmp_path, BLOCKS)
    assert catalog.problems == []
    entry = catalog.get(pid)
    assert entry is not None
    run = WorkflowRun.new(entry, {})
    run.advance()
    assert run.completed
    return run.variables()


def test_modeler_extras_are_accepted_and_a_nameless_process_takes_its_pool_name(tmp_path: Path) -> None:
    variables = run_to_end(tmp_path, EXTRAS, "refund")
    assert variables["counted"] == 1
    catalog = load_catalog(tmp_path, BLOCKS)
    assert [(p.id, p.name) for p in catalog] == [("refund", "Refunds desk")]


def test_two_flows_without_conditions_out_of_a_task_split_in_parallel(tmp_path: Path) -> None:
    variables = run_to_end(tmp_path, split({}, "n = 1"), "p")
    assert {k: variables.get(k) for k in "abc"} == {"a": 1, "b": 1, "c": 1}


def test_conditional_flows_out_of_a_task_are_taken_when_true_unconditional_ones_always(tmp_path: Path) -> None:
    for start, taken in (("n = 5", {"a", "c"}), ("n = 50", {"b", "c"})):
        folder = tmp_path / start.replace(" ", "")
        folder.mkdir()
        (folder / "m.bpmn").write_text(split({"a": "n &lt; 10", "b": "n &gt; 10"}, start))
        catalog = load_catalog(folder, BLOCKS)
        entry = catalog.get("p")
        assert entry is not None
        run = WorkflowRun.new(entry, {})
        run.advance()
        assert run.completed
        done = {t.task_spec.bpmn_id for t in run.workflow.get_tasks() if t.task_spec.bpmn_id in {"a", "b", "c"}}
        ran = {t for t in done if any(x.task_spec.bpmn_id == t and x.has_state(64) for x in run.workflow.get_tasks())}
        assert ran == taken, start


def process(body: str, messages: str = "") -> str:
    return (
        HEAD + messages + '<bpmn:process id="p" name="P" isExecutable="true">' + body + "</bpmn:process>"
        "</bpmn:definitions>\n"
    )


def test_start_events_signal_refused_message_starts_noted(tmp_path: Path) -> None:
    messages = '<bpmn:message id="m1" name="session.created" /><bpmn:message id="m2" name="order.paid" />'
    signal = '<bpmn:startEvent id="sig" name="Alarm"><bpmn:signalEventDefinition /></bpmn:startEvent>'
    (tmp_path / "a.bpmn").write_text(process(signal))
    auto = '<bpmn:startEvent id="auto"><bpmn:messageEventDefinition messageRef="m1" /></bpmn:startEvent>'
    rest = '<bpmn:startEvent id="rest" name="Paid"><bpmn:messageEventDefinition messageRef="m2" /></bpmn:startEvent>'
    # one start event per process (core/bpmn/starts.py): the two message starts in processes of their own
    (tmp_path / "b.bpmn").write_text(process(auto, messages).replace('id="p"', 'id="q"'))
    (tmp_path / "c.bpmn").write_text(process(rest, messages).replace('id="p"', 'id="r"'))
    catalog = load_catalog(tmp_path, BLOCKS)
    [problem] = catalog.problems
    assert (problem.element, problem.name, problem.line) == ("sig", "Alarm", 3)
    assert "signal start event: use a none start, a timer start or a message start (§12)" in str(problem)
    assert [str(n).split(" ", 1)[1] for n in catalog.notes] == [
        "[q] process q: message start 'session.created': auto-started on session.created on every line",
        "[rest] \"Paid\" message start 'order.paid': started through REST (§12)",
    ]


def test_section_11_refusals_name_the_element_and_the_way_out(tmp_path: Path) -> None:
    body = (
        '<bpmn:serviceTask id="j" name="Charge" camunda:delegateExpression="${charger}" />'
        '<bpmn:scriptTask id="g" name="Sum" scriptFormat="groovy"><bpmn:script>1</bpmn:script></bpmn:scriptTask>'
        '<bpmn:userTask id="u" name="Check" camunda:formKey="embedded:app:forms/check.html" />'
        '<bpmn:userTask id="ok" name="Nothing to fill in" />'
        '<bpmn:userTask id="cf" name="Camunda Form" camunda:formKey="camunda-forms:app:check.form" />'
        '<bpmn:serviceTask id="w" name="Ship" camunda:type="external" camunda:topic="shipping" />'
    )
    (tmp_path / "a.bpmn").write_text(process(body))
    catalog = load_catalog(tmp_path, BLOCKS)
    assert [(p.element, p.name, p.message) for p in catalog.problems] == [
        (
            "j",
            "Charge",
            "service task with camunda:delegateExpression: Java has no place here: use an external topic "
            '(camunda:type="external", §12) or a linedesk.* block',
        ),
        ("g", "Sum", "script in groovy: rewrite it in Python or as an external task (§12)"),
        (
            "u",
            "Check",
            "camunda:formKey 'embedded:app:forms/check.html' is an embedded, app or external form: linedesk cannot "
            "show it: use generated fields (formData) or a Camunda Form (.form)",
        ),
        (
            "cf",
            "Camunda Form",
            "camunda:formKey 'camunda-forms:app:check.form': no file 'check.form' in the process folder",
        ),
    ]
    assert all(p.line == 3 for p in catalog.problems)


def test_external_topics_are_listed_as_served_by_workers(tmp_path: Path) -> None:
    body = (
        '<bpmn:startEvent id="s" /><bpmn:serviceTask id="w" name="Ship" camunda:type="external" '
        'camunda:topic="shipping" /><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="w" />'
    )
    (tmp_path / "a.bpmn").write_text(process(body))
    catalog = load_catalog(tmp_path, BLOCKS)
    assert catalog.problems == []
    assert [n.message for n in catalog.notes] == ["served by external workers: topic shipping"]
    entry = catalog.get("p")
    assert entry is not None
    run = WorkflowRun.new(entry, {})
    run.advance()
    assert not run.completed and run.ready_blocks() == [] and run.worker_topics() == [("w", "shipping")]


def test_flows_and_gateways_that_lead_nowhere_are_named(tmp_path: Path) -> None:
    body = (
        '<bpmn:startEvent id="s" /><bpmn:exclusiveGateway id="g" name="Which?" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="s" targetRef="gone" />'
    )
    (tmp_path / "a.bpmn").write_text(process(body))
    catalog = load_catalog(tmp_path, BLOCKS)
    assert [(p.element, p.name, p.message) for p in catalog.problems] == [
        ("f2", None, "sequence flow to no element of this process (targetRef='gone'): connect it again"),
        ("g", "Which?", "gateway without an outgoing flow: connect it to the next step or an end event"),
    ]


def test_what_spiffworkflow_refuses_is_reported_whole_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "a.bpmn").write_text(process('<bpmn:task id="t" name="Lonely" />'))
    [problem] = load_catalog(tmp_path, BLOCKS).problems
    assert (problem.line, problem.element) == (3, "p")
    assert problem.message == (
        "No start event found; linedesk cannot run this model as drawn: change the element in the Modeler"
    )
