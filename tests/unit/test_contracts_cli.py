"""The vendor toolkit as a vendor's CI uses it: exit codes and messages naming the field and the rule."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from egov.contracts.serde import get_registry
from egov.tools.cli import main

SUBMITTED = "vn.egov.dossier.DossierSubmitted"


def run(*args: str, stdin: bytes | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["contracts", *args], input=stdin)


def golden(name: str) -> dict:
    return json.loads(run("example", name).output)


def test_a_golden_example_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(golden("DossierSubmitted")))
    result = run("validate", "DossierSubmitted", str(path))
    assert (result.exit_code, result.output.strip()) == (0, "valid")


def test_a_wrong_century_sex_digit_is_refused_naming_the_field(tmp_path: Path) -> None:
    body = golden("DossierSubmitted")
    body["applicant"]["id_number"] = "060" + "0" + body["applicant"]["id_number"][4:]  # female born 1985: 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(body))
    result = run("validate", SUBMITTED, str(path), "--json")
    assert result.exit_code == 1
    [error] = json.loads(result.output)["errors"]
    assert error["path"] == "applicant.id_number"
    assert error["rule"] == "id_number"
    assert "4th digit is 0" in error["message"]


def test_binary_payloads_round_trip_and_validate(tmp_path: Path) -> None:
    source = tmp_path / "r.json"
    source.write_text(json.dumps(golden("DossierReceived")))
    binary = tmp_path / "r.bin"
    assert run("encode", "DossierReceived", str(source), "-o", str(binary)).exit_code == 0
    assert binary.read_bytes()[:2] == b"\xc3\x01"
    assert run("validate", "DossierReceived", str(binary)).exit_code == 0
    decoded = json.loads(run("decode", str(binary)).output)
    assert decoded == {"type": "vn.egov.dossier.DossierReceived", "data": golden("DossierReceived")}
    wrong_type = run("validate", "DossierSubmitted", str(binary))
    assert wrong_type.exit_code == 1 and "is a vn.egov.dossier.DossierReceived" in wrong_type.output


def test_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"\xc3\x01" + b"\x00" * 8)
    result = run("validate", "DossierReceived", str(path))
    assert result.exit_code == 1 and "unknown writer schema fingerprint" in result.output


def test_check_compat_refuses_a_breaking_schema_and_accepts_a_compatible_one(tmp_path: Path) -> None:
    schema = json.loads(get_registry().get(SUBMITTED).source.read_text(encoding="utf-8"))
    schema["fields"].append({"name": "priority", "type": "int", "doc": "no default"})
    broken = tmp_path / "broken.avsc"
    broken.write_text(json.dumps(schema))
    result = run("check-compat", str(broken))
    assert result.exit_code == 1
    assert "'priority'" in result.output and "DossierSubmitted/v1" in result.output

    schema["fields"][-1] = {"name": "priority", "type": "int", "default": 0, "doc": "with a default"}
    compatible = tmp_path / "compatible.avsc"
    compatible.write_text(json.dumps(schema))
    result = run("check-compat", str(compatible))
    assert result.exit_code == 0, result.output


def test_list_show_and_the_gate() -> None:
    listing = run("list").output
    assert "vn.egov.dossier.DossierSubmitted" in listing and "egov.portal.dossier-submissions.v1" in listing
    assert '"name": "DossierSubmitted"' in run("show", "DossierSubmitted").output
    assert run("check").exit_code == 0
    unknown = run("show", "Nope")
    assert unknown.exit_code == 2 and "known:" in unknown.output


def test_usage_errors_exit_2_and_bad_json_is_a_message(tmp_path: Path) -> None:
    assert run("validate", "DossierSubmitted", str(tmp_path / "missing.json")).exit_code == 2
    assert run("example", "vn.egov.common.Sex").exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = run("encode", "DossierSubmitted", str(bad))
    assert result.exit_code == 1 and "is not JSON" in result.output


def test_stdin_is_read_for_a_dash() -> None:
    result = run("validate", "DossierReceived", "-", stdin=json.dumps(golden("DossierReceived")).encode())
    assert (result.exit_code, result.output.strip()) == (0, "valid")
