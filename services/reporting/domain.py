"""reporting rules: the indicators the province is measured on, computed from the events by their own
formulas.

Pure functions: the app folds each event into a small record of facts per dossier, per payment and per
outgoing document (`dossier_facts`, `settlement_facts`, `document_facts`), and `report` turns those facts into
the indicators per procedure, agency and month whenever they are asked for. Because facts are set, never
added to, a redelivered event changes nothing.

The QĐ 766/QĐ-TTg (23/6/2022) indicators follow the formulas the National Public Service Portal computes them
by, as its "Mô tả công thức tính chỉ số 766" describes them (a secondary source: the description as kept in a
public repository, github.com/ChippedTopaz/qd766, not the decision's text; docs/indicators.md quotes it):

- 2.1 **on time** (`on_time_rate`, 20 points): over *every* dossier received or in processing in the period —
  in progress, refused, stopped, withdrawn and resolved — the share that ended, or stands at the period's end,
  on or before its appointment date; the end is the change to PROCESSED (else the result, a refusal, a stop or
  a withdrawal), the time waited for the citizen's supplement is subtracted from it, a dossier waiting for a
  supplement is judged at the request, and more than one supplement request is late. This project subtracts
  the time waited for the citizen's fee too, as its journey stops the clock for it (a choice, labelled).
- 2.2 **average time per procedure** (`average_processing_time`, no points): over the dossiers processed whose
  processing started (was received) in the period, the time from receipt to the end, supplement (and fee)
  time subtracted, in the procedure's own unit (working days, days, or hours for same-day procedures); given
  only for one procedure at a time.
- 3.3 **online dossiers** (`online_dossier_share`, in online services, 12 points): over the dossiers received
  in the period, those submitted online *and*, for a procedure whose result is a paper document, with an
  electronic result (a result file); times the share of dossiers synchronised, 1 here (no national portal).
- 3.6 **online payment** (`online_payment_share`, 6 of the 10 points of online payment): over every dossier
  received in the period of a procedure with a fee, those paid online.
- 4.1 **electronic result** (`electronic_result_share`, 6 of the 22 points of digitisation): over the dossiers
  received in the period of procedures whose result is a paper document, those whose result carries a result
  file (here the signed decision the department issued: `ResultReturned.document_id`).

The provincial DTI (QĐ 922/QĐ-BTTTT, 20/5/2022) adds the share of dossiers submitted online (`online_share`)
and the share of outgoing official documents that carry a digital signature (`signed_document_share`).

A period is a month in the province's time zone, or, when the query neither groups nor filters by month,
everything seen so far (judged now). An indicator counted in a month of its own event (receipt, result,
settlement, registration) adds up across months; the on-time rate counts a dossier in every month it was
received or in processing, so its months do not add up to its total. The agency of a dossier is the one
responsible for resolving it; the agency of a document is the one issuing it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from egov.contracts.errors import FieldError
from egov.platform.province import Province
from egov.regulations.basis import QD766_DESCRIPTION, Basis
from egov.regulations.workdays import WorkingCalendar

DIMENSIONS = ("procedure", "agency", "month")
ONLINE = "ONLINE"
#: Where a dossier can end without a result: refused at intake (3), withdrawn (7), stopped (8).
FINAL_WITHOUT_RESULT = ("NOT_ACCEPTED", "WITHDRAWN", "STOPPED")
#: The end of processing, in the order QĐ 766's description prefers them (processed before returned).
ENDS = ("PROCESSED", "RESULT_RETURNED", *FINAL_WITHOUT_RESULT)
#: The waits for the citizen whose time is subtracted: the supplement (QĐ 766), the fee (this project).
WAITS = ("SUPPLEMENT_REQUESTED", "PAYMENT_REQUESTED")
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
#: The unit an average processing time is given in, by the procedure's processing unit.
TIME_UNITS = {"working_days": "working_days", "days": "days", "same_day": "hours"}

QD_766 = "QĐ 766/QĐ-TTg (23/6/2022)"
DTI = "Provincial DTI, QĐ 922/QĐ-BTTTT (20/5/2022)"
#: QĐ 766's groups and their points as the national portal scores provinces in 2026 (secondary): the online
#: services of 2022 (22 points) are shown as online services 12 + online payment 10.
QD766_GROUPS: dict[str, tuple[str, int]] = {
    "transparency": ("Công khai, minh bạch", 18),
    "progress": ("Tiến độ, kết quả giải quyết", 20),
    "online_services": ("Cung cấp dịch vụ trực tuyến", 12),
    "online_payment": ("Thanh toán trực tuyến", 10),
    "digitisation": ("Số hóa hồ sơ", 22),
    "satisfaction": ("Mức độ hài lòng", 18),
}
#: What a score is, from an indicator's value: points × rate, or full points from 50 % (3.3).
Scoring = Literal["proportional", "full-from-50%"]

LEGAL_BASIS: tuple[Basis, ...] = (
    Basis(
        "qd766.groups",
        "QĐ 766's groups weigh 18 + 20 + 12 + 10 + 22 + 18 points: online services 12 and online payment 10 "
        "(the 22 points of 2022's online services, split); the average time carries no points.",
        "Quyết định 766/QĐ-TTg (23/6/2022), as the National Public Service Portal scores it in 2026",
        "the decision's annex (group points); the 12 + 10 split from the portal's scoring",
        "secondary",
        (
            "https://sonoivu.namdinh.gov.vn/cai-cach-hanh-chinh/thu-tuong-chinh-phu-phe-duyet-bo-chi-so-chi-dao-"
            "dieu-hanh-va-danh-gia-chat-luong-phuc-vu-nguoi-dan-doanh-nghiep-trong-2373",
            "github.com/ChippedTopaz/qd766 (web/src/formula-maximums.ts, from the portal's "
            "“Công thức 766.xlsx”)",
        ),
        "No 2024–2026 decision amending QĐ 766 was found; how the 12 points of online services are split "
        "among its criteria is not settled, so 3.3 gets no score here.",
    ),
    Basis(
        "qd766.on-time",
        "The on-time rate counts every dossier received or in processing in the period, judged at its end "
        "(or the period's end), the citizen's supplement time subtracted; more than one supplement request "
        "is late.",
        "Quyết định 766/QĐ-TTg, criterion 2.1, by the national portal's formula description",
        "criterion 2.1",
        "secondary",
        (QD766_DESCRIPTION,),
        "This project also subtracts the time waited for the citizen's fee, as its journey stops the clock "
        "for it (docs/adr/0005-citizen-journey.md).",
    ),
    Basis(
        "qd766.average-time",
        "The average processing time is per procedure, in the procedure's unit, over the dossiers processed "
        "whose processing started in the period, supplement time subtracted.",
        "Quyết định 766/QĐ-TTg, criterion 2.2, by the national portal's formula description",
        "criterion 2.2",
        "secondary",
        (QD766_DESCRIPTION,),
        "Same-day procedures are measured in hours (the description names hours, days, working days and "
        "months; which a same-day procedure uses is this project's choice).",
    ),
    Basis(
        "qd766.online-dossiers",
        "An online dossier counts as online only with an electronic result when its procedure's result is a "
        "paper document; over every dossier received in the period.",
        "Quyết định 766/QĐ-TTg, criterion 3.3, by the national portal's formula description",
        "criterion 3.3",
        "secondary",
        (QD766_DESCRIPTION,),
        "The description multiplies by the share of dossiers synchronised with the national portal, 1 here.",
    ),
    Basis(
        "qd766.online-payment",
        "The online payment rate is over every dossier of a procedure with a fee received in the period, not "
        "over the fees paid.",
        "Quyết định 766/QĐ-TTg, criterion 3.6, by the national portal's formula description",
        "criterion 3.6",
        "secondary",
        (QD766_DESCRIPTION,),
        "Worth 6 of the 10 points of online payment (reconstructed from the portal's scores: secondary).",
    ),
    Basis(
        "qd766.electronic-result",
        "An electronic result is a result file synchronised for a procedure whose result is a paper "
        "document, not a dossier submitted online.",
        "Quyết định 766/QĐ-TTg, criterion 4.1, by the national portal's formula description",
        "criterion 4.1",
        "secondary",
        (QD766_DESCRIPTION,),
        "The denominator, “hồ sơ thuộc thẩm quyền giải quyết”, is read as the dossiers received in the "
        "period (as the description defines it for criterion 4.3).",
    ),
    Basis(
        "dti.indicators",
        "The share of dossiers submitted online and of outgoing documents digitally signed.",
        "Quyết định 922/QĐ-BTTTT (20/5/2022), the provincial DTI",
        "the digital-government pillar's sub-indices (numbers unverified)",
        "secondary",
        ("the project's domain notes on the DTI",),
    ),
)


@dataclass(frozen=True)
class Indicator:
    id: str
    name: str
    name_en: str
    #: "ratio" (numerator ÷ denominator, 0..1) or "time" (total time ÷ dossiers, in the procedure's unit).
    unit: str
    numerator: str
    denominator: str
    month_of: str
    source: str
    #: QĐ 766's criterion number and group (None for the DTI's indicators).
    criterion: str | None = None
    group: str | None = None
    #: The criterion's maximum points, when known (0: shown, not scored).
    points: int | None = None
    scoring: Scoring | None = None
    #: The status of the formula's source (docs/legal-basis.md).
    basis: str = "secondary"

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        if self.group is not None:
            name, group_points = QD766_GROUPS[self.group]
            data["group"] = {"id": self.group, "name": name, "points": group_points}
        return data

    def score(self, value: float | None) -> float | None:
        if value is None or self.points is None or self.scoring is None:
            return None
        rate = value if self.scoring == "proportional" else min(1.0, value / 0.5)
        return round(self.points * rate, 2)


INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "online_share",
        "Tỷ lệ hồ sơ nộp trực tuyến (DTI)",
        "Share of dossiers submitted online",
        "ratio",
        "dossiers accepted at intake that came through the online channel",
        "dossiers accepted at intake (received, not refused at the identity check)",
        "receipt",
        f"{DTI}, digital-government headline metric",
    ),
    Indicator(
        "online_dossier_share",
        "Tỷ lệ hồ sơ trực tuyến (QĐ 766, chỉ tiêu 3.3)",
        "Share of online dossiers (QĐ 766, 3.3)",
        "ratio",
        "dossiers received online with, for a procedure whose result is a paper document, a result file",
        "dossiers received",
        "receipt",
        f"{QD_766}, criterion 3.3",
        criterion="3.3",
        group="online_services",
        scoring="full-from-50%",
    ),
    Indicator(
        "on_time_rate",
        "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn",
        "On-time or early rate",
        "ratio",
        "dossiers that ended, or stand at the period's end, on or before their appointment date, the "
        "citizen's supplement and fee time subtracted (more than one supplement request: late)",
        "every dossier received or in processing in the period (in progress, refused, stopped, withdrawn, "
        "resolved)",
        "receipt and of every later month in processing",
        f"{QD_766}, criterion 2.1",
        criterion="2.1",
        group="progress",
        points=20,
        scoring="proportional",
    ),
    Indicator(
        "average_processing_time",
        "Thời gian giải quyết TTHC trung bình theo từng TTHC",
        "Average processing time, per procedure",
        "time",
        "time from receipt to the end of processing, the citizen's supplement and fee time subtracted, "
        "summed",
        "dossiers processed (given for one procedure at a time)",
        "receipt",
        f"{QD_766}, criterion 2.2",
        criterion="2.2",
        group="progress",
        points=0,
    ),
    Indicator(
        "electronic_result_share",
        "Tỷ lệ hồ sơ có kết quả giải quyết điện tử",
        "Share of dossiers with an electronic result",
        "ratio",
        "dossiers whose result carries a result file (a signed decision)",
        "dossiers received of procedures whose result is a paper document",
        "receipt",
        f"{QD_766}, criterion 4.1",
        criterion="4.1",
        group="digitisation",
        points=6,
    ),
    Indicator(
        "online_payment_share",
        "Tỷ lệ hồ sơ thanh toán trực tuyến",
        "Share of dossiers paid online (with a fee)",
        "ratio",
        "dossiers paid online",
        "dossiers received of procedures with a fee",
        "receipt",
        f"{QD_766}, criterion 3.6",
        criterion="3.6",
        group="online_payment",
        points=6,
        scoring="proportional",
    ),
    Indicator(
        "signed_document_share",
        "Tỷ lệ văn bản đi được ký số",
        "Share of outgoing documents digitally signed",
        "ratio",
        "outgoing documents issued with a digital signature",
        "outgoing documents registered",
        "registration",
        f"{DTI}, digital-government activity",
    ),
)
INDICATOR_IDS = tuple(i.id for i in INDICATORS)
_BY_ID = {i.id: i for i in INDICATORS}
#: What each group also counts, beside the indicators.
COUNTS = (
    "received",
    "results",
    "stopped",
    "not_accepted",
    "withdrawn",
    "fees_settled",
    "documents",
    "documents_issued",
)


# -- the catalogue, as the formulas need it ----------------------------------------------------------------
@dataclass(frozen=True)
class ProcedureInfo:
    """What QĐ 766's formulas need to know of a procedure: its unit, whether it has a fee, whether its result
    is a paper document."""

    processing_unit: str = "working_days"
    fee_bearing: bool = False
    result_on_paper: bool = True


def catalogue(province: Province) -> dict[str, ProcedureInfo]:
    return {
        p.code: ProcedureInfo(p.processing_unit, p.fee_vnd > 0, p.result_on_paper)
        for p in province.procedures
    }


# -- facts, folded from the events ------------------------------------------------------------------------
def _instant(value: Any) -> str:
    """An event's time as an ISO string in UTC (records carry datetimes; stored facts carry strings)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    parsed = dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return parsed.astimezone(dt.UTC).isoformat()


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)).isoformat()


def dossier_facts(
    state: Mapping[str, Any] | None, event_type: str, record: Mapping[str, Any]
) -> dict[str, Any]:
    """The facts of a dossier after one of its events on the one-stop system's stream. Events before the
    receipt (which names the procedure and agency) are kept as well: an indicator counts a dossier once its
    receipt is known. Every status change is kept by its transition (`FROM>TO`), each time once, which is
    what the on-time and average-time formulas read the waits and the end of processing from."""
    facts = dict(state or {})
    short = event_type.rsplit(".", 1)[-1]
    if short == "DossierReceived":
        facts.update(
            procedure_code=record["procedure_code"],
            procedure_name=record["procedure_name"],
            agency_code=record["responsible_agency_code"],
            channel=record["channel"],
            received_at=_instant(record["received_at"]),
        )
        if record.get("appointment_date") is not None:
            facts["appointment_date"] = _day(record["appointment_date"])
        facts["processing_unit"] = record.get("processing_unit") or "working_days"
    elif short == "ResultReturned":
        facts.update(
            returned_at=_instant(record["returned_at"]),
            on_time=bool(record["on_time"]),
            electronic=bool(record["electronic"]),
            result_file=bool(record.get("document_id")),
        )
    elif short == "DossierStatusChanged":
        transition = f"{record.get('from_status') or ''}>{record['to_status']}"
        changes = {k: list(v) for k, v in (facts.get("changes") or {}).items()}
        times = set(changes.get(transition, []))
        times.add(_instant(record["changed_at"]))
        changes[transition] = sorted(times)
        facts["changes"] = changes
        if record["to_status"] in FINAL_WITHOUT_RESULT:
            facts.update(final_status=record["to_status"], final_at=_instant(record["changed_at"]))
    else:
        raise ValueError(f"reporting does not count {event_type}")
    return facts


def settlement_facts(
    state: Mapping[str, Any] | None, event_type: str, record: Mapping[str, Any]
) -> dict[str, Any]:
    """The fees settled for a dossier, by payment reference (a settlement seen again replaces itself)."""
    if event_type.rsplit(".", 1)[-1] != "FeeSettled":
        raise ValueError(f"reporting does not count {event_type}")
    facts = dict(state or {})
    facts[record["payment_reference"]] = {
        "paid_online": bool(record["paid_online"]),
        "settled_at": _instant(record["settled_at"]),
    }
    return facts


def document_facts(
    state: Mapping[str, Any] | None, event_type: str, record: Mapping[str, Any]
) -> dict[str, Any]:
    """An outgoing document's facts: who issues it, when it was registered, whether it went out signed."""
    facts = dict(state or {})
    short = event_type.rsplit(".", 1)[-1]
    if short == "DocumentRegistered":
        facts.update(
            agency_code=record["issuing_agency"]["code"],
            agency_name=record["issuing_agency"]["name"],
            registered_at=_instant(record["registered_at"]),
        )
    elif short == "DocumentIssued":
        facts.update(issued=True, signed=bool(record.get("signature")))
        facts.setdefault("agency_code", record["issuing_agency"]["code"])
        facts.setdefault("agency_name", record["issuing_agency"]["name"])
    else:
        raise ValueError(f"reporting does not count {event_type}")
    return facts


# -- a dossier's timeline, as QĐ 766 reads it ------------------------------------------------------------
def _at(instant: str) -> dt.datetime:
    return dt.datetime.fromisoformat(instant)


@dataclass(frozen=True)
class Timeline:
    """When a dossier was received, promised, waited for the citizen, and ended, from its status changes."""

    received: dt.datetime
    appointment: dt.date | None
    #: Each time the dossier was sent back for a supplement.
    supplement_requests: tuple[dt.datetime, ...]
    #: The citizen's waits (supplement, fee): start and end (None: still waiting).
    waits: tuple[tuple[dt.datetime, dt.datetime | None], ...]
    #: The end of processing: processed, else the result, refused, withdrawn or stopped (None: not yet).
    end: dt.datetime | None
    processed: bool

    @classmethod
    def of(cls, facts: Mapping[str, Any]) -> Timeline:
        changes: Mapping[str, list[str]] = facts.get("changes") or {}

        def entering(status: str) -> list[dt.datetime]:
            return sorted(_at(t) for k, times in changes.items() if k.endswith(f">{status}") for t in times)

        def leaving(status: str) -> list[dt.datetime]:
            return sorted(_at(t) for k, times in changes.items() if k.startswith(f"{status}>") for t in times)

        waits = []
        for status in WAITS:
            exits = leaving(status)
            for start in entering(status):
                end = next((e for e in exits if e >= start), None)
                if end is not None:
                    exits.remove(end)
                waits.append((start, end))
        end, processed = None, False
        for status in ENDS:
            times = entering(status)
            if not times and status == "RESULT_RETURNED" and "returned_at" in facts:
                times = [_at(facts["returned_at"])]
            if times:
                end, processed = times[0], status in ("PROCESSED", "RESULT_RETURNED")
                break
        appointment = facts.get("appointment_date")
        return cls(
            received=_at(facts["received_at"]),
            appointment=dt.date.fromisoformat(appointment) if appointment else None,
            supplement_requests=tuple(entering("SUPPLEMENT_REQUESTED")),
            waits=tuple(sorted(waits, key=lambda w: w[0])),
            end=end,
            processed=processed,
        )

    def effective_end(self, until: dt.datetime) -> dt.datetime:
        """The end of processing as of `until` (or `until` when not ended by then), minus the time the
        citizen was waited for before it (a wait still open at the end runs to the end)."""
        end = self.end if self.end is not None and self.end <= until else until
        waited = dt.timedelta()
        for start, stop in self.waits:
            if start < end:
                waited += min(stop or end, end) - start
        return end - waited

    def on_time(self, until: dt.datetime, zone: ZoneInfo) -> bool | None:
        """QĐ 766 criterion 2.1 as of `until`; None without an appointment date to judge against."""
        if self.appointment is None:
            return None
        if sum(1 for t in self.supplement_requests if t <= until) > 1:
            return False  # “Yêu cầu bổ sung hồ sơ hơn 01 lần thì tính quá hạn”
        return self.effective_end(until).astimezone(zone).date() <= self.appointment

    def active_in(self, start: dt.datetime, stop: dt.datetime) -> bool:
        """Received or in processing between `start` and `stop` (exclusive)."""
        return self.received < stop and (self.end is None or self.end >= start)


def processing_time(
    timeline: Timeline, unit: str, zone: ZoneInfo, calendar: WorkingCalendar
) -> tuple[float, str] | None:
    """QĐ 766 criterion 2.2: the time from receipt to the end of a processed dossier, the citizen's waits
    subtracted, in the procedure's own unit; None while not processed."""
    if not timeline.processed or timeline.end is None:
        return None
    end = timeline.effective_end(timeline.end)
    shown = TIME_UNITS.get(unit, "working_days")
    if shown == "working_days":
        start_day, end_day = timeline.received.astimezone(zone).date(), end.astimezone(zone).date()
        return float(calendar.working_days_between(start_day, end_day)), shown
    seconds = max(0.0, (end - timeline.received).total_seconds())
    return (seconds / 3600, shown) if shown == "hours" else (seconds / 86400, shown)


# -- the query -------------------------------------------------------------------------------------------
class InvalidQuery(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Query:
    """Which dimensions to group by (none: the totals only) and which values to keep."""

    by: tuple[str, ...] = DIMENSIONS
    procedure: str | None = None
    agency: str | None = None
    month: str | None = None

    def keeps(self, procedure: str | None, agency: str | None, month: str | None) -> bool:
        return (
            (self.procedure is None or procedure == self.procedure)
            and (self.agency is None or agency == self.agency)
            and (self.month is None or month == self.month)
        )


def parse_query(pairs: Iterable[tuple[str, str]]) -> Query:
    """The query string of `GET /api/v1/indicators`, as its (name, value) pairs; every wrong parameter is
    named."""
    errors: list[FieldError] = []
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in QUERY_PARAMETERS:
            message = f"is not a parameter (use by, {', '.join(DIMENSIONS)})"
            errors.append(FieldError(name, "parameter", message))
        elif name in params:
            errors.append(FieldError(name, "unique", "is given more than once"))
        params[name] = value
    by: tuple[str, ...] = DIMENSIONS
    if "by" in params:
        by = tuple(part for part in (p.strip() for p in params["by"].split(",")) if part)
        wrong = [part for part in by if part not in DIMENSIONS]
        if wrong:
            errors.append(
                FieldError("by", "enum", f"{', '.join(wrong)} is not one of {', '.join(DIMENSIONS)}")
            )
        elif len(set(by)) != len(by):
            errors.append(FieldError("by", "unique", "names a dimension twice"))
    month = params.get("month")
    if month is not None and not MONTH.fullmatch(month):
        errors.append(FieldError("month", "format", f"{month!r} is not a month as YYYY-MM"))
    if errors:
        raise InvalidQuery(errors)
    ordered = tuple(d for d in DIMENSIONS if d in by)
    return Query(ordered, params.get("procedure"), params.get("agency"), month)


# -- the report ------------------------------------------------------------------------------------------
#: Which tallies a contribution goes to: "any" is counted in a month of its own event, wherever it is asked
#: for; "monthly" only where the period is a month; "overall" only where it is everything seen so far.
Scope = Literal["any", "monthly", "overall"]


@dataclass
class _Tally:
    numerators: dict[str, float]
    denominators: dict[str, int]
    counts: dict[str, int]
    #: For the average time: the procedures and units counted, which must be one each for a value.
    procedures: dict[str, set[str]] = field(default_factory=dict)
    units: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> _Tally:
        return cls({i: 0.0 for i in INDICATOR_IDS}, {i: 0 for i in INDICATOR_IDS}, {c: 0 for c in COUNTS})

    def add(self, indicator: str, numerator: float, procedure: str | None, unit: str | None) -> None:
        self.numerators[indicator] += numerator
        self.denominators[indicator] += 1
        if procedure is not None:
            self.procedures.setdefault(indicator, set()).add(procedure)
        if unit is not None:
            self.units.setdefault(indicator, set()).add(unit)

    def result(self, indicator: Indicator) -> dict[str, Any]:
        num, den = self.numerators[indicator.id], self.denominators[indicator.id]
        if indicator.unit == "time":
            units = self.units.get(indicator.id, set())
            single = len(self.procedures.get(indicator.id, set())) == 1 and len(units) == 1
            if not den:
                return {"numerator": 0, "denominator": 0, "value": None, "unit": None, "score": None}
            if not single:  # QĐ 766 gives it for one procedure at a time, in that procedure's unit
                return {"numerator": None, "denominator": den, "value": None, "unit": None, "score": None}
            (unit,) = units
            average = round(num / den, 2)
            return {
                "numerator": round(num, 4),
                "denominator": den,
                "value": average,
                "unit": unit,
                "score": None,
            }
        value = round(num / den, 4) if den else None
        return {"numerator": int(num), "denominator": den, "value": value, "score": indicator.score(value)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicators": {i.id: self.result(i) for i in INDICATORS},
            "counts": dict(self.counts),
        }

    def merge(self, other: _Tally) -> None:
        """Add `other`'s figures to these (the same facts counted apart, e.g. by another worker)."""
        for indicator in INDICATOR_IDS:
            self.numerators[indicator] += other.numerators[indicator]
            self.denominators[indicator] += other.denominators[indicator]
        for count in COUNTS:
            self.counts[count] += other.counts[count]
        for mine, theirs in ((self.procedures, other.procedures), (self.units, other.units)):
            for indicator, values in theirs.items():
                mine.setdefault(indicator, set()).update(values)

    def to_json(self) -> dict[str, Any]:
        return {
            "numerators": self.numerators,
            "denominators": self.denominators,
            "counts": self.counts,
            "procedures": {k: sorted(v) for k, v in self.procedures.items()},
            "units": {k: sorted(v) for k, v in self.units.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Tally:
        tally = cls.empty()
        tally.numerators.update({k: float(v) for k, v in data["numerators"].items()})
        tally.denominators.update({k: int(v) for k, v in data["denominators"].items()})
        tally.counts.update({k: int(v) for k, v in data["counts"].items()})
        tally.procedures = {k: set(v) for k, v in data["procedures"].items()}
        tally.units = {k: set(v) for k, v in data["units"].items()}
        return tally


@dataclass
class Tallies:
    """The figures of a report before they become ratios: its totals and groups, and the names of what they
    count. Tallies of disjoint facts add up (`merge`), so each worker of the reporting service tallies the
    partitions it holds and one of them renders the sum (docs/adr/0016)."""

    totals: _Tally
    groups: dict[tuple[str | None, ...], _Tally]
    procedure_names: dict[str, str]
    issuers: dict[str, str]

    @classmethod
    def empty(cls) -> Tallies:
        return cls(_Tally.empty(), {}, {}, {})

    def merge(self, other: Tallies) -> None:
        self.totals.merge(other.totals)
        for key, tally in other.groups.items():
            self.groups.setdefault(key, _Tally.empty()).merge(tally)
        self.procedure_names.update(other.procedure_names)
        self.issuers.update(other.issuers)

    def to_json(self) -> dict[str, Any]:
        return {
            "totals": self.totals.to_json(),
            "groups": [[list(key), tally.to_json()] for key, tally in self.groups.items()],
            "procedure_names": self.procedure_names,
            "issuers": self.issuers,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tallies:
        return cls(
            _Tally.from_json(data["totals"]),
            {tuple(key): _Tally.from_json(tally) for key, tally in data["groups"]},
            dict(data["procedure_names"]),
            dict(data["issuers"]),
        )


#: One contribution: (procedure, agency, month), what it adds to (an indicator, with its numerator, or a
#: count, numerator None), its scope, and the unit of a time.
_Contribution = tuple[tuple[str | None, str | None, str | None], str, float | None, Scope, str | None]


def _month(instant: str, zone: ZoneInfo) -> str:
    return dt.datetime.fromisoformat(instant).astimezone(zone).strftime("%Y-%m")


def _months(
    start: dt.datetime, stop: dt.datetime, zone: ZoneInfo
) -> Iterator[tuple[str, dt.datetime, dt.datetime]]:
    """Each month from `start`'s to `stop`'s in the province: its name, first instant and the next month's."""
    local = start.astimezone(zone)
    first = dt.datetime(local.year, local.month, 1, tzinfo=zone)
    while first <= stop:
        following = dt.datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=zone)
        yield first.strftime("%Y-%m"), first.astimezone(dt.UTC), following.astimezone(dt.UTC)
        first = following


def _dossier_contributions(
    facts: Mapping[str, Any],
    settlements: Mapping[str, Any] | None,
    *,
    zone: ZoneInfo,
    procedures: Mapping[str, ProcedureInfo],
    calendar: WorkingCalendar,
    now: dt.datetime,
) -> Iterator[_Contribution]:
    if "received_at" not in facts:  # no receipt seen: nothing says which procedure or agency it counts for
        return
    procedure, agency = facts["procedure_code"], facts["agency_code"]
    info = procedures.get(procedure) or ProcedureInfo(facts.get("processing_unit") or "working_days")
    received = (procedure, agency, _month(facts["received_at"], zone))
    yield received, "received", None, "any", None
    final = facts.get("final_status")
    if final is not None:
        ended = facts.get("final_at", facts["received_at"])
        yield (procedure, agency, _month(ended, zone)), final.lower(), None, "any", None
    if final != "NOT_ACCEPTED":
        yield received, "online_share", 1.0 if facts["channel"] == ONLINE else 0.0, "any", None
    result_file = bool(facts.get("result_file"))
    online = facts["channel"] == ONLINE and (result_file or not info.result_on_paper)
    yield received, "online_dossier_share", 1.0 if online else 0.0, "any", None
    if info.result_on_paper:
        yield received, "electronic_result_share", 1.0 if result_file else 0.0, "any", None
    if info.fee_bearing:
        paid = any(s["paid_online"] for s in (settlements or {}).values())
        yield received, "online_payment_share", 1.0 if paid else 0.0, "any", None
    if "returned_at" in facts:
        yield (procedure, agency, _month(facts["returned_at"], zone)), "results", None, "any", None
    for settlement in (settlements or {}).values():
        yield (procedure, agency, _month(settlement["settled_at"], zone)), "fees_settled", None, "any", None

    timeline = Timeline.of(facts)
    time = processing_time(timeline, info.processing_unit, zone, calendar)
    if time is not None:
        yield received, "average_processing_time", time[0], "any", time[1]
    overall = timeline.on_time(now, zone)
    if overall is None:
        return
    yield (procedure, agency, None), "on_time_rate", 1.0 if overall else 0.0, "overall", None
    last = min(timeline.end, now) if timeline.end is not None else now
    for month, first, following in _months(timeline.received, last, zone):
        if not timeline.active_in(first, following):
            continue
        verdict = timeline.on_time(min(following - dt.timedelta(microseconds=1), now), zone)
        yield (procedure, agency, month), "on_time_rate", 1.0 if verdict else 0.0, "monthly", None


def _document_contributions(facts: Mapping[str, Any], zone: ZoneInfo) -> Iterator[_Contribution]:
    if "registered_at" not in facts:
        return
    where = (None, facts["agency_code"], _month(facts["registered_at"], zone))
    yield where, "documents", None, "any", None
    if facts.get("issued"):
        yield where, "documents_issued", None, "any", None
    yield where, "signed_document_share", 1.0 if facts.get("signed") else 0.0, "any", None


def _in_scope(scope: Scope, by_month: bool) -> bool:
    return scope == "any" or scope == ("monthly" if by_month else "overall")


def report(
    dossiers: Iterable[tuple[str, Mapping[str, Any]]],
    settlements: Mapping[str, Mapping[str, Any]],
    documents: Iterable[Mapping[str, Any]],
    query: Query,
    *,
    zone: ZoneInfo,
    agency_names: Mapping[str, str],
    generated_at: dt.datetime,
    procedures: Mapping[str, ProcedureInfo] | None = None,
    calendar: WorkingCalendar | None = None,
) -> dict[str, Any]:
    """The indicators, in total and per group of `query.by`, over the facts that pass its filters, as of
    `generated_at` (an unfinished dossier is judged then, or at the end of its month): `render` of `tally`.

    A group names a procedure only for dossiers: outgoing documents belong to no procedure, so grouped by
    procedure they form a group whose procedure is null. `procedures` is the catalogue as the formulas need
    it (`catalogue(province)`); a procedure missing from it has no fee and a paper result."""
    tallies = tally(
        dossiers,
        settlements,
        documents,
        query,
        zone=zone,
        generated_at=generated_at,
        procedures=procedures,
        calendar=calendar,
    )
    return render(tallies, query, zone=zone, agency_names=agency_names, generated_at=generated_at)


def tally(
    dossiers: Iterable[tuple[str, Mapping[str, Any]]],
    settlements: Mapping[str, Mapping[str, Any]],
    documents: Iterable[Mapping[str, Any]],
    query: Query,
    *,
    zone: ZoneInfo,
    generated_at: dt.datetime,
    procedures: Mapping[str, ProcedureInfo] | None = None,
    calendar: WorkingCalendar | None = None,
) -> Tallies:
    """The figures of the report on these facts (see `report`), before they become ratios."""
    procedures = procedures or {}
    calendar = calendar or WorkingCalendar()
    found = Tallies.empty()
    contributions: list[_Contribution] = []
    for code, facts in dossiers:
        if "procedure_code" in facts:
            found.procedure_names[facts["procedure_code"]] = facts["procedure_name"]
        contributions.extend(
            _dossier_contributions(
                facts,
                settlements.get(code),
                zone=zone,
                procedures=procedures,
                calendar=calendar,
                now=generated_at,
            )
        )
    for facts in documents:
        contributions.extend(_document_contributions(facts, zone))
        if "agency_code" in facts:
            found.issuers[facts["agency_code"]] = facts["agency_name"]

    months_in_totals = query.month is not None
    months_in_groups = months_in_totals or "month" in query.by
    for (procedure, agency, month), what, numerator, scope, unit in contributions:
        if not query.keeps(procedure, agency, month):
            continue
        tallies = []
        if _in_scope(scope, months_in_totals):
            tallies.append(found.totals)
        if query.by and _in_scope(scope, months_in_groups):
            values = {"procedure": procedure, "agency": agency, "month": month}
            tallies.append(found.groups.setdefault(tuple(values[d] for d in query.by), _Tally.empty()))
        for each in tallies:
            if numerator is None:
                each.counts[what] += 1
            else:
                each.add(what, numerator, procedure, unit)
    return found


def render(
    tallies: Tallies,
    query: Query,
    *,
    zone: ZoneInfo,
    agency_names: Mapping[str, str],
    generated_at: dt.datetime,
) -> dict[str, Any]:
    """The report's answer (see `report`) from its figures."""
    names = {"procedure": tallies.procedure_names, "agency": {**tallies.issuers, **agency_names}}
    groups = tallies.groups

    def label(dimension: str, value: str | None) -> Any:
        if dimension == "month" or value is None:
            return value
        return {"code": value, "name": names[dimension].get(value, value)}

    def order(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
        return tuple((value is None, value or "") for value in key)

    return {
        "generated_at": generated_at.isoformat(),
        "time_zone": zone.key,
        "group_by": list(query.by),
        "filters": {d: getattr(query, d) for d in DIMENSIONS if getattr(query, d) is not None},
        "definitions": [i.as_dict() for i in INDICATORS],
        "totals": tallies.totals.as_dict(),
        "groups": [
            {**{d: label(d, v) for d, v in zip(query.by, key, strict=True)}, **groups[key].as_dict()}
            for key in sorted(groups, key=order)
        ],
    }


class IndicatorsReport(BaseModel):
    """What `GET /api/v1/indicators` answers (`report`)."""

    model_config = ConfigDict(extra="forbid")

    generated_at: str = Field(description="When it was computed (business time), RFC 3339.")
    time_zone: str = Field(description="The province's time zone, in which months are counted.")
    group_by: list[Literal["procedure", "agency", "month"]] = Field(description="The dimensions grouped by.")
    filters: dict[str, str] = Field(description="The filters applied (procedure, agency, month).")
    definitions: list[dict[str, Any]] = Field(description="Each indicator: key, name, formula, source.")
    totals: dict[str, Any] = Field(description="Each indicator's value, numerator and denominator in total.")
    groups: list[dict[str, Any]] = Field(description="The same per group, with the group's labels.")


class IndicatorsPart(BaseModel):
    """What one worker answers for the partitions it holds (`tally`), to the worker adding the parts up."""

    model_config = ConfigDict(extra="forbid")

    partitions: list[int] = Field(description="The partitions of the facts counted (those the worker holds).")
    tallies: dict[str, Any] = Field(description="The figures before they become ratios (`Tallies.to_json`).")


#: The query parameters `parse_query` takes, with what the OpenAPI document says of each.
QUERY_PARAMETERS: dict[str, tuple[str, dict[str, Any]]] = {
    "by": (
        f"Dimensions to group by, comma-separated ({', '.join(DIMENSIONS)}); empty: the totals only; "
        "absent: all three.",
        {"type": "string", "maxLength": 100},
    ),
    "procedure": ("Only this procedure (its code).", {"type": "string", "maxLength": 100}),
    "agency": ("Only this responsible or issuing agency (its code).", {"type": "string", "maxLength": 100}),
    "month": (
        "Only this month, YYYY-MM, in the province's time zone.",
        {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"},
    ),
}
