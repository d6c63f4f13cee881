"""Appointment dates across the holidays of the Labour Code 2019 Art. 112 (the `holidays` calendar)."""

import datetime as dt

import pytest

from egov.regulations.workdays import WorkingCalendar

CAL = WorkingCalendar()


@pytest.mark.parametrize(
    ("received", "days", "appointment", "why"),
    [
        (dt.date(2026, 11, 25), 3, dt.date(2026, 11, 30), "a weekend is skipped"),
        (dt.date(2026, 2, 13), 1, dt.date(2026, 2, 23), "Tết 2026: 16–20 Feb off, then a weekend"),
        (dt.date(2027, 2, 3), 2, dt.date(2027, 2, 12), "Tết 2027: 4–10 Feb off"),
        (
            dt.date(2026, 4, 24),
            1,
            dt.date(2026, 4, 28),
            "Hùng Kings' day on Sunday 26/4, observed Monday 27/4",
        ),
        (dt.date(2027, 4, 15), 1, dt.date(2027, 4, 19), "Hùng Kings' day Friday 16/4/2027"),
        (dt.date(2026, 4, 29), 1, dt.date(2026, 5, 4), "30/4 and 1/5 on Thursday and Friday"),
        (dt.date(2026, 8, 28), 1, dt.date(2026, 9, 3), "2/9 with 1/9 and the substituted 31/8"),
        (dt.date(2025, 4, 25), 1, dt.date(2025, 4, 26), "Saturday 26/4/2025 was made a working day"),
        (
            dt.date(2026, 11, 21),
            2,
            dt.date(2026, 11, 25),
            "received on Saturday; 24/11 is a holiday from 2026",
        ),
    ],
)
def test_appointment_date_skips_weekends_and_holidays(received, days, appointment, why) -> None:  # type: ignore[no-untyped-def]
    assert CAL.add_working_days(received, days) == appointment, why


def test_zero_days_means_the_next_working_day() -> None:
    assert CAL.add_working_days(dt.date(2026, 11, 28), 0) == dt.date(2026, 11, 30)
    assert CAL.add_working_days(dt.date(2026, 11, 30), 0) == dt.date(2026, 11, 30)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add_working_days(dt.date(2026, 1, 5), -1)


def test_working_days_between_inverts_add_working_days() -> None:
    start = dt.date(2026, 2, 10)
    for days in range(0, 15):
        end = CAL.add_working_days(start, days)
        assert CAL.working_days_between(start, end) == days


def test_vietnam_cultural_day_is_a_holiday_from_2026_only() -> None:
    """24/11 (Ngày Văn hóa Việt Nam) is in the `holidays` calendar from version 0.106, the floor of
    pyproject.toml: an older version would let a deadline fall on it."""
    assert CAL.holiday_name(dt.date(2026, 11, 24)) is not None
    assert not CAL.is_working_day(dt.date(2026, 11, 24))  # a Tuesday
    assert CAL.is_working_day(dt.date(2025, 11, 24))  # a Monday, before the holiday existed


def test_a_working_day_deadline_steps_over_24_november_2026() -> None:
    # Received Monday 23/11/2026: the first working day after it is Wednesday 25/11, not Tuesday 24/11.
    assert CAL.add_working_days(dt.date(2026, 11, 23), 1) == dt.date(2026, 11, 25)
    at_nine = dt.datetime(2026, 11, 20, 9, 0)  # Friday
    # Monday 23, (Tuesday 24 off), Wednesday 25
    assert CAL.appointment(at_nine, 2, "working_days") == dt.date(2026, 11, 25)


def test_a_calendar_day_deadline_on_a_holiday_ends_with_the_next_working_day() -> None:
    """Bộ luật Dân sự 2015 Art. 148 cl. 5."""
    received = dt.datetime(2026, 11, 14, 10, 0)  # Saturday
    assert CAL.appointment(received, 10, "days") == dt.date(2026, 11, 25)  # 24/11 is Cultural Day
    assert CAL.appointment(received, 8, "days") == dt.date(2026, 11, 23)  # Sunday 22/11 → Monday 23/11
    assert CAL.appointment(dt.datetime(2026, 11, 2, 8, 0), 3, "days") == dt.date(2026, 11, 5)  # a Thursday
    assert CAL.next_working_day(dt.date(2026, 11, 24)) == dt.date(2026, 11, 25)


def test_a_same_day_procedure_received_after_15h_or_on_a_day_off_is_due_the_next_working_day() -> None:
    assert CAL.appointment(dt.datetime(2026, 11, 23, 14, 59), 0, "same_day") == dt.date(2026, 11, 23)
    assert CAL.appointment(dt.datetime(2026, 11, 23, 15, 0), 0, "same_day") == dt.date(2026, 11, 25)
    assert CAL.appointment(dt.datetime(2026, 11, 24, 9, 0), 0, "same_day") == dt.date(2026, 11, 25)
    assert CAL.appointment(dt.datetime(2026, 11, 28, 9, 0), 0, "same_day") == dt.date(2026, 11, 30)


def test_a_deadline_moves_by_the_pause_in_the_procedures_unit() -> None:
    # Stopped Friday 20/11, resumed Wednesday 25/11: two working days (23, 25), five calendar days.
    stopped, resumed = dt.date(2026, 11, 20), dt.date(2026, 11, 25)
    assert CAL.extended(dt.date(2026, 11, 30), stopped, resumed) == dt.date(2026, 12, 2)
    # 30/11 + 5 days is Saturday 5/12, so Monday 7/12
    assert CAL.extended(dt.date(2026, 11, 30), stopped, resumed, "days") == dt.date(2026, 12, 7)


def test_working_days_before_a_deadline_skip_the_days_off() -> None:
    assert CAL.working_days_before(dt.date(2026, 11, 25), 1) == dt.date(2026, 11, 23)  # over 24/11
    assert CAL.working_days_before(dt.date(2026, 11, 30), 1) == dt.date(2026, 11, 27)  # over the weekend
    assert CAL.working_days_before(dt.date(2026, 11, 30), 2) == dt.date(2026, 11, 26)
    with pytest.raises(ValueError, match="at least 1"):
        CAL.working_days_before(dt.date(2026, 11, 30), 0)
