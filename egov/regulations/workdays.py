"""Working days and deadlines of administrative procedures.

- Public holidays come from the `holidays` package's Vietnam calendar (Labour Code 2019 Art. 112: New
  Year, Tết, Hùng Kings' day, 30/4, 1/5, 2/9 with the adjacent day, substitute days off, the Saturdays the
  government turned into working days to bridge them, and from 2026 Vietnam Cultural Day, 24/11, which the
  package has from version 0.106).
- A procedure states its processing time in its own unit (`ProcessingUnit`): working days (the common case,
  "… ngày làm việc kể từ ngày nhận đủ hồ sơ"), calendar days, or "the same day" (received after 15:00: the
  next working day). Working days: the receipt day itself is not counted and the appointment is the N-th
  working day after it, so a dossier received on a weekend or holiday starts counting on the next working day
  (the exact counting rule is unsourced). Calendar days: a deadline falling on a weekend or a holiday ends
  with the next working day (Bộ luật Dân sự 2015 Art. 148 cl. 5).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Literal

import holidays

from egov.regulations.basis import Basis

PROVINCE_TZ_DEFAULT = "Asia/Ho_Chi_Minh"

#: The unit a procedure's processing time is stated in (the catalogue's "đơn vị tính").
ProcessingUnit = Literal["working_days", "days", "same_day"]
PROCESSING_UNITS: tuple[ProcessingUnit, ...] = ("working_days", "days", "same_day")
#: A same-day procedure received at or after this local time is resolved the next working day.
SAME_DAY_CUTOFF = dt.time(15, 0)

LEGAL_BASIS: tuple[Basis, ...] = (
    Basis(
        "calendar.public-holidays",
        "Public holidays and their substitute days off are not working days.",
        "Bộ luật Lao động 2019 (45/2019/QH14)",
        "Art. 112",
        "secondary",
        ("the `holidays` package's Vietnam calendar (https://pypi.org/project/holidays/)",),
        "The days come from the package, not from the Code's text.",
    ),
    Basis(
        "calendar.cultural-day",
        "24 November (Vietnam Cultural Day) is a public holiday from 2026.",
        "Nghị quyết 80-NQ/TW (7/1/2026); Nghị quyết 30/NQ-CP (2/2026) asks to amend Labour Code "
        "Art. 112 cl. 1",
        "unverified (the enacting amendment was not found)",
        "secondary",
        (
            "https://vneconomy.vn/nguoi-lao-dong-dong-tinh-khi-chon-2411-la-ngay-van-hoa-viet-nam-duoc-nghi-le.htm",
            "https://dantri.com.vn/noi-vu/sua-bo-luat-lao-dong-de-them-mot-ngay-nghi-ngay-van-hoa-viet-nam-"
            "20260225151756397.htm",
            "the `holidays` package from 0.106 (it cites Resolution No. 80-NQ/TW)",
        ),
        "The law or resolution that made it a paid day off (said to be of 24/4/2026, in force 1/7/2026) was "
        "not found.",
    ),
    Basis(
        "deadline.working-days",
        "A time in working days counts from the day after receipt: the appointment is the N-th working day.",
        "—",
        "unverified",
        "unverified",
        (),
        "Procedures state “… ngày làm việc kể từ ngày nhận đủ hồ sơ”; no general counting rule was found in "
        "Nghị định 118/2025/NĐ-CP or Thông tư 03/2025/TT-VPCP.",
    ),
    Basis(
        "deadline.on-a-holiday",
        "A deadline in calendar days that falls on a weekend or a holiday ends with the next working day.",
        "Bộ luật Dân sự 2015 (91/2015/QH13)",
        "Art. 148 cl. 5",
        "verified",
        ("Art. 148 cl. 5 quoted word for word in Công văn 3496/CTH-QLDN3 (Thuế TP Cần Thơ, 21/10/2025)",),
    ),
    Basis(
        "deadline.same-day",
        "A same-day procedure received after 15:00 (or on a day off) is resolved the next working day.",
        "Nghị định 23/2015/NĐ-CP (certification), as a provincial catalogue words it",
        "unverified",
        "secondary",
        ("Đồng Nai's 2025 procedure catalogue, procedure 2.000815 (“trường hợp nhận hồ sơ sau 15 giờ …”)",),
    ),
)


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

    def working_days_before(self, day: dt.date, days: int) -> dt.date:
        """The `days`-th working day before `day` (`day` itself not counted): with 1, the last working day
        before it."""
        if days < 1:
            raise ValueError(f"days must be at least 1, got {days}")
        current, counted = day, 0
        while counted < days:
            current -= dt.timedelta(days=1)
            counted += self.is_working_day(current)
        return current

    def next_working_day(self, day: dt.date) -> dt.date:
        """`day` when it is a working day, else the first working day after it (Bộ luật Dân sự Art. 148
        cl. 5: a time limit ending on a day off ends with the next working day)."""
        return self.add_working_days(day, 0)

    def appointment(
        self, received: dt.datetime, amount: int, unit: ProcessingUnit = "working_days"
    ) -> dt.date:
        """The date a result is due for a dossier received at `received` (local time of the province) whose
        procedure takes `amount` of `unit`."""
        day = received.date()
        if unit == "working_days":
            return self.add_working_days(day, amount)
        if unit == "days":
            if amount < 0:
                raise ValueError(f"days must not be negative, got {amount}")
            return self.next_working_day(day + dt.timedelta(days=amount))
        if unit == "same_day":
            if self.is_working_day(day) and received.time() < SAME_DAY_CUTOFF:
                return day
            return self.add_working_days(day, 1) if self.is_working_day(day) else self.next_working_day(day)
        raise ValueError(f"unknown processing unit {unit!r}")

    def extended(
        self, deadline: dt.date, stopped: dt.date, resumed: dt.date, unit: ProcessingUnit = "working_days"
    ) -> dt.date:
        """`deadline` moved by the time the clock stood still from `stopped` to `resumed`, in the procedure's
        unit: working days for working-day and same-day procedures, calendar days (then the next working day)
        for calendar-day ones."""
        if unit == "days":
            return self.next_working_day(deadline + dt.timedelta(days=max(0, (resumed - stopped).days)))
        return self.add_working_days(deadline, self.working_days_between(stopped, resumed))

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 when `end <= start`)."""
        count = 0
        current = start
        while current < end:
            current += dt.timedelta(days=1)
            count += self.is_working_day(current)
        return count
