"""reporting rules: the indicators the province is measured on, computed from the events.

Pure functions: the app folds each event into a small record of facts per dossier, per payment and per
outgoing document (`dossier_facts`, `settlement_facts`, `document_facts`), and `report` turns those facts into
the indicators per procedure, agency and month whenever they are asked for. Because facts are set, never
added to, a redelivered event changes nothing.

Definitions (docs/indicators.md cites the sources):

- QĐ 766/QĐ-TTg (23/6/2022), the real-time service index: progress (on-time or early rate, average
  processing time), digitisation (share of dossiers with electronic results), online services (dossiers by
  channel, share paid online);
- the provincial DTI (QĐ 922/QĐ-BTTTT, 20/5/2022): the share of dossiers submitted online, and the share of
  outgoing official documents that carry a digital signature.

Each indicator is a numerator over a denominator counted in one month, in the province's time zone: the month
of receipt for the channel, the month the result was returned for progress and digitisation, the month of
settlement for payments, the month of registration for documents. The agency of a dossier is the one
responsible for resolving it; the agency of a document is the one issuing it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from egov.contracts.errors import FieldError

DIMENSIONS = ("procedure", "agency", "month")
ONLINE = "ONLINE"
#: Where a dossier can end without a result: refused at intake (3), stopped by the department (8).
FINAL_WITHOUT_RESULT = ("NOT_ACCEPTED", "STOPPED")
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class Indicator:
    id: str
    name: str
    name_en: str
    #: "ratio" (numerator ÷ denominator, 0..1) or "days" (total days ÷ number of dossiers).
    unit: str
    numerator: str
    denominator: str
    month_of: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


QD_766 = "QĐ 766/QĐ-TTg (23/6/2022)"
DTI = "Provincial DTI, QĐ 922/QĐ-BTTTT (20/5/2022)"

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "online_share",
        "Tỷ lệ hồ sơ nộp trực tuyến",
        "Share of dossiers submitted online",
        "ratio",
        "dossiers accepted at intake that came through the online channel",
        "dossiers accepted at intake (received, not refused at the identity check)",
        "receipt",
        f"{DTI}, digital-government headline metric; {QD_766}, online services (dossiers by channel)",
    ),
    Indicator(
        "on_time_rate",
        "Tỷ lệ hồ sơ giải quyết đúng hạn, trước hạn",
        "On-time or early rate",
        "ratio",
        "results returned on or before the appointment date",
        "results returned",
        "result",
        f"{QD_766}, progress",
    ),
    Indicator(
        "average_processing_days",
        "Thời gian giải quyết trung bình (ngày)",
        "Average processing time (days)",
        "days",
        "calendar days from receipt to result, summed",
        "results returned",
        "result",
        f"{QD_766}, progress",
    ),
    Indicator(
        "electronic_result_share",
        "Tỷ lệ hồ sơ trả kết quả điện tử",
        "Share of dossiers with an electronic result",
        "ratio",
        "results returned electronically",
        "results returned",
        "result",
        f"{QD_766}, digitisation",
    ),
    Indicator(
        "online_payment_share",
        "Tỷ lệ hồ sơ thanh toán trực tuyến",
        "Share of fees paid online",
        "ratio",
        "fees paid online",
        "fees settled",
        "settlement",
        f"{QD_766}, online services",
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
_UNITS = {i.id: i.unit for i in INDICATORS}
#: What each group also counts, beside the indicators.
COUNTS = ("received", "results", "stopped", "not_accepted", "fees_settled", "documents", "documents_issued")


# -- facts, folded from the events ------------------------------------------------------------------------
def _instant(value: Any) -> str:
    """An event's time as an ISO string in UTC (records carry datetimes; stored facts carry strings)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    parsed = dt.datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return parsed.astimezone(dt.UTC).isoformat()


def dossier_facts(
    state: Mapping[str, Any] | None, event_type: str, record: Mapping[str, Any]
) -> dict[str, Any]:
    """The facts of a dossier after one of its events on the one-stop system's stream. Events before the
    receipt (which names the procedure and agency) are kept as well: an indicator counts a dossier once its
    receipt is known."""
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
    elif short == "ResultReturned":
        facts.update(
            returned_at=_instant(record["returned_at"]),
            on_time=bool(record["on_time"]),
            electronic=bool(record["electronic"]),
        )
    elif short == "DossierStatusChanged":
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

    def keeps(self, procedure: str | None, agency: str | None, month: str) -> bool:
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
        if name not in ("by", *DIMENSIONS):
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
@dataclass
class _Tally:
    numerators: dict[str, float]
    denominators: dict[str, int]
    counts: dict[str, int]

    @classmethod
    def empty(cls) -> _Tally:
        return cls({i: 0.0 for i in INDICATOR_IDS}, {i: 0 for i in INDICATOR_IDS}, {c: 0 for c in COUNTS})

    def add(self, indicator: str, numerator: float) -> None:
        self.numerators[indicator] += numerator
        self.denominators[indicator] += 1

    def as_dict(self) -> dict[str, Any]:
        indicators = {}
        for ident in INDICATOR_IDS:
            num, den = self.numerators[ident], self.denominators[ident]
            digits = 2 if _UNITS[ident] == "days" else 4
            indicators[ident] = {
                "numerator": round(num, 4) if _UNITS[ident] == "days" else int(num),
                "denominator": den,
                "value": round(num / den, digits) if den else None,
            }
        return {"indicators": indicators, "counts": dict(self.counts)}


#: One contribution: (procedure, agency, month), then an indicator with its numerator, or a count.
_Contribution = tuple[tuple[str | None, str | None, str], str, float | None]


def _month(instant: str, zone: ZoneInfo) -> str:
    return dt.datetime.fromisoformat(instant).astimezone(zone).strftime("%Y-%m")


def _days(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds() / 86400


def _dossier_contributions(
    facts: Mapping[str, Any], settlements: Mapping[str, Any] | None, zone: ZoneInfo
) -> Iterator[_Contribution]:
    if "received_at" not in facts:  # no receipt seen: nothing says which procedure or agency it counts for
        return
    procedure, agency = facts["procedure_code"], facts["agency_code"]
    received = (procedure, agency, _month(facts["received_at"], zone))
    yield received, "received", None
    final = facts.get("final_status")
    if final is not None:
        ended = facts.get("final_at", facts["received_at"])
        yield (procedure, agency, _month(ended, zone)), final.lower(), None
    if final != "NOT_ACCEPTED":
        yield received, "online_share", 1.0 if facts["channel"] == ONLINE else 0.0
    if "returned_at" in facts:
        resolved = (procedure, agency, _month(facts["returned_at"], zone))
        yield resolved, "results", None
        yield resolved, "on_time_rate", 1.0 if facts["on_time"] else 0.0
        yield resolved, "average_processing_days", _days(facts["received_at"], facts["returned_at"])
        yield resolved, "electronic_result_share", 1.0 if facts["electronic"] else 0.0
    for settlement in (settlements or {}).values():
        settled = (procedure, agency, _month(settlement["settled_at"], zone))
        yield settled, "fees_settled", None
        yield settled, "online_payment_share", 1.0 if settlement["paid_online"] else 0.0


def _document_contributions(facts: Mapping[str, Any], zone: ZoneInfo) -> Iterator[_Contribution]:
    if "registered_at" not in facts:
        return
    where = (None, facts["agency_code"], _month(facts["registered_at"], zone))
    yield where, "documents", None
    if facts.get("issued"):
        yield where, "documents_issued", None
    yield where, "signed_document_share", 1.0 if facts.get("signed") else 0.0


def report(
    dossiers: Iterable[tuple[str, Mapping[str, Any]]],
    settlements: Mapping[str, Mapping[str, Any]],
    documents: Iterable[Mapping[str, Any]],
    query: Query,
    *,
    zone: ZoneInfo,
    agency_names: Mapping[str, str],
    generated_at: dt.datetime,
) -> dict[str, Any]:
    """The indicators, in total and per group of `query.by`, over the facts that pass its filters.

    A group names a procedure only for dossiers: outgoing documents belong to no procedure, so grouped by
    procedure they form a group whose procedure is null."""
    procedure_names: dict[str, str] = {}
    contributions: list[_Contribution] = []
    for code, facts in dossiers:
        if "procedure_code" in facts:
            procedure_names[facts["procedure_code"]] = facts["procedure_name"]
        contributions.extend(_dossier_contributions(facts, settlements.get(code), zone))
    issuers: dict[str, str] = {}
    for facts in documents:
        contributions.extend(_document_contributions(facts, zone))
        if "agency_code" in facts:
            issuers[facts["agency_code"]] = facts["agency_name"]
    names = {"procedure": procedure_names, "agency": {**issuers, **agency_names}}

    totals = _Tally.empty()
    groups: dict[tuple[str | None, ...], _Tally] = {}
    for (procedure, agency, month), what, numerator in contributions:
        if not query.keeps(procedure, agency, month):
            continue
        values = {"procedure": procedure, "agency": agency, "month": month}
        tallies = [totals]
        if query.by:
            tallies.append(groups.setdefault(tuple(values[d] for d in query.by), _Tally.empty()))
        for tally in tallies:
            if numerator is None:
                tally.counts[what] += 1
            else:
                tally.add(what, numerator)

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
        "totals": totals.as_dict(),
        "groups": [
            {**{d: label(d, v) for d, v in zip(query.by, key, strict=True)}, **groups[key].as_dict()}
            for key in sorted(groups, key=order)
        ],
    }
