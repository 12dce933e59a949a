"""The catalog: scopes from folders, and every problem reported with file, line and element."""

from __future__ import annotations

from pathlib import Path

from core.blocks import BLOCKS
from core.bpmn.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">\n'
)


def process(pid: str, name: str, body: str = "") -> str:
    return (
        HEAD + f'<bpmn:process id="{pid}" name="{name}" isExecutable="true">\n'
        '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>\n'
        f"{body}\n"
        '<bpmn:endEvent id="e"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>\n'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e" />\n'
        "</bpmn:process></bpmn:definitions>\n"
    )


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_example_catalog_has_all_three_scopes() -> None:
    catalog = load_catalog(ROOT / "processes", BLOCKS)
    assert catalog.problems == []
    assert [(g.scope.kind, g.scope.title, [p.id for p in g.processes]) for g in catalog.grouped()] == [
        ("company", "Company", ["handle_request"]),
        ("section", "Sales", ["send_quote"]),
        ("app", "Sales · Leads", ["create_lead"]),
    ]


def test_scopes_are_ordered_and_names_kept_as_written(tmp_path: Path) -> None:
    write(tmp_path, "b.bpmn", process("b", "Zeta"))
    write(tmp_path, "a.bpmn", process("a", "alpha"))
    write(tmp_path, "Служба/x.bpmn", process("x", "Заявка"))
    write(tmp_path, "Служба/Лиды/y.bpmn", process("y", "Лид"))
    catalog = load_catalog(tmp_path, BLOCKS)
    assert catalog.problems == []
    groups = catalog.grouped()
    assert [g.scope.title for g in groups] == ["Company", "Служба", "Служба · Лиды"]
    assert [p.name for p in groups[0].processes] == ["alpha", "Zeta"]


def test_broken_files_are_reported_and_the_rest_still_loads(tmp_path: Path) -> None:
    write(tmp_path, "good.bpmn", process("good", "Good"))
    write(tmp_path, "broken.bpmn", HEAD + "<bpmn:process id='p'>\n  <oops>\n</bpmn:definitions>")
    write(tmp_path, "dup.bpmn", process("good", "Again"))
    write(tmp_path, "send.bpmn", process("send", "Send", '<bpmn:sendTask id="st" />'))
    mail = '<bpmn:serviceTask id="mail" camunda:type="external" camunda:topic="linedesk.mail"/>'
    write(tmp_path, "svc.bpmn", process("svc", "Svc", mail))
    write(tmp_path, "java.bpmn", process("java", "Java", '<bpmn:serviceTask id="jv" camunda:class="x.Y"/>'))
    write(tmp_path, "a/b/c/deep.bpmn", process("deep", "Deep"))
    catalog = load_catalog(tmp_path, BLOCKS)
    assert [p.id for p in catalog] == ["good"]
    text = "\n".join(str(p) for p in catalog.problems)
    assert "broken.bpmn:5: not valid XML: Opening and ending tag mismatch: oops line 4" in text
    assert "duplicate process id 'good'" in text
    assert "send.bpmn:5: [st] unsupported element bpmn:sendTask: use a service task" in text
    assert "[mail] unknown block 'linedesk.mail': use one of linedesk.ask, linedesk.close_session" in text
    assert "[jv] service task with camunda:class: Java has no place here: use an external topic" in text
    assert "too deep" in text
