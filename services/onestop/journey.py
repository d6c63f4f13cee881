"""A dossier's journey through the one-stop system after receipt: the status machine and what each step
emits. Pure: the state is a `DossierState` (kept in a table by the app as its JSON-compatible `as_dict`),
time comes in as an argument, and every function returns a `Step` (the new state, the events to publish, the
timers to set) or raises `InvalidTransition`, which the app refuses and logs: an invalid transition is never
applied.

Statuses are those synchronised with the National Public Service Portal (codes 1–10, the DossierStatus
contract). The one-stop mechanism is Nghị định 118/2025/NĐ-CP with the forms of Thông tư 03/2025/TT-VPCP,
named here by key (their numbers, partly unverified, and the values of the rules below are data:
`architecture/one-stop-rules.yaml`; docs/legal-basis.md says what each rests on). The journey:

    NEWLY_REGISTERED (1) ── identity checked through the LGSP ──▶ ACCEPTED (2) ──▶ IN_PROGRESS (4)
                         └─ identity does not match (refusal slip) ──▶ NOT_ACCEPTED (3)
    IN_PROGRESS ──▶ SUPPLEMENT_REQUESTED (5) ──▶ IN_PROGRESS      (once; the clock stops in between)
    IN_PROGRESS ──▶ PAYMENT_REQUESTED (6) ──▶ PROCESSED (9) ──▶ RESULT_RETURNED (10)   (fee due)
    IN_PROGRESS ──▶ PROCESSED (9) ──▶ RESULT_RETURNED (10)                             (no fee)
    IN_PROGRESS ──▶ STOPPED (8)                                (agency refuses: stop notice)

Rules from the sources:
- A supplement may be asked once (Nghị định 118/2025/NĐ-CP Art. 11, verified): a second SupplementRequested is
  an invalid transition, refused with the reason (the app dead-letters it).
- A dossier expected to be late gets the apology with a request to extend the time *before* its date: at the
  start of the last working day before the appointment date if it is still unresolved, and the date moves
  only once (secondary: Lai Châu QĐ 88/2025/QĐ-UBND applying the decree; its own article was not read). When
  the processing time is too short for that lead, the apology comes when the date is missed.

Choices where the sources are silent (docs/adr/0005-citizen-journey.md):
- When the national population database cannot answer (time-out, or the LGSP refuses the call), the dossier
  is accepted with a note that the identity must be checked against the citizen's papers: a citizen is not
  refused because a national system is down, and the dossier never hangs.
- The deadline (`due_date`) is the appointment date moved by the time spent waiting for a supplement or for
  the fee, in the procedure's unit: the time the citizen takes does not count. The apology is due while the
  clock runs (statuses 1, 2 and 4).
- The apology's new date is the date promised plus half the processing time again in working days, at least
  two (the agency states the extension it asks for; no rule for its length was found). On-time is judged
  against `due_date`, never against an apology's new date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from egov.contracts.topics import EventTypes
from egov.platform.one_stop import OneStopRules, get_one_stop_rules
from egov.platform.province import Province
from egov.regulations.basis import Basis
from egov.regulations.workdays import ProcessingUnit, WorkingCalendar

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
#: Timer purposes the app keeps for a dossier: the apology with a request to extend (named "overdue" since the
#: first release, when it fired after the date; renaming it would orphan the timers already set).
OVERDUE_TIMER = "overdue"
#: Working days the citizen has to pay a fee.
PAYMENT_DAYS = 5

#: Where an emitted event goes: the dossier's own stream, and/or to the LGSP for delivery.
DOSSIERS = "dossiers"
LGSP = "lgsp"

_REQUESTS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:onestop:requests")

LEGAL_BASIS: tuple[Basis, ...] = (
    Basis(
        "dossier-status.codes",
        "Dossier statuses 1–10 as synchronised with the National Public Service Portal; overdue is derived "
        "from the deadline, not a status.",
        "—",
        "unverified",
        "unverified",
        (),
        "Codes seen in public implementations; the official specification was not found (Thông tư "
        "04/2025/TT-VPCP on the data exchanged with the national portal was not read for it).",
    ),
    Basis(
        "one-stop.reception-regardless-of-boundary",
        "A procedure marked boundaryless may be received at any one-stop desk of the province; the catalogue "
        "carries the flag (the portal does not yet let the citizen choose the desk).",
        "Nghị định 118/2025/NĐ-CP",
        "unverified (the definitions article, probably)",
        "secondary",
        ("https://baohatinh.vn/thu-tuc-hanh-chinh-phi-dia-gioi-ro-loi-ich-con-tran-tro-post307134.html",),
        "Provinces publish the list of procedures handled this way (Bắc Ninh, Đồng Nai, Hà Nội's pilot).",
    ),
    Basis(
        "one-stop.clock-stops-for-the-citizen",
        "The deadline moves by the time the dossier waits for the citizen's supplement or fee.",
        "“Mô tả công thức tính chỉ số 766” (criterion 2.1) for the supplement; a project choice for the fee",
        "unverified",
        "secondary",
        ("“Mô tả công thức tính chỉ số 766”, criterion 2.1, as kept in github.com/ChippedTopaz/qd766",),
        "The QĐ 766 description subtracts the supplement time; stopping the clock for the fee is "
        "docs/adr/0005-citizen-journey.md's choice.",
    ),
    Basis(
        "one-stop.extension-length",
        "The new date an apology gives is the date promised plus half the processing time, at least two "
        "working days.",
        "—",
        "unverified",
        "unverified",
        (),
        "The agency states the extension it asks for on the form; no rule for its length was found.",
    ),
)


class InvalidTransition(ValueError):
    """The event asks for a change the status machine does not allow now; nothing is applied."""


@dataclass(frozen=True)
class Emit:
    """An event to publish, on `topics`, caused by the event being handled."""

    event_type: str
    record: dict[str, Any]
    topics: tuple[str, ...] = (DOSSIERS,)


@dataclass(frozen=True)
class DossierState:
    """What the one-stop system knows of a dossier in its journey."""

    dossier_code: str
    procedure_code: str
    responsible_agency_code: str
    channel: str
    status: str
    #: Every status the dossier has been in, in order.
    history: tuple[str, ...]
    received_at: dt.datetime
    #: The date promised to the citizen (moved by a supplement's or the fee's wait, or by an apology).
    appointment_date: dt.date
    #: The deadline on-time is judged against (moved by the citizen's waits only, never by an apology).
    due_date: dt.date
    #: The identity check asked of the LGSP, whose answer the dossier waits for.
    request_id: str
    #: While the clock stands still (a supplement or the fee awaited): the day it stopped.
    paused_on: dt.date | None = None
    supplements: int = 0
    apologies: int = 0
    document_id: str | None = None
    payment_reference: str | None = None
    paid_online: bool | None = None
    on_time: bool | None = None

    def moved(self, **changes: Any) -> DossierState:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The state as the app's table keeps it: JSON-compatible, dates as ISO strings, and the optional
        facts only once they are known."""
        data: dict[str, Any] = {
            "dossier_code": self.dossier_code,
            "procedure_code": self.procedure_code,
            "responsible_agency_code": self.responsible_agency_code,
            "channel": self.channel,
            "status": self.status,
            "history": list(self.history),
            "received_at": self.received_at.isoformat(),
            "appointment_date": self.appointment_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "request_id": self.request_id,
        }
        optional = {
            "paused_on": self.paused_on.isoformat() if self.paused_on else None,
            "supplements": self.supplements or None,
            "apologies": self.apologies or None,
            "document_id": self.document_id,
            "payment_reference": self.payment_reference,
            "paid_online": self.paid_online,
            "on_time": self.on_time,
        }
        return data | {k: v for k, v in optional.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DossierState:
        paused = data.get("paused_on")
        return cls(
            dossier_code=data["dossier_code"],
            procedure_code=data["procedure_code"],
            responsible_agency_code=data["responsible_agency_code"],
            channel=data["channel"],
            status=data["status"],
            history=tuple(data.get("history", ())),
            received_at=dt.datetime.fromisoformat(data["received_at"]),
            appointment_date=dt.date.fromisoformat(data["appointment_date"]),
            due_date=dt.date.fromisoformat(data["due_date"]),
            request_id=data["request_id"],
            paused_on=dt.date.fromisoformat(paused) if paused else None,
            supplements=int(data.get("supplements") or 0),
            apologies=int(data.get("apologies") or 0),
            document_id=data.get("document_id"),
            payment_reference=data.get("payment_reference"),
            paid_online=data.get("paid_online"),
            on_time=data.get("on_time"),
        )


@dataclass(frozen=True)
class Step:
    """The outcome of one event: the dossier's new state, what to publish, and the overdue timer's new due
    time (None: no overdue timer now)."""

    state: DossierState
    emits: list[Emit] = field(default_factory=list)
    overdue_at: dt.datetime | None = None


class Journey:
    """The one-stop system's rules for a dossier after receipt; knows the catalogue and the calendar."""

    def __init__(
        self,
        province: Province,
        calendar: WorkingCalendar | None = None,
        rules: OneStopRules | None = None,
    ) -> None:
        self.province = province
        self.zone = ZoneInfo(province.timezone)
        self.calendar = calendar or WorkingCalendar()
        self.rules = rules or get_one_stop_rules()

    # -- helpers ------------------------------------------------------------------------------------------
    def today(self, now: dt.datetime) -> dt.date:
        return now.astimezone(self.zone).date()

    def end_of(self, day: dt.date) -> dt.datetime:
        """The first instant after `day` in the province, UTC: when a dossier due that day becomes late."""
        return self.start_of(day + dt.timedelta(days=1))

    def start_of(self, day: dt.date) -> dt.datetime:
        """The first instant of `day` in the province, UTC."""
        return dt.datetime.combine(day, dt.time(), tzinfo=self.zone).astimezone(dt.UTC)

    def unit(self, state: DossierState) -> ProcessingUnit:
        procedure = self.province.procedure(state.procedure_code)
        return procedure.processing_unit if procedure else "working_days"

    def apology_at(self, state: DossierState) -> dt.datetime | None:
        """When the apology with a request to extend is due, if the dossier is still unresolved then: the
        start of the last working day(s) before the date promised (`apology_lead_working_days`), or, when that
        day is not after the receipt day (a processing time too short for the lead), the moment the date is
        missed. None once the date has been moved as often as it may be (`reschedules_max`): the dossier is
        then only late."""
        if state.apologies >= self.rules.reschedules_max.value:
            return None
        lead = self.rules.apology_lead_working_days.value
        day = self.calendar.working_days_before(state.appointment_date, lead)
        if day <= self.today(state.received_at):
            return self.end_of(state.appointment_date)
        return self.start_of(day)

    def agency_ref(self, code: str) -> dict[str, str]:
        agency = self.province.agency(code)
        return {"code": code, "name": agency.name if agency else code}

    @staticmethod
    def _move(
        state: DossierState, to: str, now: dt.datetime, reason: str | None = None
    ) -> tuple[DossierState, Emit]:
        """The state after a status change, and its DossierStatusChanged."""
        current = state.status
        if to not in TRANSITIONS[current]:
            raise InvalidTransition(f"{state.dossier_code}: {current} → {to} is not allowed")
        changed = Emit(
            EventTypes.DOSSIER_STATUS_CHANGED,
            {
                "dossier_code": state.dossier_code,
                "from_status": current,
                "to_status": to,
                "reason": reason,
                "changed_at": now,
            },
        )
        return state.moved(status=to, history=(*state.history, to)), changed

    @staticmethod
    def _require(state: DossierState | None, *statuses: str, event: str) -> DossierState:
        if state is None:
            raise InvalidTransition(f"{event} for a dossier the one-stop system has not received")
        if state.status not in statuses:
            raise InvalidTransition(
                f"{state.dossier_code}: {event} is not allowed in status {state.status} "
                f"(only in {', '.join(statuses)})"
            )
        return state

    @staticmethod
    def _require_responsible(state: DossierState, agency_code: str, did: str) -> None:
        if agency_code != state.responsible_agency_code:
            raise InvalidTransition(
                f"{state.dossier_code}: {did} by {agency_code}, "
                f"but the responsible agency is {state.responsible_agency_code}"
            )

    def _resume(self, state: DossierState, now: dt.datetime) -> DossierState:
        """The clock restarts: the deadline and the appointment move by the time it stood still (since
        `paused_on`), in the procedure's unit."""
        if state.paused_on is None:
            raise InvalidTransition(f"{state.dossier_code}: the clock was not stopped")
        stopped, resumed, unit = state.paused_on, self.today(now), self.unit(state)
        return state.moved(
            paused_on=None,
            due_date=self.calendar.extended(state.due_date, stopped, resumed, unit),
            appointment_date=self.calendar.extended(state.appointment_date, stopped, resumed, unit),
        )

    # -- the steps ----------------------------------------------------------------------------------------
    def start(self, state: DossierState | None, received: Mapping[str, Any]) -> Step:
        """DossierReceived: remember the dossier and ask the LGSP to check the applicant's identity."""
        if state is not None:
            raise InvalidTransition(f"{received['dossier_code']} was already received")
        if received["applicant"] is None:
            raise InvalidTransition(f"{received['dossier_code']}: DossierReceived names no applicant")
        code = received["dossier_code"]
        appointment = received["appointment_date"]
        new = DossierState(
            dossier_code=code,
            procedure_code=received["procedure_code"],
            responsible_agency_code=received["responsible_agency_code"],
            channel=received["channel"],
            status=NEWLY_REGISTERED,
            history=(NEWLY_REGISTERED,),
            received_at=received["received_at"],
            appointment_date=appointment,
            due_date=appointment,
            request_id=str(uuid.uuid5(_REQUESTS, f"{code}/identity")),
        )
        request = {
            "dossier_code": code,
            "request_id": new.request_id,
            "citizen": received["applicant"],
            "requested_at": received["received_at"],
        }
        return Step(
            new,
            [Emit(EventTypes.IDENTITY_VERIFICATION_REQUESTED, request, (LGSP,))],
            overdue_at=self.apology_at(new),
        )

    def identity_answered(
        self, state: DossierState | None, answer: Mapping[str, Any], now: dt.datetime
    ) -> Step:
        """The LGSP's answer: accept and assign, or refuse at reception (the refusal slip)."""
        new = self._require(state, NEWLY_REGISTERED, event="an identity answer")
        if answer["request_id"] != new.request_id:
            raise InvalidTransition(
                f"{new.dossier_code}: answer to request {answer['request_id']}, "
                "which this dossier did not make"
            )
        outcome = answer["outcome"]
        if outcome in ("MISMATCH", "NOT_FOUND"):
            new, refused = self._move(new, NOT_ACCEPTED, now, refusal_reason(answer))
            return Step(new, [refused])
        note = None if outcome == "MATCH" else unverified_note(answer)
        new, accepted = self._move(new, ACCEPTED, now, note)
        new, assigned = self._assign(new, now)
        return Step(new, [accepted, *assigned], overdue_at=self.apology_at(new))

    def _assign(self, state: DossierState, now: dt.datetime) -> tuple[DossierState, list[Emit]]:
        """Pass the dossier to the responsible agency (through the LGSP) with its deadline."""
        assigned = {
            "dossier_code": state.dossier_code,
            "procedure_code": state.procedure_code,
            "agency": self.agency_ref(state.responsible_agency_code),
            "deadline": state.due_date,
            "assigned_at": now,
        }
        emits = [Emit(EventTypes.DOSSIER_ASSIGNED, assigned, (DOSSIERS, LGSP))]
        if state.status != IN_PROGRESS:
            state, in_progress = self._move(state, IN_PROGRESS, now)
            emits.append(in_progress)
        return state, emits

    def supplement_requested(
        self, state: DossierState | None, request: Mapping[str, Any], now: dt.datetime
    ) -> Step:
        """The agency asks for a supplement (the supplement request form): the clock stops until the citizen
        supplies it. Only as often as `supplement_requests_max` allows, once (Nghị định 118/2025/NĐ-CP
        Art. 11): a further request is refused."""
        new = self._require(state, IN_PROGRESS, event="a supplement request")
        self._require_responsible(new, request["requested_by"]["code"], "asked for a supplement")
        allowed = self.rules.supplement_requests_max.value
        if new.history.count(SUPPLEMENT_REQUESTED) >= allowed:
            raise InvalidTransition(
                f"{new.dossier_code}: a supplement may be asked for only {_times(allowed)} "
                f"({self.rules.supplement_requests_max.basis.regulation} "
                f"{self.rules.supplement_requests_max.basis.article}), and this dossier was already sent "
                "back; decide on the dossier as it is"
            )
        reason = f"{request['reason']} Cần bổ sung: {'; '.join(request['missing_items'])}."
        new, changed = self._move(new.moved(paused_on=self.today(now)), SUPPLEMENT_REQUESTED, now, reason)
        return Step(new, [Emit(EventTypes.SUPPLEMENT_REQUESTED, dict(request)), changed], overdue_at=None)

    def supplement_supplied(
        self, state: DossierState | None, supplied: Mapping[str, Any], now: dt.datetime
    ) -> Step:
        """The citizen supplied the dossier: the clock restarts, the deadline moves by the days it stood
        still, and the agency gets the dossier back."""
        new = self._resume(self._require(state, SUPPLEMENT_REQUESTED, event="a supplement"), now)
        new = new.moved(supplements=new.supplements + 1)
        reason = f"Công dân đã bổ sung hồ sơ. Ngày hẹn trả kết quả mới: {new.appointment_date:%d/%m/%Y}."
        new, resumed = self._move(new, IN_PROGRESS, now, reason)
        new, assigned = self._assign(new, now)
        return Step(new, [resumed, *assigned], overdue_at=self.apology_at(new))

    def decided(self, state: DossierState | None, decision: Mapping[str, Any], now: dt.datetime) -> Step:
        """The agency's decision: refuse (STOPPED, the stop notice), ask for the fee, or finish."""
        new = self._require(state, IN_PROGRESS, event="a decision")
        self._require_responsible(new, decision["agency"]["code"], "decided")
        new = new.moved(document_id=decision["document_id"])
        if decision["decision"] == "REJECTED":
            new, stopped = self._move(new, STOPPED, now, decision["reason"])
            return Step(new, [stopped])
        procedure = self.province.procedure(new.procedure_code)
        fee = procedure.fee_vnd if procedure else 0
        if fee <= 0:
            new, emits = self._finish(new, now)
            return Step(new, emits)
        reference = payment_reference(new.dossier_code)
        request = {
            "dossier_code": new.dossier_code,
            "payment_reference": reference,
            "amount": {"amount": fee, "currency": "VND"},
            "due_date": self.calendar.add_working_days(self.today(now), PAYMENT_DAYS),
            "requested_at": now,
        }
        # the citizen's time to pay does not count
        new = new.moved(payment_reference=reference, paused_on=self.today(now))
        new, asked = self._move(new, PAYMENT_REQUESTED, now)
        return Step(new, [Emit(EventTypes.FEE_REQUESTED, request), asked], overdue_at=None)

    def fee_settled(self, state: DossierState | None, settled: Mapping[str, Any], now: dt.datetime) -> Step:
        new = self._require(state, PAYMENT_REQUESTED, event="a settlement")
        if settled["payment_reference"] != new.payment_reference:
            raise InvalidTransition(
                f"{new.dossier_code}: settlement of {settled['payment_reference']}, "
                f"but the fee requested is {new.payment_reference}"
            )
        new = self._resume(new.moved(paid_online=bool(settled["paid_online"])), now)
        new, emits = self._finish(new, now)
        return Step(new, emits)

    def _finish(self, state: DossierState, now: dt.datetime) -> tuple[DossierState, list[Emit]]:
        state, processed = self._move(state, PROCESSED, now)
        on_time = self.today(now) <= state.due_date
        result = {
            "dossier_code": state.dossier_code,
            "electronic": state.channel == "ONLINE",
            "document_id": state.document_id,
            "on_time": on_time,
            "returned_at": now,
        }
        state, returned = self._move(state.moved(on_time=on_time), RESULT_RETURNED, now)
        return state, [processed, Emit(EventTypes.RESULT_RETURNED, result), returned]

    def overdue(self, state: DossierState | None, now: dt.datetime) -> Step | None:
        """The apology timer fired: if the dossier is still unresolved with the agency's clock running, the
        agency apologises and asks for more time (the apology and extension request form), giving a new date;
        None when there is nothing to do. Before the date promised when the processing time allows it
        (`apology_at`), and at most `reschedules_max` times."""
        if state is None or state.status not in CLOCK_RUNS:
            return None
        due = self.apology_at(state)
        if due is None:
            return None  # the date was already moved as often as it may be: the dossier is only late
        if now < due:
            return Step(state, [], overdue_at=due)  # an early timer (the dates moved meanwhile): wait
        promised = state.appointment_date
        today = self.today(now)
        procedure = self.province.procedure(state.procedure_code)
        extension = max(2, math.ceil((procedure.processing_days if procedure else 4) / 2))
        new_date = self.calendar.add_working_days(max(promised, today), extension)
        new = state.moved(appointment_date=new_date, apologies=state.apologies + 1)
        agency = self.agency_ref(new.responsible_agency_code)
        record = {
            "dossier_code": new.dossier_code,
            "original_appointment_date": promised,
            "new_appointment_date": new_date,
            "apology": apology_text(agency["name"], promised, new_date, before=today <= promised),
            "responsible_agency": agency,
            "detected_at": now,
        }
        return Step(new, [Emit(EventTypes.DOSSIER_OVERDUE, record)], overdue_at=self.apology_at(new))


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def payment_reference(dossier_code: str) -> str:
    """The payment reference of a dossier's fee: one per dossier, so a request sent twice is paid once."""
    return "PAY-" + dossier_code.replace(".", "").replace("-", "")


_FIELD_NAMES_VI = {"full_name": "họ và tên", "date_of_birth": "ngày sinh", "sex": "giới tính"}


def refusal_reason(answer: Mapping[str, Any]) -> str:
    """The reason on the refusal slip (phiếu từ chối tiếp nhận, form key `refusal`) when the identity does not
    match."""
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


def apology_text(agency_name: str, promised: dt.date, new_date: dt.date, *, before: bool = True) -> str:
    """The apology with a request to extend the time (form key `apology_extension`): before the date promised,
    the agency apologises that the dossier is expected to be late and asks for the new date; after it (a
    processing time too short to warn ahead), that it was not resolved on time."""
    if before:
        return (
            f"{agency_name} xin lỗi Ông/Bà vì hồ sơ dự kiến không giải quyết kịp ngày hẹn "
            f"{promised:%d/%m/%Y} và đề nghị gia hạn thời gian giải quyết. "
            f"Ngày hẹn trả kết quả mới: {new_date:%d/%m/%Y}."
        )
    return (
        f"{agency_name} xin lỗi Ông/Bà vì hồ sơ chưa được giải quyết đúng hẹn ngày {promised:%d/%m/%Y}. "
        f"Ngày hẹn trả kết quả mới: {new_date:%d/%m/%Y}."
    )
