"""Working days for procedure deadlines.

Deadlines of administrative procedures are counted in working days (common practice; the exact counting
rule is unsourced, see the domain notes). Public holidays come from the `holidays` package's Vietnam
calendar (Labour Code 2019 Art. 112: New Year, Tết, Hùng Kings' day, 30/4, 1/5, 2/9 with the adjacent day,
substitute days off, and the Saturdays the government turned into working days to bridge them).

Rule used here: the receipt day itself is not counted; the appointment is the N-th working day after it.
A dossier received on a weekend or holiday therefore starts counting on the next working day.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays

PROVINCE_TZ_DEFAULT = "Asia/Ho_Chi_Minh"


@lru_cache(maxsize=8)
def _calendar(country: str) -> holidays.HolidayBase:
    return holidays.country_holidays(country)


class WorkingCalendar:
    """Working days of a country's public administration (Vietnam unless told otherwise)."""

    def __init__(self, country: str = "VN") -> None:
        self._holidays = _calendar(country)

    def is_working_day(self, day: dt.date) -> bool:
        return bool(self._holidays.is_working_day(day))

    def holiday_name(self, day: dt.date) -> str | None:
        return self._holidays.get(day)

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The `days`-th working day after `start` (`start` itself not counted).

        With `days == 0`: `start` when it is a working day, else the next working day.
        """
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        current = start
        if days == 0:
            while not self.is_working_day(current):
                current += dt.timedelta(days=1)
            return current
        counted = 0
        while counted < days:
            current += dt.timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 when `end <= start`)."""
        count = 0
        current = start
        while current < end:
            current += dt.timedelta(days=1)
            count += self.is_working_day(current)
        return count
