"""The department stand-in's wiring on the fake runtime: a case opened on assignment, acted on when its
working days have passed."""

from __future__ import annotations

from pathlib import Path

import httpx

from egov.contracts.topics import EventTypes, Topics
from egov.runtime.testing import FakeRuntime
from services.agency.app import build
from tests.handlers.conftest import example

ASSIGNED = example(EventTypes.DOSSIER_ASSIGNED)
CODE = str(ASSIGNED["dossier_code"])


def profile(tmp_path: Path, *, reject: float) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(
        f"default: {{duration_days: 2, supplement_chance: 0, reject_chance: {reject}}}\nprocedures: {{}}\n"
    )
    return path


def acts(agency: FakeRuntime) -> list:  # type: ignore[type-arg]
    """Business time passes the department's working days; its timer fires and it acts."""
    agency.time.advance(days=7)
    agency.run_checks()
    return agency.pump()


def test_an_assigned_dossier_is_decided_after_its_working_days(start, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Given the department, When a dossier is assigned to it
    agency = start(build, agency_profile=profile(tmp_path, reject=0))
    assert agency.deliver(Topics.LGSP_TO_AGENCIES, ASSIGNED, key=CODE) == []
    assert agency.table("cases")[CODE]["next"] == "decide"
    # Then, once its working days have passed, it approves, on its own topic, for the LGSP to deliver
    [decision] = [p for p in acts(agency) if p.topic == Topics.CASE_EVENTS.name]
    assert decision.type == EventTypes.AGENCY_DECISION_MADE
    assert decision.record["decision"] == "APPROVED"
    assert decision.record["agency"]["code"] == ASSIGNED["agency"]["code"]


def test_a_refusal_carries_its_reason(start, tmp_path) -> None:  # type: ignore[no-untyped-def]
    agency = start(build, agency_profile=profile(tmp_path, reject=1))
    agency.deliver(Topics.LGSP_TO_AGENCIES, ASSIGNED, key=CODE)
    [decision] = [p for p in acts(agency) if p.topic == Topics.CASE_EVENTS.name]
    assert decision.record["decision"] == "REJECTED"
    assert decision.record["reason"]


def test_a_decided_dossier_delivered_again_is_not_decided_again(start, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Given a dossier the department decided
    agency = start(build, agency_profile=profile(tmp_path, reject=0))
    agency.deliver(Topics.LGSP_TO_AGENCIES, ASSIGNED, key=CODE)
    assert [p.type for p in acts(agency) if p.topic == Topics.CASE_EVENTS.name] == [
        EventTypes.AGENCY_DECISION_MADE
    ]
    # When it is delivered again, as a new event (another ce_id)
    assert agency.deliver(Topics.LGSP_TO_AGENCIES, ASSIGNED, key=CODE) == []
    # Then nothing is planned and nothing more is decided: one decision per dossier
    assert agency.table("cases")[CODE]["next"] == "done"
    assert [p for p in acts(agency) if p.topic == Topics.CASE_EVENTS.name] == []


def test_another_departments_dossier_is_left_to_its_system(start, tmp_path) -> None:  # type: ignore[no-untyped-def]
    agency = start(build, agency_profile=profile(tmp_path, reject=0), agency_codes="000.00.12.H11")
    assert agency.deliver(Topics.LGSP_TO_AGENCIES, ASSIGNED, key=CODE) == []
    assert CODE not in agency.table("cases")


def test_an_approval_is_issued_as_a_signed_decision_in_the_document_system(start, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    calls: list[httpx.Request] = []

    def documents(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.method == "POST":
            return httpx.Response(202, json={"draft_id": "d-1"})
        return httpx.Response(
            200, json={"draft_id": "d-1", "document_id": "000.00.04.H11,2026/11/24,1/QĐ-SKHĐT"}
        )

    def with_documents(chosen, engine=None):  # type: ignore[no-untyped-def]
        return build(chosen, engine=engine, documents_transport=httpx.MockTransport(documents))

    agency = start(
        with_documents, agency_profile=profile(tmp_path, reject=0), documents_url="http://documents"
    )
    agency.deliver(Topics.LGSP_TO_AGENCIES, ASSIGNED, key=CODE)
    [decision] = [p for p in acts(agency) if p.topic == Topics.CASE_EVENTS.name]
    assert decision.record["document_id"] == "000.00.04.H11,2026/11/24,1/QĐ-SKHĐT"
    post = calls[0]
    assert post.url.path == "/api/v1/documents"
    assert post.headers["Idempotency-Key"].startswith("decision/")


def test_a_timer_whose_case_file_was_lost_in_a_crash_waits_for_the_assignment_again(start, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Given an assignment whose timer was recorded but whose case file was not (a worker crashed between)
    agency = start(build, agency_profile=profile(tmp_path, reject=0))
    agency.deliver(Topics.LGSP_TO_AGENCIES, ASSIGNED, key=CODE)
    del agency.table("cases")[CODE]
    # When the timer fires, Then nothing is decided and nothing is dead-lettered
    assert acts(agency) == []
    # When the assignment, never remembered as handled, is delivered again, Then it is decided once
    agency.deliver(Topics.LGSP_TO_AGENCIES, ASSIGNED, key=CODE)
    assert [p.type for p in acts(agency) if p.topic == Topics.CASE_EVENTS.name] == [
        EventTypes.AGENCY_DECISION_MADE
    ]
