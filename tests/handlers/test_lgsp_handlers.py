"""The LGSP's wiring on the fake runtime: mediation with correlation and time-outs, the access policy, and
routing by agency code."""

from __future__ import annotations

import datetime as dt
from typing import Any

from egov.contracts.topics import EventTypes, Topics, timers
from egov.runtime.testing import FakeRuntime, Published
from services.lgsp.app import build
from tests.handlers.conftest import example

CODE = "000.00.04.H11-261125-0001"
ONESTOP = "/egov/onestop"


def ask_identity(lgsp: FakeRuntime, *, source: str = ONESTOP):  # type: ignore[no-untyped-def]
    request = example(EventTypes.IDENTITY_VERIFICATION_REQUESTED)
    return lgsp.deliver(
        Topics.ONESTOP_TO_LGSP,
        request,
        key=CODE,
        event_type=EventTypes.IDENTITY_VERIFICATION_REQUESTED,
        source=source,
    )


def test_an_identity_check_goes_to_the_population_database_under_a_correlation_id(start) -> None:  # type: ignore[no-untyped-def]
    # Given the LGSP, When the one-stop system asks for an identity check
    lgsp = start(build)
    [lookup] = ask_identity(lgsp)
    # Then the national database is asked under the caller's key, with a deadline timer set
    assert lookup.topic == Topics.POPULATION_REQUESTS.name
    assert lookup.key == CODE
    assert lookup.record["calling_system"] == "onestop"
    assert lookup.record["attempt"] == 1
    correlation = lookup.record["correlation_id"]
    assert f"deadline:{correlation}" in lgsp.table("timers")[CODE]
    # When the database answers, Then the caller gets the verdict once, and the timers are cancelled
    answer = {
        "correlation_id": correlation,
        "outcome": "MATCH",
        "mismatched_fields": [],
        "answered_at": lgsp.time.now,
    }
    [reply] = lgsp.deliver(Topics.POPULATION_ANSWERS, answer, key=CODE)
    assert reply.topic == Topics.LGSP_TO_ONESTOP.name
    assert reply.record["outcome"] == "MATCH"
    assert CODE not in lgsp.table("timers")
    assert lgsp.deliver(Topics.POPULATION_ANSWERS, answer, key=CODE) == []  # answered already


def test_no_answer_in_time_is_retried_then_answered_timeout(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build, lgsp_attempts=2, lgsp_timeout=3.0)
    ask_identity(lgsp)
    attempts = [1]
    for _ in range(6):  # deadline, back-off, deadline: each fires once business time passes it
        lgsp.time.advance(seconds=10)
        lgsp.run_checks()
        for published in lgsp.pump():
            if published.topic == Topics.POPULATION_REQUESTS.name:
                attempts.append(published.record["attempt"])
    assert attempts == [1, 2]
    [timeout] = lgsp.on(Topics.LGSP_TO_ONESTOP)
    assert timeout.record["outcome"] == "TIMEOUT"
    assert [p.topic for p in lgsp.published].count(timers("lgsp").name) >= 3


def test_an_impostor_is_refused_with_100_and_gets_no_answer(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build)
    out = ask_identity(lgsp, source="/egov/agency")  # not the owner of the topic it arrives on
    assert [p.topic for p in out] == [lgsp.service.dead_letter_topic.name]
    assert out[0].record["error_code"] == 100
    assert out[0].headers["dlq_error_code"] == "100"


def test_a_case_event_naming_an_agency_the_province_lacks_is_refused_with_106(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build)
    decision = example(EventTypes.AGENCY_DECISION_MADE, agency={"code": "000.00.99.H11", "name": "Không có"})
    out = lgsp.deliver(
        Topics.CASE_EVENTS,
        decision,
        key=CODE,
        event_type=EventTypes.AGENCY_DECISION_MADE,
        source="/egov/agency",
    )
    assert [p.record["error_code"] for p in out] == [106]


def test_a_dossier_assignment_is_relayed_unchanged_to_the_case_systems(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build)
    assigned = example(EventTypes.DOSSIER_ASSIGNED)
    [relayed] = lgsp.deliver(
        Topics.ONESTOP_TO_LGSP, assigned, key=CODE, event_type=EventTypes.DOSSIER_ASSIGNED, source=ONESTOP
    )
    assert relayed.topic == Topics.LGSP_TO_AGENCIES.name
    assert relayed.envelope.source == ONESTOP  # the event is the one-stop system's, forwarded as it was
    assert relayed.headers["egov_writer"] == "lgsp"
    assert relayed.record == assigned


def test_bytes_that_are_no_event_are_dead_lettered_with_500_named_data_incorrect(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build)
    [letter] = lgsp.deliver_bytes(Topics.CASE_EVENTS, key=CODE, value=b"not avro", headers=[])
    assert letter.record["error_code"] == 500
    assert letter.record["original_value"] == b"not avro"
    # An unknown writer schema is the sender's bad data: 500 DATA_INCORRECT, named as such, so that it does
    # not read as a failure of the LGSP itself (which dead-letters without a code).
    value = b"\xc3\x01" + b"\x00" * 8 + b"body"
    envelope = lgsp.envelope(EventTypes.AGENCY_DECISION_MADE, source=AGENCY, subject=CODE)
    [unknown] = lgsp.deliver_bytes(Topics.CASE_EVENTS, key=CODE, value=value, headers=envelope.to_headers())
    assert unknown.record["error_code"] == 500
    assert unknown.record["reason"].startswith("500 DATA_INCORRECT: unknown writer schema fingerprint")
    assert (unknown.headers["dlq_error_code"], unknown.headers["dlq_error_name"]) == ("500", "DATA_INCORRECT")


# -- case events only from the assigned agency, never dated ahead --------------------------------------
AGENCY = "/egov/agency"
#: After the golden examples' dates (a decision of 26/11, a supplement request of 25/11).
LATER = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
ASSIGNED_TO = {"code": "000.00.04.H11", "name": "Sở Kế hoạch và Đầu tư"}
OTHER = {"code": "000.00.15.H11", "name": "Sở Giao thông vận tải"}


def assign(lgsp: FakeRuntime, agency: dict[str, str] = ASSIGNED_TO) -> None:
    assigned = example(EventTypes.DOSSIER_ASSIGNED, agency=agency)
    [relayed] = lgsp.deliver(
        Topics.ONESTOP_TO_LGSP, assigned, key=CODE, event_type=EventTypes.DOSSIER_ASSIGNED, source=ONESTOP
    )
    assert relayed.topic == Topics.LGSP_TO_AGENCIES.name


def decide(lgsp: FakeRuntime, **changes: Any) -> list[Published]:
    decision = example(EventTypes.AGENCY_DECISION_MADE, **changes)
    return lgsp.deliver(
        Topics.CASE_EVENTS, decision, key=CODE, event_type=EventTypes.AGENCY_DECISION_MADE, source=AGENCY
    )


def ask_supplement(lgsp: FakeRuntime, **changes: Any) -> list[Published]:
    request = example(EventTypes.SUPPLEMENT_REQUESTED, **changes)
    return lgsp.deliver(
        Topics.CASE_EVENTS, request, key=CODE, event_type=EventTypes.SUPPLEMENT_REQUESTED, source=AGENCY
    )


def test_a_decision_of_the_assigned_agency_is_relayed(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build, now=LATER)
    assign(lgsp)
    [relayed] = decide(lgsp)
    assert relayed.topic == Topics.LGSP_TO_ONESTOP.name and relayed.type == EventTypes.AGENCY_DECISION_MADE
    [asked] = ask_supplement(lgsp)
    assert asked.topic == Topics.LGSP_TO_ONESTOP.name


def test_a_decision_naming_another_department_is_refused_with_106(start) -> None:  # type: ignore[no-untyped-def]
    # Given a dossier assigned to 000.00.04.H11, When 000.00.15.H11 decides it (or asks a supplement)
    lgsp = start(build, now=LATER)
    assign(lgsp)
    other_official = {**example(EventTypes.AGENCY_DECISION_MADE)["decided_by"], "agency": OTHER}
    [letter] = decide(lgsp, agency=OTHER, decided_by=other_official)
    [supplement] = ask_supplement(lgsp, requested_by=OTHER)
    # Then both are dead-lettered with 106 naming both agencies, and nothing reaches the one-stop system
    for refused in (letter, supplement):
        assert refused.topic == lgsp.service.dead_letter_topic.name
        assert (
            refused.record["error_code"] == 106 and refused.headers["dlq_error_name"] == "AGENCY_ID_INCORRECT"
        )
        assert "assigned to 000.00.04.H11" in refused.record["reason"]
        assert "000.00.15.H11" in refused.record["reason"]
    # an official of another department deciding in the assigned agency's name is refused too
    [borrowed] = decide(lgsp, decided_by=other_official)
    assert (
        borrowed.record["error_code"] == 106
        and "decided_by.agency 000.00.15.H11" in borrowed.record["reason"]
    )
    assert lgsp.on(Topics.LGSP_TO_ONESTOP) == []


def test_a_case_event_for_a_dossier_never_assigned_is_refused_with_106(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build, now=LATER)
    [letter] = decide(lgsp)
    assert letter.record["error_code"] == 106 and "never assigned" in letter.record["reason"]


def test_the_last_assignment_decides_who_may_act(start) -> None:  # type: ignore[no-untyped-def]
    # Given a dossier assigned to one department, then again (after a supplement) to another
    lgsp = start(build, now=LATER)
    assign(lgsp)
    assign(lgsp, OTHER)
    # Then only the second may decide it
    [first] = decide(lgsp)
    assert first.record["error_code"] == 106 and "assigned to 000.00.15.H11" in first.record["reason"]
    other_official = {**example(EventTypes.AGENCY_DECISION_MADE)["decided_by"], "agency": OTHER}
    [relayed] = decide(lgsp, agency=OTHER, decided_by=other_official)
    assert relayed.topic == Topics.LGSP_TO_ONESTOP.name
    assert lgsp.table("dossier-assignments") == {CODE: OTHER["code"]}


def test_a_decision_dated_in_the_future_is_refused_with_500(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build, now=LATER)
    assign(lgsp)
    [ten_years] = decide(lgsp, decided_at="2036-11-27T02:00:00Z")
    assert ten_years.record["error_code"] == 500
    assert ten_years.record["reason"].startswith("500 DATA_INCORRECT: decided_at 2036-11-27T02:00:00+00:00")
    # a few business minutes ahead is a clock's difference, within the default skew of five minutes
    [within] = ask_supplement(lgsp, requested_at="2026-11-27T02:04:00Z")
    assert within.topic == Topics.LGSP_TO_ONESTOP.name
    [beyond] = ask_supplement(lgsp, requested_at="2026-11-27T02:06:00Z")
    assert beyond.record["error_code"] == 500 and "requested_at" in beyond.record["reason"]


def test_the_clock_skew_is_configurable_and_judged_by_the_services_business_clock(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build, now=LATER, lgsp_clock_skew=0.0)
    assign(lgsp)
    [refused] = decide(lgsp, decided_at="2026-11-27T02:00:01Z")
    assert refused.record["error_code"] == 500 and "(0 s)" in refused.record["reason"]
    lgsp.time.advance(seconds=1)  # business time reaches the decision: it is no longer ahead
    [relayed] = decide(lgsp, decided_at="2026-11-27T02:00:01Z")
    assert relayed.topic == Topics.LGSP_TO_ONESTOP.name
