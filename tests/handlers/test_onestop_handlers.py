"""onestop's wiring on the fake runtime: numbering, the start of the journey, its steps and its timer."""

from __future__ import annotations

import datetime as dt

from egov.contracts.topics import EventTypes, Topics, timers
from egov.runtime.testing import FakeRuntime
from services.onestop.app import build
from tests.handlers.conftest import NOW, example

SUBMISSION = example(EventTypes.DOSSIER_SUBMITTED, submitted_at=NOW.isoformat())


def received(onestop: FakeRuntime) -> str:
    """Given a submission the one-stop system has received: its dossier code."""
    onestop.deliver(Topics.DOSSIER_SUBMISSIONS, SUBMISSION, key=SUBMISSION["submission_id"])
    onestop.pump()
    [dossier] = [p for p in onestop.on(Topics.DOSSIERS) if p.type == EventTypes.DOSSIER_RECEIVED]
    return str(dossier.record["dossier_code"])


def test_a_submission_is_numbered_and_its_identity_check_asked_of_the_lgsp(start) -> None:  # type: ignore[no-untyped-def]
    # Given the one-stop system, When a submission arrives and its internal steps run
    onestop = start(build)
    code = received(onestop)
    # Then it has a code of the receiving agency and the day, numbered 0001
    assert code == "000.00.04.H11-261124-0001"
    [public] = onestop.on(Topics.DOSSIERS)
    assert public.record["applicant"] is None  # the ID number stays off the topic other services read
    [internal] = onestop.on(Topics.JOURNEYS)
    assert internal.record["applicant"]["id_number"] == SUBMISSION["applicant"]["id_number"]
    # and the LGSP is asked to check the applicant, keyed by the dossier code
    [request] = onestop.on(Topics.ONESTOP_TO_LGSP)
    assert request.type == EventTypes.IDENTITY_VERIFICATION_REQUESTED
    assert request.key == code
    # and the dossier's state waits for that answer, with its overdue timer set
    assert onestop.table("dossiers")[code]["status"] == "NEWLY_REGISTERED"
    assert "overdue" in onestop.table("timers")[code]


def test_the_same_submission_redelivered_keeps_its_number(start) -> None:  # type: ignore[no-untyped-def]
    onestop = start(build)
    code = received(onestop)
    onestop.deliver(Topics.DOSSIER_SUBMISSIONS, SUBMISSION, key=SUBMISSION["submission_id"])
    onestop.pump()
    codes = {
        p.record["dossier_code"] for p in onestop.on(Topics.DOSSIERS) if p.type == EventTypes.DOSSIER_RECEIVED
    }
    assert codes == {code}


def test_a_matching_identity_accepts_and_assigns_the_dossier(start) -> None:  # type: ignore[no-untyped-def]
    onestop = start(build)
    code = received(onestop)
    request_id = onestop.on(Topics.ONESTOP_TO_LGSP)[0].record["request_id"]
    # When the LGSP answers MATCH
    answer = example(EventTypes.IDENTITY_VERIFICATION_ANSWERED, dossier_code=code, request_id=request_id)
    out = onestop.deliver(
        Topics.LGSP_TO_ONESTOP, answer, key=code, event_type=EventTypes.IDENTITY_VERIFICATION_ANSWERED
    )
    # Then the dossier is accepted, then in progress, and assigned to its agency through the LGSP
    statuses = [p.record["to_status"] for p in out if p.type == EventTypes.DOSSIER_STATUS_CHANGED]
    assert statuses == ["ACCEPTED", "IN_PROGRESS"]
    assigned = [p for p in out if p.type == EventTypes.DOSSIER_ASSIGNED]
    assert {p.topic for p in assigned} == {Topics.DOSSIERS.name, Topics.ONESTOP_TO_LGSP.name}
    assert assigned[0].record["agency"]["code"] == "000.00.04.H11"


def test_a_decision_for_a_dossier_never_received_is_refused_as_an_invalid_transition(start) -> None:  # type: ignore[no-untyped-def]
    onestop = start(build)
    decision = example(EventTypes.AGENCY_DECISION_MADE)
    out = onestop.deliver(
        Topics.LGSP_TO_ONESTOP,
        decision,
        key=decision["dossier_code"],
        event_type=EventTypes.AGENCY_DECISION_MADE,
    )
    assert [p.topic for p in out] == [onestop.service.dead_letter_topic.name]
    assert "invalid transition" in out[0].record["reason"]


def accepted(onestop: FakeRuntime) -> str:
    """Given a dossier received, its identity matched, and assigned to its agency: its dossier code."""
    code = received(onestop)
    request_id = onestop.on(Topics.ONESTOP_TO_LGSP)[0].record["request_id"]
    answer = example(EventTypes.IDENTITY_VERIFICATION_ANSWERED, dossier_code=code, request_id=request_id)
    onestop.deliver(
        Topics.LGSP_TO_ONESTOP, answer, key=code, event_type=EventTypes.IDENTITY_VERIFICATION_ANSWERED
    )
    return code


def test_a_dossier_past_its_appointment_gets_the_apology_and_extension_request(start) -> None:  # type: ignore[no-untyped-def]
    onestop = start(build)
    code = accepted(onestop)
    # When business time passes the appointment date and the timers are checked
    onestop.time.advance(days=10)
    fired = onestop.run_checks()
    assert [p.topic for p in fired] == [timers("onestop").name]
    out = onestop.pump()
    # Then the citizen is apologised to, with a new date
    [overdue] = [p for p in out if p.type == EventTypes.DOSSIER_OVERDUE]
    assert overdue.record["new_appointment_date"] > overdue.record["original_appointment_date"]
    assert overdue.record["detected_at"] >= NOW + dt.timedelta(days=10)
    assert onestop.table("dossiers")[code]["apologies"] == 1
    # and once only: later checks apologise no more
    onestop.time.advance(days=10)
    onestop.run_checks()
    assert [p for p in onestop.pump() if p.type == EventTypes.DOSSIER_OVERDUE] == []


def test_the_apology_goes_out_a_working_day_before_the_date(start) -> None:  # type: ignore[no-untyped-def]
    # Received on Tuesday 24/11/2026 (Vietnam Cultural Day), 3 working days: due Friday 27/11 (25, 26, 27).
    onestop = start(build)
    code = accepted(onestop)
    assert onestop.table("dossiers")[code]["appointment_date"] == "2026-11-27"
    onestop.time.advance(days=1, hours=14)  # Wednesday 25/11, 23:00 in the province: not yet
    onestop.run_checks()
    assert [p for p in onestop.pump() if p.type == EventTypes.DOSSIER_OVERDUE] == []
    onestop.time.advance(hours=2)  # Thursday 26/11, 01:00: the last working day before the date
    onestop.run_checks()
    [apology] = [p for p in onestop.pump() if p.type == EventTypes.DOSSIER_OVERDUE]
    assert apology.record["original_appointment_date"].isoformat() == "2026-11-27"
    assert "đề nghị gia hạn" in apology.record["apology"]


def test_a_second_supplement_request_is_dead_lettered_with_the_reason(start) -> None:  # type: ignore[no-untyped-def]
    onestop = start(build)
    code = accepted(onestop)
    request = example(EventTypes.SUPPLEMENT_REQUESTED, dossier_code=code)
    asked = onestop.deliver(
        Topics.LGSP_TO_ONESTOP, request, key=code, event_type=EventTypes.SUPPLEMENT_REQUESTED
    )
    assert [p.record["to_status"] for p in asked if p.type == EventTypes.DOSSIER_STATUS_CHANGED] == [
        "SUPPLEMENT_REQUESTED"
    ]
    supplied = example(EventTypes.SUPPLEMENT_SUPPLIED, dossier_code=code)
    onestop.deliver(Topics.SUPPLEMENTS, supplied, key=code)
    assert onestop.table("dossiers")[code]["status"] == "IN_PROGRESS"
    # When the agency asks a second time
    again = example(EventTypes.SUPPLEMENT_REQUESTED, dossier_code=code, requested_at="2026-11-26T02:00:00Z")
    out = onestop.deliver(Topics.LGSP_TO_ONESTOP, again, key=code, event_type=EventTypes.SUPPLEMENT_REQUESTED)
    # Then it is dead-lettered, saying why, and the dossier stays in progress
    assert [p.topic for p in out] == [onestop.service.dead_letter_topic.name]
    assert "only once" in out[0].record["reason"] and "Art. 11" in out[0].record["reason"]
    assert onestop.table("dossiers")[code]["status"] == "IN_PROGRESS"
