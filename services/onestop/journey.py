"""A dossier's journey through the one-stop system after receipt: the status machine and what each step
emits. Pure: the state is a JSON-compatible dict (kept in a table by the app), time comes in as an argument,
and every function returns a `Step` (the new state, the events to publish, the timers to set) or raises
`InvalidTransition`, which the app refuses and logs: an invalid transition is never applied.

Statuses are those synchronised with the National Public Service Portal (codes 1–10, the DossierStatus
contract). The journey:

    NEWLY_REGISTERED (1) ── identity checked through the LGSP ──▶ ACCEPTED (2) ──▶ IN_PROGRESS (4)
                         └─ identity does not match (form 03) ──▶ NOT_ACCEPTED (3)
    IN_PROGRESS ──▶ SUPPLEMENT_REQUESTED (5) ──▶ IN_PROGRESS      (the clock stops in between)
    IN_PROGRESS ──▶ PAYMENT_REQUESTED (6) ──▶ PROCESSED (9) ──▶ RESULT_RETURNED (10)   (fee due)
    IN_PROGRESS ──▶ PROCESSED (9) ──▶ RESULT_RETURNED (10)                             (no fee)
    IN_PROGRESS ──▶ STOPPED (8)                                                         (agency refuses)

Choices where the sources are silent (docs/adr/0005-citizen-journey.md):
- When the national population database cannot answer (time-out, or the LGSP refuses the call), the dossier
  is accepted with a note that the identity must be checked against the citizen's papers: a citizen is not
  refused because a national system is down, and the dossier never hangs.
- The deadline (`due_date`) is the appointment date moved by the working days spent waiting for a
  supplement or for the fee: the time the citizen takes does not count. Overdue means the business date in
  the province passed the date promised (the appointment date, moved likewise, or an apology's new date)
  while the clock runs (statuses 1, 2 and 4).
- After an apology (form 04) the citizen is given a new date: half the processing time again in working
  days, at least two. On-time is judged against `due_date`, never against an apology's new date.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from egov.province import Province
from egov.regulations.workdays import WorkingCalendar
from egov.runtime.topics import EventTypes

NEWLY_REGISTERED = "NEWLY_REGISTERED"
ACCEPTED = "ACCEPTED"
NOT_ACCEPTED = "NOT_ACCEPTED"
IN_PROGRESS = "IN_PROGRESS"
SUPPLEMENT_REQUESTED = "SUPPLEMENT_REQUESTED"
PAYMENT_REQUESTED = "PAYMENT_REQUESTED"
WITHDRAWN = "WITHDRAWN"
STOPPED = "STOPPED"
PROCESSED = "PROCESSED"
RESULT_RETURNED = "RESULT_RETURNED"

#: The status machine: which status may follow which. Terminal statuses have no successor.
TRANSITIONS: dict[str, frozenset[str]] = {
    NEWLY_REGISTERED: frozenset({ACCEPTED, NOT_ACCEPTED, WITHDRAWN}),
    ACCEPTED: frozenset({IN_PROGRESS, WITHDRAWN}),
    IN_PROGRESS: frozenset({SUPPLEMENT_REQUESTED, PAYMENT_REQUESTED, PROCESSED, STOPPED, WITHDRAWN}),
    SUPPLEMENT_REQUESTED: frozenset({IN_PROGRESS, STOPPED, WITHDRAWN}),
    PAYMENT_REQUESTED: frozenset({PROCESSED, STOPPED, WITHDRAWN}),
    PROCESSED: frozenset({RESULT_RETURNED}),
    NOT_ACCEPTED: frozenset(),
    WITHDRAWN: frozenset(),
    STOPPED: frozenset(),
    RESULT_RETURNED: frozenset(),
}
#: While the dossier is in one of these, the responsible agency's clock runs (overdue can happen).
CLOCK_RUNS = frozenset({NEWLY_REGISTERED, ACCEPTED, IN_PROGRESS})
#: Timer purposes the app keeps for a dossier.
OVERDUE_TIMER = "overdue"
#: Working days the citizen has to pay a fee.
PAYMENT_DAYS = 5

#: Where an emitted event goes: the dossier's own stream, and/or to the LGSP for delivery.
DOSSIERS = "dossiers"
LGSP = "lgsp"

_REQUESTS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:onestop:requests")


class InvalidTransition(ValueError):
    """The event asks for a change the status machine does not allow now; nothing is applied."""


@dataclass(frozen=True)
class Emit:
    """An event to publish, on `topics`, caused by the event being handled."""

    event_type: str
    record: dict[str, Any]
    topics: tuple[str, ...] = (DOSSIERS,)


@dataclass(frozen=True)
class Step:
    """The outcome of one event: the dossier's new state, what to publish, and the overdue timer's new due
    time (None: no overdue timer now)."""

    state: dict[str, Any]
    emits: list[Emit] = field(default_factory=list)
    overdue_at: dt.datetime | None = None


class Journey:
    """The one-stop system's rules for a dossier after receipt; knows the catalogue and the calendar."""

    def __init__(self, province: Province, calendar: WorkingCalendar | None = None) -> None:
        self.province = province
        self.zone = ZoneInfo(province.timezone)
        self.calendar = calendar or WorkingCalendar()

    # -- helpers ------------------------------------------------------------------------------------------
    def today(self, now: dt.datetime) -> dt.date:
        return now.astimezone(self.zone).date()

    def end_of(self, day: dt.date) -> dt.datetime:
        """The first instant after `day` in the province, UTC: when a dossier due that day becomes late."""
        start_next = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=self.zone)
        return start_next.astimezone(dt.UTC)

    def agency_ref(self, code: str) -> dict[str, str]:
        agency = self.province.agency(code)
        return {"code": code, "name": agency.name if agency else code}

    @staticmethod
    def _move(state: dict[str, Any], to: str, now: dt.datetime, reason: str | None = None) -> Emit:
        """Apply a status change to `state` (in place) and return its DossierStatusChanged."""
        current = state["status"]
        if to not in TRANSITIONS[current]:
            raise InvalidTransition(f"{state['dossier_code']}: {current} → {to} is not allowed")
        state["status"] = to
        state["history"] = [*state.get("history", []), to]
        return Emit(
            EventTypes.DOSSIER_STATUS_CHANGED,
            {
                "dossier_code": state["dossier_code"],
                "from_status": current,
                "to_status": to,
                "reason": reason,
                "changed_at": now,
            },
        )

    @staticmethod
    def _require(state: Mapping[str, Any] | None, *statuses: str, event: str) -> dict[str, Any]:
        if state is None:
            raise InvalidTransition(f"{event} for a dossier the one-stop system has not received")
        if state["status"] not in statuses:
            raise InvalidTransition(
                f"{state['dossier_code']}: {event} is not allowed in status {state['status']} "
                f"(only in {', '.join(statuses)})"
            )
        return dict(state)

    @staticmethod
    def _require_responsible(state: Mapping[str, Any], agency_code: str, did: str) -> None:
        if agency_code != state["responsible_agency_code"]:
            raise InvalidTransition(
                f"{state['dossier_code']}: {did} by {agency_code}, "
                f"but the responsible agency is {state['responsible_agency_code']}"
            )

    def _resume(self, state: dict[str, Any], now: dt.datetime) -> dt.date:
        """The clock restarts: move the deadline and the appointment by the working days it stood still
        (since `paused_on`); returns the new appointment date."""
        paused = self.calendar.working_days_between(
            dt.date.fromisoformat(state.pop("paused_on")), self.today(now)
        )
        due = self.calendar.add_working_days(dt.date.fromisoformat(state["due_date"]), paused)
        appointment = self.calendar.add_working_days(dt.date.fromisoformat(state["appointment_date"]), paused)
        state["due_date"], state["appointment_date"] = due.isoformat(), appointment.isoformat()
        return appointment

    # -- the steps ----------------------------------------------------------------------------------------
    def start(self, state: Mapping[str, Any] | None, received: Mapping[str, Any]) -> Step:
        """DossierReceived: remember the dossier and ask the LGSP to check the applicant's identity."""
        if state is not None:
            raise InvalidTransition(f"{received['dossier_code']} was already received")
        if received["applicant"] is None:
            raise InvalidTransition(f"{received['dossier_code']}: DossierReceived names no applicant")
        code = received["dossier_code"]
        appointment = received["appointment_date"]
        new = {
            "dossier_code": code,
            "procedure_code": received["procedure_code"],
            "responsible_agency_code": received["responsible_agency_code"],
            "channel": received["channel"],
            "status": NEWLY_REGISTERED,
            "history": [NEWLY_REGISTERED],
            "received_at": received["received_at"].isoformat(),
            "appointment_date": appointment.isoformat(),
            "due_date": appointment.isoformat(),
            "request_id": str(uuid.uuid5(_REQUESTS, f"{code}/identity")),
        }
        request = {
            "dossier_code": code,
            "request_id": new["request_id"],
            "citizen": received["applicant"],
            "requested_at": received["received_at"],
        }
        return Step(
            new,
            [Emit(EventTypes.IDENTITY_VERIFICATION_REQUESTED, request, (LGSP,))],
            overdue_at=self.end_of(appointment),
        )

    def identity_answered(
        self, state: Mapping[str, Any] | None, answer: Mapping[str, Any], now: dt.datetime
    ) -> Step:
        """The LGSP's answer: accept and assign, or refuse (form 03)."""
        new = self._require(state, NEWLY_REGISTERED, event="an identity answer")
        if answer["request_id"] != new["request_id"]:
            raise InvalidTransition(
                f"{new['dossier_code']}: answer to request {answer['request_id']}, "
                "which this dossier did not make"
            )
        outcome = answer["outcome"]
        if outcome in ("MISMATCH", "NOT_FOUND"):
            refused = self._move(new, NOT_ACCEPTED, now, refusal_reason(answer))
            return Step(new, [refused])
        note = None if outcome == "MATCH" else unverified_note(answer)
        emits = [self._move(new, ACCEPTED, now, note), *self._assign(new, now)]
        return Step(new, emits, overdue_at=self.end_of(dt.date.fromisoformat(new["appointment_date"])))

    def _assign(self, state: dict[str, Any], now: dt.datetime) -> list[Emit]:
        """Pass the dossier to the responsible agency (through the LGSP) with its deadline."""
        assigned = {
            "dossier_code": state["dossier_code"],
            "procedure_code": state["procedure_code"],
            "agency": self.agency_ref(state["responsible_agency_code"]),
            "deadline": dt.date.fromisoformat(state["due_date"]),
            "assigned_at": now,
        }
        emits = [Emit(EventTypes.DOSSIER_ASSIGNED, assigned, (DOSSIERS, LGSP))]
        if state["status"] != IN_PROGRESS:
            emits.append(self._move(state, IN_PROGRESS, now))
        return emits

    def supplement_requested(
        self, state: Mapping[str, Any] | None, request: Mapping[str, Any], now: dt.datetime
    ) -> Step:
        """The agency asks for a supplement (form 02): the clock stops until the citizen supplies it."""
        new = self._require(state, IN_PROGRESS, event="a supplement request")
        self._require_responsible(new, request["requested_by"]["code"], "asked for a supplement")
        new["paused_on"] = self.today(now).isoformat()
        reason = f"{request['reason']} Cần bổ sung: {'; '.join(request['missing_items'])}."
        emits = [
            Emit(EventTypes.SUPPLEMENT_REQUESTED, dict(request)),
            self._move(new, SUPPLEMENT_REQUESTED, now, reason),
        ]
        return Step(new, emits, overdue_at=None)

    def supplement_supplied(
        self, state: Mapping[str, Any] | None, supplied: Mapping[str, Any], now: dt.datetime
    ) -> Step:
        """The citizen supplied the dossier: the clock restarts, the deadline moves by the days it stood
        still, and the agency gets the dossier back."""
        new = self._require(state, SUPPLEMENT_REQUESTED, event="a supplement")
        appointment = self._resume(new, now)
        new["supplements"] = int(new.get("supplements", 0)) + 1
        reason = f"Công dân đã bổ sung hồ sơ. Ngày hẹn trả kết quả mới: {appointment:%d/%m/%Y}."
        emits = [self._move(new, IN_PROGRESS, now, reason), *self._assign(new, now)]
        return Step(new, emits, overdue_at=self.end_of(appointment))

    def decided(self, state: Mapping[str, Any] | None, decision: Mapping[str, Any], now: dt.datetime) -> Step:
        """The agency's decision: refuse (STOPPED), ask for the fee, or finish."""
        new = self._require(state, IN_PROGRESS, event="a decision")
        self._require_responsible(new, decision["agency"]["code"], "decided")
        new["document_id"] = decision["document_id"]
        if decision["decision"] == "REJECTED":
            return Step(new, [self._move(new, STOPPED, now, decision["reason"])])
        procedure = self.province.procedure(new["procedure_code"])
        fee = procedure.fee_vnd if procedure else 0
        if fee <= 0:
            return Step(new, self._finish(new, now))
        new["payment_reference"] = payment_reference(new["dossier_code"])
        request = {
            "dossier_code": new["dossier_code"],
            "payment_reference": new["payment_reference"],
            "amount": {"amount": fee, "currency": "VND"},
            "due_date": self.calendar.add_working_days(self.today(now), PAYMENT_DAYS),
            "requested_at": now,
        }
        new["paused_on"] = self.today(now).isoformat()  # the citizen's time to pay does not count
        emits = [Emit(EventTypes.FEE_REQUESTED, request), self._move(new, PAYMENT_REQUESTED, now)]
        return Step(new, emits, overdue_at=None)

    def fee_settled(
        self, state: Mapping[str, Any] | None, settled: Mapping[str, Any], now: dt.datetime
    ) -> Step:
        new = self._require(state, PAYMENT_REQUESTED, event="a settlement")
        if settled["payment_reference"] != new["payment_reference"]:
            raise InvalidTransition(
                f"{new['dossier_code']}: settlement of {settled['payment_reference']}, "
                f"but the fee requested is {new['payment_reference']}"
            )
        new["paid_online"] = bool(settled["paid_online"])
        self._resume(new, now)
        return Step(new, self._finish(new, now))

    def _finish(self, state: dict[str, Any], now: dt.datetime) -> list[Emit]:
        processed = self._move(state, PROCESSED, now)
        result = {
            "dossier_code": state["dossier_code"],
            "electronic": state["channel"] == "ONLINE",
            "document_id": state.get("document_id"),
            "on_time": self.today(now) <= dt.date.fromisoformat(state["due_date"]),
            "returned_at": now,
        }
        state["on_time"] = result["on_time"]
        return [processed, Emit(EventTypes.RESULT_RETURNED, result), self._move(state, RESULT_RETURNED, now)]

    def overdue(self, state: Mapping[str, Any] | None, now: dt.datetime) -> Step | None:
        """The overdue timer fired: apologise (form 04) and give a new date, if the dossier is still late
        and the agency's clock is running; None when there is nothing to do."""
        if state is None or state["status"] not in CLOCK_RUNS:
            return None
        promised = dt.date.fromisoformat(state["appointment_date"])
        today = self.today(now)
        if today <= promised:
            return None
        new = dict(state)
        procedure = self.province.procedure(new["procedure_code"])
        extension = max(2, math.ceil((procedure.processing_days if procedure else 4) / 2))
        new_date = self.calendar.add_working_days(today, extension)
        new["appointment_date"] = new_date.isoformat()
        new["apologies"] = int(new.get("apologies", 0)) + 1
        agency = self.agency_ref(new["responsible_agency_code"])
        record = {
            "dossier_code": new["dossier_code"],
            "original_appointment_date": promised,
            "new_appointment_date": new_date,
            "apology": apology_text(agency["name"], promised, new_date),
            "responsible_agency": agency,
            "detected_at": now,
        }
        return Step(new, [Emit(EventTypes.DOSSIER_OVERDUE, record)], overdue_at=self.end_of(new_date))


def payment_reference(dossier_code: str) -> str:
    """The payment reference of a dossier's fee: one per dossier, so a request sent twice is paid once."""
    return "PAY-" + dossier_code.replace(".", "").replace("-", "")


_FIELD_NAMES_VI = {"full_name": "họ và tên", "date_of_birth": "ngày sinh", "sex": "giới tính"}


def refusal_reason(answer: Mapping[str, Any]) -> str:
    """The reason of the refusal slip (form 03, phiếu từ chối tiếp nhận) when the identity does not match."""
    if answer["outcome"] == "NOT_FOUND":
        return (
            "Số định danh cá nhân không có trong Cơ sở dữ liệu quốc gia về dân cư. "
            "Đề nghị công dân kiểm tra lại số định danh cá nhân."
        )
    fields = ", ".join(_FIELD_NAMES_VI.get(f, f) for f in answer["mismatched_fields"]) or "thông tin công dân"
    return (
        f"Thông tin công dân không khớp với Cơ sở dữ liệu quốc gia về dân cư ({fields}). "
        "Đề nghị công dân điều chỉnh thông tin và nộp lại hồ sơ."
    )


def unverified_note(answer: Mapping[str, Any]) -> str:
    """Why a dossier was accepted without an electronic identity check."""
    cause = "hết thời gian chờ" if answer["outcome"] == "TIMEOUT" else f"mã lỗi LGSP {answer['error_code']}"
    return (
        f"Chưa xác thực được thông tin công dân với Cơ sở dữ liệu quốc gia về dân cư ({cause}); "
        "cán bộ một cửa đối chiếu giấy tờ tùy thân khi trả kết quả."
    )


def apology_text(agency_name: str, promised: dt.date, new_date: dt.date) -> str:
    """The apology of form 04 (phiếu xin lỗi và hẹn lại ngày trả kết quả)."""
    return (
        f"{agency_name} xin lỗi Ông/Bà vì hồ sơ chưa được giải quyết đúng hẹn ngày {promised:%d/%m/%Y}. "
        f"Ngày hẹn trả kết quả mới: {new_date:%d/%m/%Y}."
    )
