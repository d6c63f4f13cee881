import datetime as dt

import pytest

from egov.platform.province import get_province
from services.onestop.domain import Reception, UnknownProcedure, allocate, next_sequence, sequence_key

PROVINCE = get_province("binh-thuan")
RECEPTION = Reception(PROVINCE)
PROC = PROVINCE.procedures[0]  # 3 working days, received at 000.00.04.H11


def test_the_receipt_date_is_the_provinces_date_not_utc() -> None:
    # 18:35 UTC on 24/11 is 01:35 on 25/11 in Asia/Ho_Chi_Minh.
    receipt = RECEPTION.receive(PROC.code, dt.datetime(2026, 11, 24, 18, 35, tzinfo=dt.UTC), 1)
    assert receipt.receipt_date == dt.date(2026, 11, 25)
    assert receipt.dossier_code == "000.00.04.H11-261125-0001"
    assert receipt.appointment_date == dt.date(2026, 11, 30)


def test_the_sequence_continues_from_the_last_number() -> None:
    number, state = allocate({"last": 41, "issued": {"older": 41}}, "s-42")
    assert number == 42
    assert state == {"last": 42, "issued": {"older": 41, "s-42": 42}}
    receipt = RECEPTION.receive(PROC.code, dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC), number)
    assert receipt.dossier_code.endswith("-260302-0042")


def test_a_redelivered_submission_gets_its_number_back_and_changes_nothing() -> None:
    first, state = allocate(None, "s-1")
    second, state = allocate(state, "s-2")
    again, unchanged = allocate(state, "s-1")
    assert (first, second, again) == (1, 2, 1)
    assert unchanged == state


def test_the_counter_is_per_agency_per_day() -> None:
    assert sequence_key("000.00.04.H11", dt.date(2026, 3, 2)) != sequence_key(
        "000.00.04.H11", dt.date(2026, 3, 3)
    )
    assert sequence_key("000.00.04.H11", dt.date(2026, 3, 2)) != sequence_key(
        "000.00.12.H11", dt.date(2026, 3, 2)
    )


def test_the_10000th_dossier_of_a_day_gets_a_five_digit_sequence_not_an_error() -> None:
    """Thông tư 03/2025/TT-VPCP Art. 13 cl. 3: the sequence has at least four digits."""
    assert next_sequence(None) == 1
    assert next_sequence(9999) == 10000
    receipt = RECEPTION.receive(PROC.code, dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC), 10000)
    assert receipt.dossier_code.endswith("-260302-10000")


def test_unknown_procedures_are_refused() -> None:
    with pytest.raises(UnknownProcedure, match=r"9\.999999"):
        RECEPTION.receive("9.999999", dt.datetime(2026, 3, 2, tzinfo=dt.UTC), 1)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RECEPTION.receive(PROC.code, dt.datetime(2026, 3, 2), 1)


def test_the_event_body_matches_the_contract() -> None:
    from egov.contracts.serde import get_registry

    receipt = RECEPTION.receive(PROC.code, dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC), 1)
    applicant = {
        "full_name": "Lê Văn An",
        "date_of_birth": dt.date(1980, 1, 2),
        "sex": "MALE",
        "id_number": "060080000001",
    }
    contact = {"phone": "0912345678", "email": None, "notify_by": "SMS", "address": None}
    submission = {"submission_id": "s-1", "channel": "ONLINE", "applicant": applicant, "contact": contact}
    body = receipt.as_event(submission)
    get_registry().validate("vn.egov.dossier.DossierReceived", body)
    # Received, not yet accepted: the identity is checked first.
    assert (body["status"], body["applicant"], body["contact"]) == ("NEWLY_REGISTERED", applicant, contact)
