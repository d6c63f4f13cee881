"""The conformance kit's roles as data (architecture/conformance-roles.yaml), checked against the architecture
model; the kit's verdicts on records it reads (headers, keys, released contracts, rules); its JUnit XML and
HTML report."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from egov.contracts.envelope import Envelope
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes
from egov.contracts.validation import get_validator
from egov.platform.province import get_province
from egov.runtime.settings import Settings
from egov.tools.architecture.model import get_model
from egov.tools.architecture.roles import ROLES_PATH, Roles, get_roles, load_roles, problems
from egov.tools.conformance.checks import Envelopes, Verdict, header_problems
from egov.tools.conformance.report import html_report, junit_xml, summary_line
from egov.tools.conformance.runner import SCENARIOS, RunResult, SetupError, default_agency, resolve
from egov.tools.conformance.wire import Observed
from tests.handlers.conftest import example

NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


def test_the_roles_agree_with_the_model_and_each_has_scenarios() -> None:
    roles = get_roles()
    assert {"agency", "documents"} <= set(roles.ids)
    assert problems(roles, get_model()) == []
    assert set(roles.ids) == set(SCENARIOS)
    agency = roles.get("agency")
    assert agency.principal == "vendor-agency" and agency.source == "/egov/agency"
    assert [t.topic for t in agency.reads] == ["egov.lgsp.agency-deliveries.v1"]
    assert [t.topic for t in agency.writes] == ["egov.agency.case-events.v1"]
    for role in roles.roles:  # every check enforces rules that cite something
        assert role.checks and all(role.references(c.id) for c in role.checks)


def test_a_role_that_strays_from_the_model_is_refused_naming_why(tmp_path: Path) -> None:
    data = yaml.safe_load(ROLES_PATH.read_text(encoding="utf-8"))
    agency = data["roles"][0]
    agency["writes"][0]["topic"] = "egov.onestop.dossiers.v1"  # onestop's, not the agency's
    agency["reads"][0]["events"] = ["vn.egov.dossier.DossierSubmitted"]
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        load_roles(path)
    message = str(refused.value)
    assert "does not let agency write egov.onestop.dossiers.v1" in message
    assert "egov.lgsp.agency-deliveries.v1 carries no vn.egov.dossier.DossierSubmitted" in message


def test_a_check_must_enforce_a_known_rule_and_every_rule_needs_a_check() -> None:
    data = yaml.safe_load(ROLES_PATH.read_text(encoding="utf-8"))
    data["roles"][0]["checks"][0]["rules"] = ["no-such-rule"]
    with pytest.raises(ValueError, match="names no rule no-such-rule"):
        Roles.model_validate(data)
    data = yaml.safe_load(ROLES_PATH.read_text(encoding="utf-8"))
    data["roles"][0]["checks"] = [c for c in data["roles"][0]["checks"] if "deadline" not in c["rules"]]
    with pytest.raises(ValueError, match="no check enforces rule\\(s\\) deadline"):
        Roles.model_validate(data)


def test_a_run_names_an_agency_of_the_province_or_takes_its_first_department() -> None:
    settings = Settings()
    role, province, agency = resolve(settings, "agency", None)
    assert agency == default_agency(role, province) and agency.kind == "department"
    assert any(p.responsible_agency == agency.code for p in province.procedures)
    with pytest.raises(SetupError, match="not an agency of"):
        resolve(settings, "agency", "000.00.99.H11")
    with pytest.raises(SetupError, match="no conformance role"):
        resolve(settings, "nobody", None)


def observed(
    record: dict[str, object], event_type: str, *, key: str, headers: list[tuple[str, bytes]]
) -> Observed:
    registry = get_registry()
    value = registry.encode(event_type, record)
    contract, decoded = registry.decode(value)
    return Observed(
        direction="received",
        topic="egov.agency.case-events.v1",
        partition=0,
        offset=7,
        key=key,
        value=value,
        raw_headers=tuple(headers),
        at=NOW,
        contract=contract.name,
        record=decoded,
        fingerprint=value[2:10].hex(),
        headers={k: v.decode() for k, v in headers},
    )


def decision(**changes: object) -> tuple[Observed, str]:
    record = {**example(EventTypes.AGENCY_DECISION_MADE), **changes}
    code = str(record["dossier_code"])
    envelope = Envelope.new(
        source="/egov/agency", type=EventTypes.AGENCY_DECISION_MADE, subject=code, time=NOW
    )
    return observed(record, EventTypes.AGENCY_DECISION_MADE, key=code, headers=envelope.to_headers()), code


def envelopes() -> Envelopes:
    role = get_roles().get("agency")
    return Envelopes(role, get_registry(), get_validator(), lambda r: r.field("dossier_code"), "agency")


def test_a_right_record_passes_every_envelope_check() -> None:
    right, code = decision()
    assert header_problems(right, code) == []
    checks = envelopes()
    for judged in (checks.key, checks.headers, checks.source, checks.released, checks.rules):
        assert judged([right]).passed, judged([right]).findings


def test_each_fault_of_a_record_fails_its_own_check_naming_it() -> None:
    right, code = decision()
    checks = envelopes()
    wrong_key = Observed(**{**right.__dict__, "key": "000.00.04.H11"})
    assert not checks.key([wrong_key]).passed
    assert checks.key([wrong_key]).findings == [
        f"egov.agency.case-events.v1[0]@7 key '000.00.04.H11': the body's is {code!r}"
    ]
    no_spec = Observed(
        **{**right.__dict__, "headers": {k: v for k, v in right.headers.items() if k != "ce_specversion"}}
    )
    assert checks.headers([no_spec]).findings == [
        "egov.agency.case-events.v1[0]@7 key " + repr(code) + ": ce_specversion is None, not '1.0'"
    ]
    other_source = Observed(**{**right.__dict__, "headers": {**right.headers, "ce_source": "/vendor/x"}})
    assert not checks.source([other_source]).passed
    unknown = Observed(**{**right.__dict__, "fingerprint": "00" * 8})
    assert "no released version" in checks.released([unknown]).findings[0]
    rejected_without_reason, _ = decision(decision="REJECTED", reason=None)
    assert "reason_when_rejected" in checks.rules([rejected_without_reason]).findings[0]


def result_with(verdicts: list[Verdict]) -> RunResult:
    role = get_roles().get("agency")
    province = get_province("binh-thuan")
    return RunResult(
        role=role,
        agency=default_agency(role, province),
        verdicts=verdicts,
        seconds=12.5,
        started_at=NOW,
        settings=Settings(),
        unreadable=[],
        log_size=3,
    )


def test_the_junit_xml_has_one_case_per_check_and_the_html_escapes_what_vendors_wrote() -> None:
    bad, _ = decision(reason="<script>alert(1)</script>", decision="REJECTED")
    verdicts = [
        Verdict("agency.key-is-the-dossier-code", "Every record is keyed", ["ADR 0004"], True, "all keyed"),
        Verdict(
            "agency.contract-rules", "Bodies meet", ["TT 03/2025"], False, "bodies break", ["x: y"], [bad]
        ),
    ]
    result = result_with(verdicts)
    root = ET.fromstring(junit_xml(result))
    cases = list(root.iter("testcase"))
    assert [c.get("name") for c in cases] == [v.id for v in verdicts]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "bodies break" and failure.text == "x: y"
    html = html_report(result)
    assert "<script>alert" not in html and "&lt;script&gt;" in html.replace("\\u003c", "&lt;").replace(
        "\\u003e", "&gt;"
    )
    assert "agency.contract-rules" in html and "TT 03/2025" in html
    assert summary_line(result) == (
        "conformance agency (000.00.04.H11): FAILED, 1 of 2 checks passed in 12.5 s; "
        "failed: agency.contract-rules"
    )


def test_egov_up_leaves_out_the_service_a_vendors_system_replaces() -> None:
    from egov.tools.cli import _stack_processes

    without_agency = _stack_processes({}, ("agency",))
    assert "agency" not in {p.name for p in without_agency} and len(without_agency) == 10
    assert all(p.env["EGOV_DOCUMENTS_URL"] for p in without_agency)
    # without the document system, the department stand-in issues no signed decisions there
    without_documents = _stack_processes({}, ("documents",))
    assert all("EGOV_DOCUMENTS_URL" not in p.env for p in without_documents)


def test_docs_conformance_explains_every_check_of_every_role() -> None:
    text = (ROLES_PATH.parent.parent / "docs" / "conformance.md").read_text(encoding="utf-8")
    for role in get_roles().roles:
        assert f"`{role.id}`" in text
        for check in role.checks:
            assert f"`{check.id}`" in text, check.id


def test_the_command_exits_2_on_a_usage_error_before_it_connects() -> None:
    from click.testing import CliRunner

    from egov.tools.cli import main

    unknown_role = CliRunner().invoke(main, ["conformance", "run", "--role", "portal"])
    assert unknown_role.exit_code == 2 and "portal" in unknown_role.output
    foreign = CliRunner().invoke(main, ["conformance", "run", "--role", "agency", "--agency-code", "H99"])
    assert foreign.exit_code == 2 and "--agency-code H99 is not an agency of" in foreign.output
