"""Every province file runs the whole journey: the services' own wiring on fake runtimes, chained by hand as
the broker would chain them, for Bình Thuận before the 2025 merger and Lâm Đồng after it (agency codes of the
QĐ 20/2020/QĐ-TTg form, commune-level committees, no district level). Nothing may assume one province."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import Province, get_province
from egov.regulations.codes import level1_code, parse_document_id, parse_dossier_code
from egov.runtime.testing import FakeRuntime, Published
from egov.tools.samples import official_document, submission
from services.agency.app import build as build_agency
from services.agency.domain import Profile
from services.documents.app import build as build_documents
from services.lgsp.app import build as build_lgsp
from services.notify.app import build as build_notify
from services.onestop.app import build as build_onestop
from services.portal.app import build as build_portal
from services.reporting.app import build as build_reporting
from tests.handlers.conftest import PROVINCES, citizen, official

Start = Callable[..., FakeRuntime]


@pytest.fixture(params=PROVINCES)
def province(request: pytest.FixtureRequest) -> Province:
    return get_province(request.param)


def plain_profile(tmp_path: Path) -> Path:
    """A department that approves every dossier in one working day, asking nothing first."""
    path = tmp_path / "plain.yaml"
    path.write_text("default: {duration_days: 1, supplement_chance: 0, reject_chance: 0}\n", encoding="utf-8")
    return path


def one(published: list[Published], event_type: str, topic: Any | None = None) -> Published:
    found = [p for p in published if p.type == event_type and (topic is None or p.topic == topic.name)]
    assert len(found) == 1, [(p.topic, p.type) for p in published]
    return found[0]


def test_a_dossier_goes_from_the_portal_to_its_result_in_either_province(
    start: Start, province: Province, tmp_path: Path
) -> None:
    slug = province.slug
    fee = next(p for p in province.procedures if p.fee_vnd > 0)
    # The citizen submits at the portal of the province
    portal = start(build_portal, province=slug)
    body = submission(random.Random(19), [fee.code]) | {"channel": "ONLINE"}
    signed_in = portal.bearer(citizen(body["applicant"]))
    assert portal.request("POST", "/api/v1/dossiers", json=body, headers=signed_in).status == 202
    submitted = one(portal.published, EventTypes.DOSSIER_SUBMITTED)

    # The one-stop system numbers it with the receiving agency's code, of the province's level-1 code
    onestop = start(build_onestop, province=slug)
    onestop.deliver(Topics.DOSSIER_SUBMISSIONS, submitted.record, key=submitted.key)
    onestop.pump()
    received = one(onestop.on(Topics.DOSSIERS), EventTypes.DOSSIER_RECEIVED)
    code = received.record["dossier_code"]
    assert parse_dossier_code(code).agency_code == fee.receiving_agency
    assert level1_code(fee.receiving_agency) == province.level1_agency_code
    assert received.record["processing_unit"] == fee.processing_unit

    # The identity matches; the dossier is assigned through the LGSP to the responsible agency
    request = one(onestop.published, EventTypes.IDENTITY_VERIFICATION_REQUESTED)
    answer = {
        "dossier_code": code,
        "request_id": request.record["request_id"],
        "outcome": "MATCH",
        "mismatched_fields": [],
        "error_code": None,
        "answered_at": onestop.time.now,
    }
    out = onestop.deliver(
        Topics.LGSP_TO_ONESTOP, answer, key=code, event_type=EventTypes.IDENTITY_VERIFICATION_ANSWERED
    )
    assigned = one(out, EventTypes.DOSSIER_ASSIGNED, Topics.ONESTOP_TO_LGSP)
    lgsp = start(build_lgsp, province=slug)
    routed = lgsp.deliver(
        Topics.ONESTOP_TO_LGSP,
        assigned.record,
        key=code,
        event_type=EventTypes.DOSSIER_ASSIGNED,
        source="/egov/onestop",
    )
    to_agency = one(routed, EventTypes.DOSSIER_ASSIGNED, Topics.LGSP_TO_AGENCIES)
    assert to_agency.record["agency"]["code"] == fee.responsible_agency

    # The department decides; the LGSP delivers the decision back
    agency = start(build_agency, province=slug, agency_profile=plain_profile(tmp_path))
    agency.deliver(Topics.LGSP_TO_AGENCIES, to_agency.record, key=code)
    agency.time.advance(days=5)
    agency.run_checks()
    decision = one(agency.pump(), EventTypes.AGENCY_DECISION_MADE, Topics.CASE_EVENTS)
    lgsp.time.advance(days=5)  # the same business time as the department's (a decision is never ahead)
    delivered = lgsp.deliver(
        Topics.CASE_EVENTS,
        decision.record,
        key=code,
        event_type=EventTypes.AGENCY_DECISION_MADE,
        source="/egov/agency",
    )
    back = one(delivered, EventTypes.AGENCY_DECISION_MADE, Topics.LGSP_TO_ONESTOP)

    # The fee is asked, paid online, and the result returned
    asked = onestop.deliver(
        Topics.LGSP_TO_ONESTOP, back.record, key=code, event_type=EventTypes.AGENCY_DECISION_MADE
    )
    fee_request = one(asked, EventTypes.FEE_REQUESTED)
    assert fee_request.record["amount"]["amount"] == fee.fee_vnd
    settled = {
        "dossier_code": code,
        "payment_reference": fee_request.record["payment_reference"],
        "amount": fee_request.record["amount"],
        "paid_online": True,
        "settled_at": onestop.time.now,
    }
    done = onestop.deliver(Topics.SETTLEMENTS, settled, key=code)
    one(done, EventTypes.RESULT_RETURNED)
    assert onestop.table("dossiers")[code]["status"] == "RESULT_RETURNED"

    # The citizen is told, and the indicators count it under the province's agency
    notify = start(build_notify, province=slug)
    reporting = start(build_reporting, province=slug)
    for event in onestop.on(Topics.DOSSIERS):
        for service in (notify, reporting):
            service.deliver(Topics.DOSSIERS, event.record, key=code, event_type=event.type)
    assert {n.record["template"] for n in notify.on(Topics.NOTIFICATIONS)} >= {"received", "result_ready"}
    report = reporting.request("GET", "/api/v1/indicators", query=[("by", "agency")]).body
    [group] = report["groups"]
    assert group["agency"] == {
        "code": fee.responsible_agency,
        "name": province.agency(fee.responsible_agency).name,  # type: ignore[union-attr]
    }


def test_a_letter_between_the_provinces_departments_is_registered_under_its_agency_code(
    start: Start, province: Province
) -> None:
    documents = start(build_documents, province=province.slug)
    letter = official_document(random.Random(11), province)
    clerk = documents.bearer(official(letter["issuing_agency"], "clerk"))
    answer = documents.request(
        "POST", "/api/v1/documents", json=letter, headers={"Idempotency-Key": "l", **clerk}
    )
    assert answer.status == 202
    registered = one(documents.pump(), EventTypes.DOCUMENT_REGISTERED)
    parsed = parse_document_id(registered.record["document_id"])
    assert parsed.organ_id == letter["issuing_agency"]
    assert level1_code(parsed.organ_id) == province.level1_agency_code


def test_every_procedure_of_the_catalogue_is_accepted_at_the_portal(start: Start, province: Province) -> None:
    portal = start(build_portal, province=province.slug)
    for i, procedure in enumerate(province.procedures):
        body = submission(random.Random(i), [procedure.code]) | {"channel": "ONLINE"}
        answer = portal.request(
            "POST", "/api/v1/dossiers", json=body, headers=portal.bearer(citizen(body["applicant"]))
        )
        assert answer.status == 202, (procedure.code, answer.body)


def test_the_department_profile_covers_the_catalogue(province: Province) -> None:
    """The stand-in's profile is keyed by procedure code: every procedure of either province has its own
    behaviour (the demo's profile is checked by tests/unit/test_demo.py, path by path)."""
    from services.agency.domain import DEFAULT_PROFILE

    profile = Profile.load(DEFAULT_PROFILE)
    assert [p.code for p in province.procedures if p.code not in profile.procedures] == []
