"""The contract set: every event has docs and a golden example that round-trips through the wire format and
reads with a second Avro implementation; Python types come from the schemas only; the gate refuses breaks."""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path

import avro.io
import avro.schema
import pytest

from egov.contracts.serde import get_registry
from egov.contracts.validation import get_validator, known_rules, natural_json
from egov.paths import EXAMPLES_DIR, REPO_ROOT
from egov.tools.contracts.compat import check_against_released, check_all, released_versions
from services import all_topics

REG = get_registry()
VALIDATOR = get_validator()
EVENTS = sorted(c.name for c in REG.events())


def example(name: str) -> dict:
    return json.loads((EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8"))


def test_every_topic_has_contracts_and_every_event_a_golden_example() -> None:
    for topic in all_topics():
        assert topic.events, f"{topic.name} has no contract"
        for name in topic.events:
            assert REG.get(name).is_event, f"{topic.name}: {name}"
    assert sorted(p.stem for p in EXAMPLES_DIR.glob("*.json")) == EVENTS


@pytest.mark.parametrize("name", EVENTS)
def test_the_golden_example_round_trips_and_reads_with_the_avro_package(name: str) -> None:
    record, errors = VALIDATOR.from_json(name, example(name))
    assert errors == []
    data = REG.encode(name, record)
    contract, decoded = REG.decode(data)
    assert (contract.name, decoded) == (name, record)
    # And back to the very JSON of the example (dates, times, base64 bytes as written).
    assert natural_json(decoded) == example(name)
    # Avro binary body, read by an independent implementation with the standalone schema.
    reader = avro.io.DatumReader(avro.schema.parse(json.dumps(REG.standalone(name))))
    independent = reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert json.dumps(independent, default=str, sort_keys=True) == json.dumps(
        record, default=str, sort_keys=True
    )


def _every_schema_node(schema: object):  # type: ignore[no-untyped-def]
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from _every_schema_node(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _every_schema_node(value)


def test_every_type_and_field_is_documented_and_names_only_known_rules() -> None:
    for path in sorted((REPO_ROOT / "contracts" / "schemas").rglob("*.avsc")):
        for node in _every_schema_node(json.loads(path.read_text(encoding="utf-8"))):
            if node.get("type") in ("record", "enum") or ("name" in node and "type" in node):
                assert node.get("doc"), f"{path.name}: {node.get('name')} has no doc"
            if "x-rule" in node:
                assert node["x-rule"] in known_rules(), f"{path.name}: unknown rule {node['x-rule']}"
            for rule in node.get("x-rules", []):
                assert rule in known_rules(), f"{path.name}: unknown rule {rule}"


@pytest.mark.parametrize("name", [c.name for c in REG.contracts.values() if c.is_record])
def test_python_types_are_derived_from_the_schema(name: str) -> None:
    model = VALIDATOR.models.model(name)
    assert list(model.model_fields) == [f["name"] for f in REG.get(name).schema["fields"]]


def test_no_module_keeps_a_second_field_list_of_a_contract() -> None:
    """A class whose annotated fields include all of a contract record's fields is a hand-kept copy."""
    contract_fields = {
        c.name: {f["name"] for f in c.schema["fields"]}
        for c in REG.contracts.values()
        if c.is_record and len(c.schema["fields"]) >= 3
    }
    offenders = []
    for folder in ("egov", "services"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    names = {
                        s.target.id
                        for s in node.body
                        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                    }
                    offenders += [
                        f"{path.relative_to(REPO_ROOT)}:{node.name} copies {name}"
                        for name, fields in contract_fields.items()
                        if fields <= names
                    ]
    assert offenders == []


def test_every_contract_is_compatible_with_its_released_versions() -> None:
    assert all(released_versions(name) for name in EVENTS), "every event contract has been released"
    assert check_all() == []


def test_the_gate_names_the_field_of_a_breaking_change() -> None:
    broken = REG.standalone("vn.egov.dossier.DossierSubmitted")
    broken["fields"].append({"name": "priority", "type": "int", "doc": "a new field without a default"})
    problems = check_against_released("vn.egov.dossier.DossierSubmitted", broken)
    assert problems
    assert any("'priority'" in p.message and "without a default" in p.message for p in problems)


def test_the_gate_names_a_changed_type() -> None:
    broken = REG.standalone("vn.egov.dossier.FeeSettled")
    for field in broken["fields"]:
        if field["name"] == "paid_online":
            field["type"] = "string"
    problems = check_against_released("vn.egov.dossier.FeeSettled", broken)
    assert any("string" in p.message and "boolean" in p.message for p in problems)


def test_a_compatible_change_passes_the_gate() -> None:
    evolved = REG.standalone("vn.egov.dossier.FeeSettled")
    evolved["fields"].append(
        {"name": "receipt_no", "type": ["null", "string"], "default": None, "doc": "new"}
    )
    assert check_against_released("vn.egov.dossier.FeeSettled", evolved) == []


def test_rules_apply_inside_nested_records_and_arrays() -> None:
    body = example("vn.egov.document.DocumentIssued")
    body["recipients"][1]["code"] = "15.H11"  # neither QĐ 20/2020 (H11 alone is valid) nor QCVN 102
    body["content"]["sha256"] = "ABC"
    errors = {e.path: e.rule for e in VALIDATOR.from_json("vn.egov.document.DocumentIssued", body)[1]}
    assert errors == {"recipients.1.code": "agency_code", "content.sha256": "sha256"}


def test_record_rules_name_the_field_to_fix() -> None:
    body = example("vn.egov.dossier.AgencyDecisionMade")
    body["decision"] = "REJECTED"
    [error] = VALIDATOR.from_json("vn.egov.dossier.AgencyDecisionMade", body)[1]
    assert (error.path, error.rule) == ("reason", "reason_when_rejected")


def test_the_released_files_are_standalone_schemas() -> None:
    for path in (REPO_ROOT / "contracts" / "released").rglob("*.avsc"):
        avro.schema.parse(Path(path).read_text(encoding="utf-8"))


def test_bytes_are_strict_base64_in_json() -> None:
    body = example("vn.egov.ops.DeadLetter")
    body["original_headers"] = {"h": "%%%", "k": "-_-_"}
    paths = {e.path for e in VALIDATOR.from_json("vn.egov.ops.DeadLetter", body)[1]}
    assert paths == {"original_headers.h", "original_headers.k"}


def test_a_malformed_field_is_not_judged_again_by_a_rule_that_leans_on_it() -> None:
    body = example("vn.egov.dossier.DossierSubmitted")
    body["applicant"]["sex"] = "female"
    errors = VALIDATOR.from_json("vn.egov.dossier.DossierSubmitted", body)[1]
    assert [(e.path, e.rule) for e in errors] == [("applicant.sex", "literal_error")]


def test_birth_dates_in_the_future_are_refused_everywhere_not_only_at_the_portal() -> None:
    body = example("vn.egov.dossier.DossierSubmitted")
    body["applicant"].update({"date_of_birth": "2099-03-01", "id_number": "060399123456"})
    errors = VALIDATOR.from_json("vn.egov.dossier.DossierSubmitted", body)[1]
    assert [(e.path, e.rule) for e in errors] == [("applicant.date_of_birth", "not_future")]


def test_timestamps_beyond_what_avro_can_decode_are_refused() -> None:
    body = example("vn.egov.dossier.FeeSettled")
    body["settled_at"] = "0001-01-01T00:00:00+14:00"
    [error] = VALIDATOR.from_json("vn.egov.dossier.FeeSettled", body)[1]
    assert error.path == "settled_at"
