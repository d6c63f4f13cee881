"""The one-stop status machine and what each step emits: pure, with the time passed in."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes
from egov.contracts.validation import get_validator
from egov.platform.one_stop import OneStopRules, get_one_stop_rules
from egov.platform.province import get_province
from services.onestop.journey import (
    LGSP,
    TRANSITIONS,
    DossierState,
    InvalidTransition,
    Journey,
    Step,
    payment_reference,
)

PROVINCE = get_province("binh-thuan")
JOURNEY = Journey(PROVINCE)
CODE = "000.00.04.H11-261125-0001"
FEE = "1.001612.000.00.00.H11"  # 3 working days, 50.000 đồng
NO_FEE = "1.004228.000.00.00.H11"
# Wednesday 25/11/2026, 09:00 in the province.
RECEIVED_AT = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
LATER = RECEIVED_AT + dt.timedelta(hours=1)
APPLICANT = {
    "full_name": "Nguyễn Thị Lan",
    "date_of_birth": dt.date(1985, 3, 1),
    "sex": "FEMALE",
    "id_number": "060185123456",
}


def received(procedure: str = FEE, channel: str = "ONLINE") -> dict[str, Any]:
    return {
        "dossier_code": CODE,
        "procedure_code": procedure,
        "responsible_agency_code": PROVINCE.procedure(procedure).responsible_agency,  # type: ignore[union-attr]
        "channel": channel,
        "received_at": RECEIVED_AT,
        "appointment_date": dt.date(2026, 11, 30),
        "applicant": APPLICANT,
    }


def answer(state: DossierState, outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": state.request_id,
        "outcome": outcome,
        "mismatched_fields": [],
        "error_code": None,
    } | extra


def accepted(procedure: str = FEE, journey: Journey = JOURNEY) -> Step:
    started = journey.start(None, received(procedure))
    return journey.identity_answered(started.state, answer(started.state, "MATCH"), LATER)


def decision(kind: str = "APPROVED", agency: str = "000.00.04.H11") -> dict[str, Any]:
    return {
        "agency": {"code": agency, "name": "x"},
        "decision": kind,
        "reason": "Không đủ điều kiện",
        "document_id": None,
    }


def statuses(step: Step) -> list[str]:
    return [e.record["to_status"] for e in step.emits if e.event_type == EventTypes.DOSSIER_STATUS_CHANGED]


def assert_valid(step: Step) -> None:
    """Every emitted body is a valid event of its contract (so the app can publish it as it is)."""
    for emit in step.emits:
        assert get_validator().validate_event(emit.event_type, emit.record) == [], emit
        get_registry().encode(emit.event_type, emit.record)


def test_receipt_asks_the_lgsp_to_check_the_identity_and_sets_the_apology_timer() -> None:
    step = JOURNEY.start(None, received())
    [request] = step.emits
    assert (request.event_type, request.topics) == (EventTypes.IDENTITY_VERIFICATION_REQUESTED, (LGSP,))
    assert request.record["citizen"] == APPLICANT
    assert step.state.status == "NEWLY_REGISTERED"
    # Due Monday 30/11: the apology is due at the start of the last working day before, Friday 27/11, in the
    # province (00:00 on 27/11 in Hồ Chí Minh City is 17:00 UTC on 26/11).
    assert step.overdue_at == dt.datetime(2026, 11, 26, 17, 0, tzinfo=dt.UTC)
    assert_valid(step)
    with pytest.raises(InvalidTransition, match="already received"):
        JOURNEY.start(step.state, received())


def test_a_match_accepts_and_assigns_to_the_responsible_agency() -> None:
    step = accepted()
    assert statuses(step) == ["ACCEPTED", "IN_PROGRESS"]
    assigned = [e for e in step.emits if e.event_type == EventTypes.DOSSIER_ASSIGNED]
    assert [e.topics for e in assigned] == [("dossiers", "lgsp")]
    assert assigned[0].record["agency"] == {
        "code": "000.00.04.H11",
        "name": PROVINCE.agency("000.00.04.H11").name,
    }  # type: ignore[union-attr]
    assert assigned[0].record["deadline"] == dt.date(2026, 11, 30)
    assert_valid(step)


@pytest.mark.parametrize(
    ("outcome", "fields", "words"),
    [
        ("MISMATCH", ["full_name", "date_of_birth"], "họ và tên, ngày sinh"),
        ("NOT_FOUND", [], "không có trong"),
    ],
)
def test_a_mismatch_or_unknown_person_is_refused_with_the_reason_on_the_refusal_slip(
    outcome: str, fields: list[str], words: str
) -> None:
    started = JOURNEY.start(None, received())
    step = JOURNEY.identity_answered(
        started.state, answer(started.state, outcome, mismatched_fields=fields), LATER
    )
    assert statuses(step) == ["NOT_ACCEPTED"]
    assert words in step.emits[0].record["reason"]
    assert step.overdue_at is None  # a refused dossier cannot be late
    assert TRANSITIONS[step.state.status] == frozenset()
    assert_valid(step)


@pytest.mark.parametrize("outcome", ["TIMEOUT", "REJECTED"])
def test_when_the_national_database_cannot_answer_the_dossier_is_accepted_with_a_note(outcome: str) -> None:
    started = JOURNEY.start(None, received())
    step = JOURNEY.identity_answered(started.state, answer(started.state, outcome, error_code=101), LATER)
    assert statuses(step) == ["ACCEPTED", "IN_PROGRESS"]
    assert "Chưa xác thực" in step.emits[0].record["reason"]


def test_an_answer_to_another_request_is_refused() -> None:
    started = JOURNEY.start(None, received())
    with pytest.raises(InvalidTransition, match="did not make"):
        JOURNEY.identity_answered(started.state, answer(started.state, "MATCH") | {"request_id": "x"}, LATER)


def test_a_supplement_stops_the_clock_and_moves_the_deadline_by_the_days_it_stood_still() -> None:
    state = accepted().state
    request = {
        "dossier_code": CODE,
        "missing_items": ["Bản sao"],
        "reason": "Thiếu giấy tờ.",
        "requested_by": {"code": "000.00.04.H11", "name": "x"},
        "requested_at": LATER,
    }
    asked = JOURNEY.supplement_requested(state, request, LATER)
    assert statuses(asked) == ["SUPPLEMENT_REQUESTED"] and asked.overdue_at is None
    assert "Bản sao" in asked.emits[1].record["reason"]
    # Supplied on Tuesday 1/12: Thursday 26, Friday 27, Monday 30 and Tuesday 1 went by (4 working days).
    supplied_at = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    back = JOURNEY.supplement_supplied(asked.state, {"dossier_code": CODE}, supplied_at)
    assert statuses(back) == ["IN_PROGRESS"]
    assert back.state.as_dict()["due_date"] == "2026-12-04"
    assigned = [e.record for e in back.emits if e.event_type == EventTypes.DOSSIER_ASSIGNED]
    assert assigned[0]["deadline"] == dt.date(2026, 12, 4)
    assert back.overdue_at == dt.datetime(2026, 12, 2, 17, 0, tzinfo=dt.UTC)  # Thursday 3/12 begins
    assert_valid(back)
    with pytest.raises(InvalidTransition, match="not allowed in status IN_PROGRESS"):
        JOURNEY.supplement_supplied(back.state, {"dossier_code": CODE}, supplied_at)


def test_an_approval_with_a_fee_asks_for_payment_then_returns_the_result_once_paid() -> None:
    state = accepted().state
    asked = JOURNEY.decided(state, decision(), LATER)
    assert statuses(asked) == ["PAYMENT_REQUESTED"]
    fee = asked.emits[0].record
    assert fee["amount"] == {"amount": 50000, "currency": "VND"}
    assert fee["payment_reference"] == payment_reference(CODE)
    assert_valid(asked)
    with pytest.raises(InvalidTransition, match="but the fee requested is"):
        JOURNEY.fee_settled(asked.state, {"payment_reference": "other", "paid_online": True}, LATER)
    done = JOURNEY.fee_settled(
        asked.state, {"payment_reference": fee["payment_reference"], "paid_online": True}, LATER
    )
    assert statuses(done) == ["PROCESSED", "RESULT_RETURNED"]
    [result] = [e.record for e in done.emits if e.event_type == EventTypes.RESULT_RETURNED]
    assert result["on_time"] is True and result["electronic"] is True
    assert done.overdue_at is None
    assert_valid(done)


def test_an_approval_without_a_fee_returns_the_result_at_once() -> None:
    done = JOURNEY.decided(
        accepted(NO_FEE).state, decision(agency=PROVINCE.procedure(NO_FEE).responsible_agency), LATER
    )  # type: ignore[union-attr]
    assert statuses(done) == ["PROCESSED", "RESULT_RETURNED"]


def test_a_refusal_stops_the_dossier_with_its_reason() -> None:
    stopped = JOURNEY.decided(accepted().state, decision("REJECTED"), LATER)
    assert statuses(stopped) == ["STOPPED"]
    assert stopped.emits[0].record["reason"] == "Không đủ điều kiện"


def test_a_decision_by_another_agency_or_at_the_wrong_time_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="but the responsible agency is"):
        JOURNEY.decided(accepted().state, decision(agency="000.00.12.H11"), LATER)
    started = JOURNEY.start(None, received())
    with pytest.raises(InvalidTransition, match="not allowed in status NEWLY_REGISTERED"):
        JOURNEY.decided(started.state, decision(), LATER)
    with pytest.raises(InvalidTransition, match="has not received"):
        JOURNEY.decided(None, decision(), LATER)


def test_an_unresolved_dossier_gets_the_apology_and_extension_request_a_working_day_before_its_date() -> None:
    """Secondary (Lai Châu QĐ 88/2025 applying Nghị định 118/2025): at the latest one day before the date, an
    apology that asks for more time, and the date moves once."""
    state = accepted().state  # due Monday 30/11
    early = JOURNEY.overdue(state, dt.datetime(2026, 11, 26, 16, 59, tzinfo=dt.UTC))  # still Thursday 26/11
    assert early is not None and early.emits == [] and early.overdue_at == JOURNEY.apology_at(state)
    step = JOURNEY.overdue(state, dt.datetime(2026, 11, 26, 17, 0, tzinfo=dt.UTC))  # Friday 27/11 begins
    assert step is not None
    [apology] = step.emits
    assert apology.event_type == EventTypes.DOSSIER_OVERDUE
    assert apology.record["original_appointment_date"] == dt.date(2026, 11, 30)
    # The date promised plus half the processing time again, at least 2 working days: Wednesday 2/12.
    assert apology.record["new_appointment_date"] == dt.date(2026, 12, 2)
    text = apology.record["apology"]
    assert "xin lỗi" in text and "dự kiến" in text and "đề nghị gia hạn" in text and "02/12/2026" in text
    assert step.overdue_at is None  # moved once: no second apology
    assert JOURNEY.overdue(step.state, dt.datetime(2026, 12, 3, tzinfo=dt.UTC)) is None
    assert_valid(step)
    # The new date is the promise; on-time is still judged against the deadline.
    done = JOURNEY.decided(
        step.state, decision(agency="000.00.04.H11"), dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    )
    paid = JOURNEY.fee_settled(
        done.state,
        {"payment_reference": payment_reference(CODE), "paid_online": False},
        dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
    )
    [result] = [e.record for e in paid.emits if e.event_type == EventTypes.RESULT_RETURNED]
    assert result["on_time"] is False
    asked = JOURNEY.decided(state, decision(), LATER).state  # waiting for the citizen's payment
    assert JOURNEY.overdue(asked, dt.datetime(2026, 12, 10, tzinfo=dt.UTC)) is None


def _rules(**values: int) -> OneStopRules:
    """The one-stop rules with some values changed, as a deployment would change the data file."""
    rules = get_one_stop_rules()
    return rules.model_copy(
        update={name: getattr(rules, name).model_copy(update={"value": v}) for name, v in values.items()}
    )


def test_when_the_time_is_too_short_to_warn_ahead_the_apology_comes_when_the_date_is_missed() -> None:
    journey = Journey(
        PROVINCE, rules=_rules(apology_lead_working_days=3)
    )  # 3 days' lead on a 3-day procedure
    state = accepted(journey=journey).state
    assert journey.apology_at(state) == journey.end_of(dt.date(2026, 11, 30))
    step = journey.overdue(state, dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC))  # Tuesday 1/12 begins
    assert step is not None
    [apology] = step.emits
    assert "chưa được giải quyết đúng hẹn ngày 30/11/2026" in apology.record["apology"]
    assert apology.record["new_appointment_date"] == dt.date(2026, 12, 3)  # two working days from 1/12


def test_a_deployment_may_allow_more_reschedules_in_its_data() -> None:
    journey = Journey(PROVINCE, rules=_rules(reschedules_max=2))
    state = accepted().state
    first = journey.overdue(state, dt.datetime(2026, 11, 26, 17, 0, tzinfo=dt.UTC))
    assert first is not None and first.state.apologies == 1
    # The second apology is due a working day before the new date (Wednesday 2/12): Tuesday 1/12.
    assert first.overdue_at == dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)


def test_a_second_supplement_request_is_refused_naming_the_decree() -> None:
    """Nghị định 118/2025/NĐ-CP Art. 11: “chỉ được yêu cầu sửa đổi, bổ sung một lần”."""
    request = {
        "dossier_code": CODE,
        "missing_items": ["Bản sao"],
        "reason": "Thiếu giấy tờ.",
        "requested_by": {"code": "000.00.04.H11", "name": "x"},
        "requested_at": LATER,
    }
    asked = JOURNEY.supplement_requested(accepted().state, request, LATER)
    back = JOURNEY.supplement_supplied(asked.state, {"dossier_code": CODE}, LATER + dt.timedelta(hours=2))
    assert back.state.supplements == 1
    with pytest.raises(InvalidTransition, match=r"only once \(Nghị định 118/2025/NĐ-CP Art\. 11\)"):
        JOURNEY.supplement_requested(back.state, request, LATER + dt.timedelta(hours=3))
    # The dossier is untouched: still in progress, and the agency can decide on it as it is.
    assert statuses(JOURNEY.decided(back.state, decision("REJECTED"), LATER)) == ["STOPPED"]


def test_a_calendar_day_procedure_moves_its_deadline_by_calendar_days() -> None:
    procedures = [
        p.model_copy(update={"processing_unit": "days"}) if p.code == FEE else p for p in PROVINCE.procedures
    ]
    journey = Journey(PROVINCE.model_copy(update={"procedures": tuple(procedures)}))
    state = accepted(journey=journey).state
    asked = journey.decided(state, decision(), LATER)  # Wednesday 25/11, the fee asked
    paid = journey.fee_settled(
        asked.state,
        {"payment_reference": payment_reference(CODE), "paid_online": True},
        dt.datetime(2026, 11, 27, 3, tzinfo=dt.UTC),  # Friday 27/11: two calendar days later
    )
    assert paid.state.due_date == dt.date(2026, 12, 2)  # 30/11 + 2 days


def test_every_status_has_its_successors_and_terminal_ones_none() -> None:
    symbols = get_registry().get("vn.egov.dossier.DossierStatus").schema["symbols"]
    assert set(TRANSITIONS) == set(symbols)
    for successors in TRANSITIONS.values():
        assert successors <= set(symbols)
    assert {s for s, nxt in TRANSITIONS.items() if not nxt} == {
        "NOT_ACCEPTED",
        "WITHDRAWN",
        "STOPPED",
        "RESULT_RETURNED",
    }


def test_the_time_the_citizen_takes_to_pay_does_not_count_against_the_deadline() -> None:
    asked = JOURNEY.decided(accepted().state, decision(), LATER)  # Wednesday 25/11; due Monday 30/11
    reference = asked.state.payment_reference
    # Paid on Wednesday 2/12: five working days went by (26, 27, 30/11, 1, 2/12), so the deadline is 7/12.
    paid = JOURNEY.fee_settled(
        asked.state,
        {"payment_reference": reference, "paid_online": True},
        dt.datetime(2026, 12, 2, 3, tzinfo=dt.UTC),
    )
    assert paid.state.as_dict()["due_date"] == "2026-12-07"
    [result] = [e.record for e in paid.emits if e.event_type == EventTypes.RESULT_RETURNED]
    assert result["on_time"] is True


def test_only_the_responsible_agency_may_ask_for_a_supplement() -> None:
    request = {
        "dossier_code": CODE,
        "missing_items": ["x"],
        "reason": "y",
        "requested_by": {"code": "000.00.12.H11", "name": "x"},
    }
    with pytest.raises(InvalidTransition, match=r"asked for a supplement by 000\.00\.12\.H11"):
        JOURNEY.supplement_requested(accepted().state, request, LATER)


def test_the_state_is_kept_as_json_and_read_back_unchanged() -> None:
    import json

    paused = JOURNEY.decided(accepted().state, decision(), LATER).state  # waiting for the fee: clock stopped
    for state in (JOURNEY.start(None, received()).state, accepted().state, paused):
        stored = json.loads(json.dumps(state.as_dict()))
        assert DossierState.from_dict(stored) == state
    assert paused.as_dict()["paused_on"] == "2026-11-25"
