"""Receipt of a dossier at the one-stop system: dossier code and appointment date. Pure rules.

- Dossier code (Nghị định 118/2025/NĐ-CP Art. 11; structure Thông tư 03/2025/TT-VPCP Art. 13, see
  `egov.regulations.codes`): `<receiving agency code>-<YYMMDD>-<NNNN>`, the sequence counted per receiving
  agency per receipt day, from 0001, never reused, and at least four digits (a 10,000th dossier gets five).
- Receipt date and appointment date are business dates in the province's time zone.
- The appointment (ngày hẹn trả kết quả, on the receipt slip, form 01) is the procedure's processing time in
  its own unit after the receipt (working days, calendar days rolled to a working day, or the same day; see
  `egov.regulations.workdays`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from egov.platform.province import Procedure, Province
from egov.regulations.codes import format_dossier_code
from egov.regulations.workdays import WorkingCalendar

#: The status of a dossier on receipt, until its applicant's identity is checked.
NEWLY_REGISTERED = "NEWLY_REGISTERED"


class UnknownProcedure(ValueError):
    pass


def sequence_key(agency_code: str, receipt_date: dt.date) -> str:
    """Key of the daily counter: one per receiving agency per receipt day."""
    return f"{agency_code}/{receipt_date:%Y-%m-%d}"


def next_sequence(last: int | None) -> int:
    """The number after `last` (None: none issued yet that day). No upper bound: the sequence has "at least"
    four digits (Thông tư 03/2025/TT-VPCP Art. 13 cl. 3), so the 10,000th dossier of a day is 10000."""
    return (last or 0) + 1


def issued_key(counter_key: str, submission_id: str) -> str:
    """Key of the record of the number one submission got in one agency's day."""
    return f"{counter_key}/{submission_id}"


@dataclass(frozen=True)
class Allocation:
    """A submission's number in its agency's day, and what to write (None: nothing, it had one already).

    Two small records instead of one that grows with the day: the counter (the last number and who got it)
    and, per submission, its number. Written in that order to one table (one changelog partition, in order),
    so after a crash either both are kept, or only the counter, which still names its submission: a
    redelivered submission always gets its number back, and no number is issued twice or skipped."""

    number: int
    counter: dict[str, Any] | None
    issued: int | None


def allocate(counter: Mapping[str, Any] | None, issued: int | None, submission_id: str) -> Allocation:
    """The number of `submission_id` given its day's `counter` and its own record of a number (`issued`)."""
    if issued is not None:
        return Allocation(int(issued), None, None)
    if counter is not None and counter.get("by") == submission_id:
        return Allocation(int(counter["last"]), None, int(counter["last"]))  # the second write was lost
    number = next_sequence(counter["last"] if counter is not None else None)
    return Allocation(number, {"last": number, "by": submission_id}, number)


@dataclass(frozen=True)
class Receipt:
    """What the one-stop system decides on receiving a dossier."""

    dossier_code: str
    sequence: int
    procedure: Procedure
    received_at: dt.datetime
    receipt_date: dt.date
    appointment_date: dt.date

    def as_event(self, submission: Mapping[str, Any]) -> dict[str, Any]:
        """The body of DossierReceived."""
        return {
            "dossier_code": self.dossier_code,
            "submission_id": submission["submission_id"],
            "procedure_code": self.procedure.code,
            "procedure_name": self.procedure.name,
            "receiving_agency_code": self.procedure.receiving_agency,
            "responsible_agency_code": self.procedure.responsible_agency,
            "channel": submission["channel"],
            "status": NEWLY_REGISTERED,
            "received_at": self.received_at,
            "receipt_date": self.receipt_date,
            "processing_days": self.procedure.processing_days,
            "processing_unit": self.procedure.processing_unit,
            "appointment_date": self.appointment_date,
            "applicant": submission["applicant"],
            "contact": submission["contact"],
        }


class Reception:
    """The receipt desk: knows the catalogue and the calendar, is told the time and the counter."""

    def __init__(self, province: Province, calendar: WorkingCalendar | None = None) -> None:
        self.province = province
        self.zone = ZoneInfo(province.timezone)
        self.calendar = calendar or WorkingCalendar()

    def procedure(self, code: str) -> Procedure:
        procedure = self.province.procedure(code)
        if procedure is None:
            raise UnknownProcedure(f"procedure {code} is not in the catalogue of {self.province.name}")
        return procedure

    def receipt_date(self, received_at: dt.datetime) -> dt.date:
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        return received_at.astimezone(self.zone).date()

    def receive(self, procedure_code: str, received_at: dt.datetime, sequence: int) -> Receipt:
        """Give a dossier its code (with `sequence`, from `allocate`) and its appointment date."""
        procedure = self.procedure(procedure_code)
        day = self.receipt_date(received_at)
        return Receipt(
            dossier_code=format_dossier_code(procedure.receiving_agency, day, sequence),
            sequence=sequence,
            procedure=procedure,
            received_at=received_at.astimezone(dt.UTC),
            receipt_date=day,
            appointment_date=self.calendar.appointment(
                received_at.astimezone(self.zone), procedure.processing_days, procedure.processing_unit
            ),
        )
