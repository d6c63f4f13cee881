"""The compatibility gate names the field and the reason of each break, and refuses what the avro checker
lets through: changed logical types, invalid defaults, deleted contracts, broken shared types."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from egov.contracts.serde import ContractRegistry, get_registry
from egov.tools.contracts import compat
from egov.tools.contracts.compat import (
    RELEASED_DIR,
    Incompatibility,
    check_against_released,
    check_all,
    check_candidate,
    check_reader,
    released_versions,
)

REG = get_registry()
SUBMITTED = "vn.egov.dossier.DossierSubmitted"
RECEIVED = "vn.egov.dossier.DossierReceived"
FEE_SETTLED = "vn.egov.dossier.FeeSettled"


def field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def standalone(name: str) -> dict[str, Any]:
    """A copy to mutate: `standalone` shares lists (enum symbols, …) with the registry's own schemas."""
    return copy.deepcopy(REG.standalone(name))


def problems_of(name: str, schema: dict[str, Any]) -> dict[str, Incompatibility]:
    return {p.location: p for p in check_against_released(name, schema)}


def versions(*names: str) -> list[str]:
    """Every released version of `names`, as the gate names them (`<contract>/v<N>`), oldest first."""
    return [f"{name}/{path.stem}" for name in names for path in released_versions(name)]


def one_problem(problems: list[Incompatibility], name: str) -> Incompatibility:
    """The one problem a change makes, reported once per released version of `name` (all alike)."""
    assert len(problems) == len(versions(name)), problems
    assert len({(p.location, p.kind, p.message) for p in problems}) == 1, problems
    return problems[0]


def schemas_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(REG.schemas_dir, folder)
    return folder


# -- 1. each incompatibility names its field and its reason ---------------------------------------------


def test_each_break_is_reported_at_its_field_with_its_reason() -> None:
    broken = standalone(SUBMITTED)
    field(broken, "submission_id")["type"] = "int"
    field(broken, "channel")["type"]["symbols"] = ["IN_PERSON", "ONLINE"]
    broken["fields"].append({"name": "priority", "type": "int", "doc": "no default"})
    problems = problems_of(SUBMITTED, broken)
    assert sorted(problems) == ["channel", "priority", "submission_id"]
    assert problems["submission_id"].message == (
        "field 'submission_id': reader type int cannot read writer type string"
    )
    assert problems["channel"].message == (
        "field 'channel': symbols POSTAL were removed from vn.egov.common.Channel"
    )
    assert problems["priority"].message == (
        "field 'priority' was added without a default, so old data has no value for it"
    )
    assert problems["channel"].kind == "missing_enum_symbols"
    assert str(problems["submission_id"]) == (
        f"{SUBMITTED}: cannot read data written with {versions(SUBMITTED)[-1]}: "
        "field 'submission_id': reader type int cannot read writer type string"
    )


def test_the_walk_goes_into_nested_records_arrays_maps_and_union_branches() -> None:
    broken = standalone(SUBMITTED)
    contact = field(broken, "contact")["type"]
    address = field(contact, "address")["type"][1]  # ["null", Address]
    field(address, "street")["type"] = "int"
    field(broken, "attachments")["type"]["items"]["fields"].append(
        {"name": "pages", "type": "int", "doc": "no default"}
    )
    field(broken, "form_fields")["type"]["values"] = "int"
    field(field(broken, "applicant")["type"], "sex")["type"]["symbols"] = ["MALE"]
    problems = problems_of(SUBMITTED, broken)
    assert sorted(problems) == [
        "applicant.sex",
        "attachments[].pages",
        "contact.address.street",
        "form_fields{}",
    ]
    assert "reader type int cannot read writer type string" in problems["contact.address.street"].message
    assert "without a default" in problems["attachments[].pages"].message
    assert "FEMALE were removed from vn.egov.common.Sex" in problems["applicant.sex"].message


def test_a_narrowed_union_names_the_branch_old_data_may_hold() -> None:
    broken = standalone(SUBMITTED)
    phone = field(field(broken, "contact")["type"], "phone")
    phone["type"] = "string"
    del phone["default"]
    problem = one_problem(check_against_released(SUBMITTED, broken), SUBMITTED)
    assert problem.location == "contact.phone"
    assert problem.message == (
        "field 'contact.phone': reader type string cannot read writer type null "
        "(a branch of the writer's union [null, string])"
    )


def test_a_renamed_record_is_reported_with_the_fix() -> None:
    renamed = standalone(FEE_SETTLED)
    renamed["name"] = "FeePaid"
    problem = one_problem(check_against_released(FEE_SETTLED, renamed), FEE_SETTLED)
    assert problem.location == "(root)" and problem.kind == "name_mismatch"
    assert "renamed to vn.egov.dossier.FeePaid" in problem.message and "aliases" in problem.message
    renamed["aliases"] = [FEE_SETTLED]
    assert check_against_released(FEE_SETTLED, renamed) == []


def test_the_whole_schema_checker_is_a_safety_net(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = standalone(FEE_SETTLED)
    field(broken, "paid_online")["type"] = "string"
    monkeypatch.setattr(compat._Walk, "compare", lambda self, reader, writer, path: None)
    problems = check_against_released(FEE_SETTLED, broken)
    assert problems and all("/fields/3/type" in p.location for p in problems)
    assert any("string" in p.message and "boolean" in p.message for p in problems)


def test_compatible_evolutions_pass() -> None:
    evolved = standalone(SUBMITTED)
    field(evolved, "channel")["type"]["symbols"].append("KIOSK")
    evolved["fields"].append({"name": "priority", "type": "int", "default": 0, "doc": "with a default"})
    field(evolved, "form_fields")["type"]["values"] = ["null", "string"]
    evolved["fields"] = [f for f in evolved["fields"] if f["name"] != "procedure_code"]
    assert check_against_released(SUBMITTED, evolved) == []


# -- 2. a changed logical type ----------------------------------------------------------------------


MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
MICROS = {"type": "long", "logicalType": "timestamp-micros"}
DATE = {"type": "int", "logicalType": "date"}


def the_problem(problems: list[Any]) -> Any:
    """The one problem a change makes, reported once per released version it breaks."""
    assert problems and len(problems) == len(released_versions(RECEIVED)), problems
    assert len({(p.location, p.kind, p.message) for p in problems}) == 1, problems
    return problems[0]


@pytest.mark.parametrize(
    ("field_name", "new_type", "was", "now"),
    [
        ("receipt_date", MILLIS, "date", "timestamp-millis"),
        ("received_at", MICROS, "timestamp-millis", "timestamp-micros"),
        ("processing_days", DATE, "none", "date"),
        ("appointment_date", "long", "date", "none"),
    ],
)
def test_a_changed_logical_type_is_refused(field_name: str, new_type: Any, was: str, now: str) -> None:
    changed = standalone(RECEIVED)
    field(changed, field_name)["type"] = new_type
    problem = the_problem(check_against_released(RECEIVED, changed))
    assert (problem.location, problem.kind) == (field_name, "logical_type_changed")
    assert problem.message == (
        f"field {field_name!r}: logical type changed from {was} to {now}; "
        "old values would be read with another meaning"
    )


def test_a_logical_type_change_inside_a_union_branch_is_refused() -> None:
    changed = standalone(RECEIVED)
    field(changed, "receipt_date")["type"] = ["null", {"type": "long", "logicalType": "timestamp-millis"}]
    field(changed, "receipt_date")["default"] = None
    problem = the_problem(check_against_released(RECEIVED, changed))
    assert problem.location == "receipt_date" and "from date to timestamp-millis" in problem.message
    field(changed, "receipt_date")["type"] = ["null", {"type": "int", "logicalType": "date"}]
    assert check_against_released(RECEIVED, changed) == []


# -- 3. an invalid default --------------------------------------------------------------------------


def test_an_invalid_default_is_refused_before_checking() -> None:
    broken = standalone(FEE_SETTLED)
    broken["fields"].append({"name": "receipt_no", "type": "string", "default": None, "doc": "bad default"})
    [problem] = check_against_released(FEE_SETTLED, broken)
    assert (problem.location, problem.kind) == ("(schema)", "invalid_schema")
    assert "not valid Avro" in problem.message and "string" in problem.message
    assert str(problem).startswith(f"{FEE_SETTLED}: the new schema is not valid Avro")


def test_check_reader_refuses_an_invalid_reader() -> None:
    writer = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
    reader = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string", "default": 1}]}
    [problem] = check_reader(reader, writer, contract="R", released="R/v1")
    assert problem.location == "(schema)"
    assert check_reader(writer, writer, contract="R", released="R/v1") == []


# -- 4. a deleted contract --------------------------------------------------------------------------


def test_a_deleted_contract_is_refused(tmp_path: Path) -> None:
    schemas = schemas_copy(tmp_path)
    (schemas / "dossier" / f"{FEE_SETTLED}.avsc").unlink()
    problems = check_all(ContractRegistry(schemas), RELEASED_DIR)
    [problem] = problems
    assert (problem.contract, problem.location, problem.kind) == (
        FEE_SETTLED,
        "(contract)",
        "deleted_contract",
    )
    assert str(problem) == (
        f"{FEE_SETTLED}: released but no longer in contracts/schemas "
        "(a contract is never deleted; deprecate it instead)"
    )


def test_the_current_contracts_pass_the_whole_gate() -> None:
    assert check_all() == []


# -- 5. any contract as a candidate, shared types included --------------------------------------------


def test_a_candidate_event_is_checked_against_its_released_versions() -> None:
    raw = copy.deepcopy(json.loads(REG.get(SUBMITTED).source.read_text(encoding="utf-8")))
    assert check_candidate(raw) == (SUBMITTED, [], versions(SUBMITTED))
    raw["fields"].append({"name": "priority", "type": "int", "doc": "no default"})
    name, problems, checked = check_candidate(raw, REG)
    assert (name, checked) == (SUBMITTED, versions(SUBMITTED))
    assert one_problem(problems, SUBMITTED).location == "priority"


def test_a_broken_shared_type_reports_every_event_it_breaks() -> None:
    channel = copy.deepcopy(REG._raw["vn.egov.common.Channel"])
    channel["symbols"] = ["IN_PERSON", "ONLINE"]
    name, problems, checked = check_candidate(channel, REG)
    assert name == "vn.egov.common.Channel"
    assert checked == versions(RECEIVED, SUBMITTED)
    assert sorted(p.contract for p in problems) == sorted(v.split("/")[0] for v in checked)
    assert all(
        p.message == "field 'channel': symbols POSTAL were removed from vn.egov.common.Channel"
        for p in problems
    )


def test_a_compatible_shared_type_passes_and_lists_the_versions_checked() -> None:
    channel = copy.deepcopy(REG._raw["vn.egov.common.Channel"])
    channel["symbols"].append("KIOSK")
    assert check_candidate(channel, REG) == (
        "vn.egov.common.Channel",
        [],
        versions(RECEIVED, SUBMITTED),
    )


def test_a_shared_record_is_checked_through_the_events_that_nest_it() -> None:
    citizen = copy.deepcopy(REG._raw["vn.egov.common.CitizenRef"])
    field(citizen, "date_of_birth")["type"] = {"type": "long", "logicalType": "timestamp-millis"}
    name, problems, checked = check_candidate(citizen, REG)
    assert name == "vn.egov.common.CitizenRef" and f"{SUBMITTED}/v1" in checked
    assert problems and all(p.kind == "logical_type_changed" for p in problems)
    assert any(p.contract == SUBMITTED and p.location == "applicant.date_of_birth" for p in problems)


def test_an_invalid_shared_type_is_refused() -> None:
    citizen = copy.deepcopy(REG._raw["vn.egov.common.CitizenRef"])
    citizen["fields"].append({"name": "nickname", "type": "string", "default": None, "doc": "bad default"})
    name, [problem], checked = check_candidate(citizen, REG)
    assert (name, problem.location, checked) == ("vn.egov.common.CitizenRef", "(schema)", [])
    assert "Default value" in problem.message


def test_the_shared_type_check_leaves_the_schemas_folder_alone(tmp_path: Path) -> None:
    schemas = schemas_copy(tmp_path)
    registry = ContractRegistry(schemas)
    before = {p: p.read_bytes() for p in schemas.rglob("*.avsc")}
    channel = copy.deepcopy(registry._raw["vn.egov.common.Channel"])
    channel["symbols"] = ["ONLINE"]
    assert check_candidate(channel, registry)[1]
    assert {p: p.read_bytes() for p in schemas.rglob("*.avsc")} == before


def test_an_unknown_contract_is_a_problem() -> None:
    raw = {"type": "record", "name": "FeeWaived", "namespace": "vn.egov.dossier", "fields": []}
    name, [problem], checked = check_candidate(raw, REG)
    assert (name, checked) == ("vn.egov.dossier.FeeWaived", [])
    assert str(problem) == (
        "unknown contract vn.egov.dossier.FeeWaived: check the name and namespace "
        "(a new contract has nothing to be compatible with)"
    )
    assert check_candidate({"type": "string"}, REG)[1][0].kind == "unknown_contract"
