"""The architecture document: complete (every layer, component, service, topic, flow and procedure),
deterministic, and committed exactly as `egov arch docs` generates it."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from egov.platform.province import get_province
from egov.tools.architecture import docs
from egov.tools.architecture.docs import DOCUMENT_PATH, format_fee, mermaid_id, render
from egov.tools.architecture.model import get_model
from services import SERVICES, all_topics

REGENERATE = "run `egov arch docs`"


@pytest.fixture(scope="module")
def document() -> str:
    return render()


def _mermaid_blocks(document: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", document, flags=re.DOTALL)


def test_the_committed_document_is_up_to_date(document: str) -> None:
    assert DOCUMENT_PATH.exists(), f"{DOCUMENT_PATH} is missing: {REGENERATE}"
    committed = DOCUMENT_PATH.read_text(encoding="utf-8")
    diff = difflib.unified_diff(
        committed.splitlines(), document.splitlines(), "committed", "generated", n=1, lineterm=""
    )
    up_to_date = committed == document
    assert up_to_date, f"architecture/README.md is stale: {REGENERATE}\n" + "\n".join(list(diff)[:40])


def test_rendering_is_deterministic(document: str) -> None:
    assert render() == document


def test_every_layer_appears_with_both_names_and_every_component(document: str) -> None:
    layered = _mermaid_blocks(document)[0]
    assert layered.startswith("flowchart TB")
    model = get_model()
    for layer in model.layers:
        assert f'subgraph {mermaid_id("layer", layer.id)}["{layer.name} — {layer.name_en}"]' in layered
        for c in layer.components:
            assert f"{mermaid_id('component', c.id)}[" in layered
            assert f":::{mermaid_id('s', c.status)}" in layered
            assert f"| {c.name} ({c.name_en}) | {c.status} |" in document.replace("\\|", "|")
    for status in ("implemented", "planned", "external", "out-of-scope"):
        assert f"classDef {mermaid_id('s', status)} " in layered


def test_every_service_appears_with_its_wiring(document: str) -> None:
    for name, entry in SERVICES.items():
        assert f"| `{name}` | {entry.port} |" in document
        assert f"service_{name}(" in _mermaid_blocks(document)[1], f"{name} is not in the container view"


def test_every_topic_of_the_registry_and_the_model_appears(document: str) -> None:
    container = _mermaid_blocks(document)[1]
    for spec in all_topics():
        assert f"| `{spec.name}` | {spec.owner} |" in document
    for topic in get_model().topics:
        node = mermaid_id("topic", topic.name)
        assert f"{node}[(" in container
        assert f"{mermaid_id('service', topic.owner)} --> {node}" in container
        for reader in topic.readers:
            assert f"{node} --> {mermaid_id('service', reader)}" in container


def test_every_flow_has_a_sequence_diagram_with_an_arrow_per_step(document: str) -> None:
    flows = get_model().flows
    sequences = [b for b in _mermaid_blocks(document) if b.startswith("sequenceDiagram")]
    assert len(sequences) == len(flows)
    for flow, diagram in zip(flows, sequences, strict=True):
        assert f"### {flow.name} — {flow.name_en}" in document
        assert f"Flow `{flow.id}`, status **{flow.status}**" in document
        if flow.covered_by:
            assert f"`{flow.covered_by}`" in document
        for step in flow.steps:
            for to in step.to:
                arrow = f"{mermaid_id('service', step.from_)}->>{mermaid_id('service', to)}: "
                assert arrow + step.event.rsplit(".", 1)[-1] in diagram
            if step.topic:
                assert f" on {step.topic}" in diagram


def test_every_procedure_appears_with_its_fee_and_the_unverified_note(document: str) -> None:
    province = get_province(get_model().province)
    for proc in province.procedures:
        assert f"| `{proc.code}` | {proc.name} |" in document
        assert f"| {format_fee(proc.fee_vnd)} | {'yes' if proc.verified else 'no'} |" in document
    assert f"level-1 agency code {province.level1_agency_code} is unverified" in document
    assert "illustrative" in document


def test_fees_ids_and_cells_are_formatted_for_their_reader() -> None:
    assert format_fee(135000) == "135.000 ₫"
    assert format_fee(1200000) == "1.200.000 ₫"
    assert format_fee(0) == "miễn phí"
    assert mermaid_id("topic", "egov.portal.dead-letters.v1") == "topic_egov_portal_dead_letters_v1"
    assert docs._cell("a | b\nc") == "a \\| b c"


def test_the_command_writes_the_document_and_checks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    target = tmp_path / "README.md"
    monkeypatch.setattr(docs, "DOCUMENT_PATH", target)
    monkeypatch.setattr(docs.legal, "LEGAL_BASIS_PATH", tmp_path / "legal-basis.md")
    runner = CliRunner()

    missing = runner.invoke(docs.arch_docs_command, ["--check"])
    assert missing.exit_code == 1 and "missing" in missing.output

    written = runner.invoke(docs.arch_docs_command, [])
    assert written.exit_code == 0 and "wrote" in written.output, written.output
    assert target.read_text(encoding="utf-8") == document
    assert runner.invoke(docs.arch_docs_command, ["--check"]).exit_code == 0

    target.write_text(document.replace("Layered view", "Layer view", 1), encoding="utf-8")
    stale = runner.invoke(docs.arch_docs_command, ["--check"])
    assert stale.exit_code == 1
    assert "README.md is stale: run `egov arch docs`" in stale.output
