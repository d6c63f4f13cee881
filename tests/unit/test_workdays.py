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
