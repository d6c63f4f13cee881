"""The LGSP's wiring on the fake runtime: mediation with correlation and time-outs, the access policy, and
routing by agency code."""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics, timers
from egov.runtime.testing import FakeRuntime
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


def test_bytes_that_are_no_event_are_dead_lettered_with_500(start) -> None:  # type: ignore[no-untyped-def]
    lgsp = start(build)
    [letter] = lgsp.deliver_bytes(Topics.CASE_EVENTS, key=CODE, value=b"not avro", headers=[])
    assert letter.record["error_code"] == 500
    assert letter.record["original_value"] == b"not avro"
