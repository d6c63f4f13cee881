import datetime as dt
from typing import Any

import pytest

from egov.platform.province import get_province
from services.onestop.domain import (
    Allocation,
    Reception,
    UnknownProcedure,
    allocate,
    next_sequence,
    sequence_key,
)

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
    allocation = allocate({"last": 41, "by": "older"}, None, "s-42")
    assert allocation == Allocation(42, {"last": 42, "by": "s-42"}, 42)
    receipt = RECEPTION.receive(PROC.code, dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC), allocation.number)
    assert receipt.dossier_code.endswith("-260302-0042")


def test_a_redelivered_submission_gets_its_number_back_and_changes_nothing() -> None:
    table: dict[str, Any] = {}

    def number_of(submission_id: str) -> int:
        allocation = allocate(table.get("day"), table.get(f"day/{submission_id}"), submission_id)
        if allocation.counter is not None:
            table["day"] = allocation.counter
        if allocation.issued is not None:
            table[f"day/{submission_id}"] = allocation.issued
        return allocation.number

    assert [number_of("s-1"), number_of("s-2"), number_of("s-1")] == [1, 2, 1]
    assert allocate(table["day"], table["day/s-1"], "s-1") == Allocation(1, None, None)


def test_a_crash_between_the_two_writes_neither_skips_nor_repeats_a_number() -> None:
    # the counter was kept, the submission's own record was lost: its redelivery gets the same number
    assert allocate({"last": 7, "by": "s-7"}, None, "s-7") == Allocation(7, None, 7)
    # and the next submission the one after it
    assert allocate({"last": 7, "by": "s-7"}, None, "s-8").number == 8


def test_the_state_of_a_day_does_not_grow_with_its_dossiers() -> None:
    counter = None
    for i in range(1, 1001):
        allocation = allocate(counter, None, f"s-{i}")
        counter = allocation.counter
    assert counter == {"last": 1000, "by": "s-1000"}


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
