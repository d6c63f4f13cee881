"""The LGSP's rules: who may call what (the access policy), what an error code means, and the state of a
request it mediates to a national system (correlation, time-out, retries with back-off). Pure.

The LGSP is the only door between the province's systems and the national ones, and between agencies
(Thông tư 13/2017/TT-BTTTT Art. 17). It forwards a request under its own correlation id, waits for the
answer with a time-out, tries again with a growing back-off, and always answers the caller: with the
national system's verdict, or with TIMEOUT when every attempt went unanswered, so no dossier hangs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from egov.contracts.envelope import SOURCE_PREFIX
from egov.paths import REPO_ROOT

DEFAULT_POLICY = REPO_ROOT / "architecture" / "lgsp-access-policy.yaml"

#: LGSP API error codes (a provincial NGSP/LGSP connection guide).
AUTHEN_ERROR = 100
IP_DISALLOWED = 101
AGENCY_ID_INCORRECT = 106
RECORD_NOT_FOUND = 201
DATA_INCORRECT = 500
ERROR_NAMES = {
    AUTHEN_ERROR: "AUTHEN_ERROR",
    IP_DISALLOWED: "IP_DISALLOWED",
    AGENCY_ID_INCORRECT: "AGENCY_ID_INCORRECT",
    RECORD_NOT_FOUND: "RECORD_NOT_FOUND",
    DATA_INCORRECT: "DATA_INCORRECT",
}

#: The services the LGSP mediates, by operation name.
VERIFY_IDENTITY = "population.verify-identity"
DELIVER_DOSSIER = "agency.deliver-dossier"
DELIVER_CASE_EVENT = "onestop.deliver-case-event"
EXCHANGE_DOCUMENTS = "agencies.exchange-documents"
OPERATIONS = frozenset({VERIFY_IDENTITY, DELIVER_DOSSIER, DELIVER_CASE_EVENT, EXCHANGE_DOCUMENTS})

#: First back-off before a retry, in real seconds; doubled at each further attempt.
BACKOFF_INITIAL = 0.5

_CORRELATION = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:lgsp:correlation")


#: How far a case event's times may run ahead of the LGSP's business clock by default: the systems' clocks
#: differ a little, a decision dated days ahead is not a clock's error.
DEFAULT_CLOCK_SKEW = dt.timedelta(minutes=5)


class LgspError(Exception):
    """The LGSP refuses a message: `code` is one of the LGSP error codes, `reason` says why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"LGSP {code} {ERROR_NAMES[code]}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class AccessPolicy:
    """Which registered caller may call which operation."""

    may_call: Mapping[str, frozenset[str]]

    @classmethod
    def load(cls, path: Path | None = None) -> AccessPolicy:
        path = path or DEFAULT_POLICY
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        callers = data.get("callers") or {}
        if not isinstance(callers, dict):
            raise ValueError(f"{path}: `callers` must map a system to what it may call")
        may_call: dict[str, frozenset[str]] = {}
        for caller, entry in callers.items():
            operations = frozenset((entry or {}).get("may_call") or ())
            unknown = operations - OPERATIONS
            if unknown:
                known = ", ".join(sorted(OPERATIONS))
                raise ValueError(
                    f"{path}: {caller} may call {', '.join(sorted(unknown))}: not one of {known}"
                )
            may_call[str(caller)] = operations
        return cls(may_call)

    def authorise(self, *, topic_owner: str, source: str, operation: str) -> None:
        """Raise LgspError unless the system owning the request's topic, named by its ce_source, may call
        `operation`."""
        if source != f"{SOURCE_PREFIX}{topic_owner}":
            raise LgspError(
                AUTHEN_ERROR, f"the request claims to come from {source} but arrived on {topic_owner}'s topic"
            )
        if topic_owner not in self.may_call:
            raise LgspError(AUTHEN_ERROR, f"{topic_owner} is not a registered caller of the LGSP")
        if operation not in self.may_call[topic_owner]:
            raise LgspError(IP_DISALLOWED, f"{topic_owner} may not call {operation}")


def check_agency(code: str, known: Mapping[str, Any] | frozenset[str] | set[str]) -> None:
    """Raise LgspError 106 unless `code` is an agency of the province."""
    if code not in known:
        raise LgspError(AGENCY_ID_INCORRECT, f"{code} is not an agency code of the province")


#: Where a case event names an agency: who decides or asks, and the agency of the deciding official.
CASE_EVENT_AGENCIES = ("agency", "requested_by", "decided_by.agency")


def agencies_named(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, agency code) of each agency a case event names (`CASE_EVENT_AGENCIES`)."""
    found: list[tuple[str, str]] = []
    for path in CASE_EVENT_AGENCIES:
        value: Any = record
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, Mapping) and isinstance(value.get("code"), str):
            found.append((path, value["code"]))
    return found


def check_assigned(dossier_code: str, named: list[tuple[str, str]], assigned_to: str | None) -> None:
    """Raise LgspError 106 unless the dossier was assigned, through the LGSP, to every agency a case event
    names (`agencies_named`): a department decides or asks a supplement only for the dossiers it was given,
    by its own officials."""
    if not named:
        raise LgspError(AGENCY_ID_INCORRECT, f"the case event of dossier {dossier_code} names no agency")
    if assigned_to is None:
        raise LgspError(
            AGENCY_ID_INCORRECT,
            f"dossier {dossier_code} was never assigned to an agency through the LGSP, so {named[0][1]} "
            "may not act on it",
        )
    others = [f"{path} {code}" for path, code in named if code != assigned_to]
    if others:
        raise LgspError(
            AGENCY_ID_INCORRECT,
            f"dossier {dossier_code} is assigned to {assigned_to}, but the event names {', '.join(others)}",
        )


def business_times(value: Any, path: str = "") -> list[tuple[str, dt.datetime]]:
    """Every time in a record (nested records and lists included), with its dotted path."""
    if isinstance(value, dt.datetime):
        return [(path or "(value)", value)]
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return []
    found: list[tuple[str, dt.datetime]] = []
    for key, item in items:
        found += business_times(item, f"{path}.{key}" if path else str(key))
    return found


def check_not_ahead(record: Mapping[str, Any], *, now: dt.datetime, skew: dt.timedelta) -> None:
    """Raise LgspError 500 if a time of a case event (when it was decided, when it was asked) is later than
    the LGSP's business time `now` by more than `skew`: a case event tells what happened, never what will."""
    ahead = [(path, at) for path, at in business_times(record) if at > now + skew]
    if ahead:
        named = ", ".join(f"{path} {at.isoformat()}" for path, at in ahead)
        raise LgspError(
            DATA_INCORRECT,
            f"{named}: in the future, ahead of the LGSP's business time {now.isoformat()} by more than the "
            f"allowed clock skew ({skew.total_seconds():g} s)",
        )


# -- mediated requests ----------------------------------------------------------------------------------
def correlation_id(caller: str, request_id: str) -> str:
    """The LGSP's own id for a mediated request: one per caller request, the same on redelivery."""
    return str(uuid.uuid5(_CORRELATION, f"{caller}/{request_id}"))


def backoff(attempt: int) -> float:
    """Real seconds to wait after attempt `attempt` went unanswered, before the next one."""
    return BACKOFF_INITIAL * 2 ** (attempt - 1)


@dataclass(frozen=True)
class Retry:
    """Try again after `delay` real seconds."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Every attempt went unanswered: answer the caller TIMEOUT."""


def after_deadline(pending: Mapping[str, Any], attempts: int) -> Retry | GiveUp | None:
    """What to do when an attempt's time-out passed; None if the request is no longer waiting."""
    if pending.get("state") != "waiting":
        return None
    attempt = int(pending["attempt"])
    return Retry(backoff(attempt)) if attempt < attempts else GiveUp()


def open_request(caller: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """The pending state of an identity verification the LGSP forwards (JSON-compatible)."""
    citizen = dict(request["citizen"])
    citizen["date_of_birth"] = citizen["date_of_birth"].isoformat()
    return {
        "correlation_id": correlation_id(caller, request["request_id"]),
        "request_id": request["request_id"],
        "dossier_code": request["dossier_code"],
        "caller": caller,
        "citizen": citizen,
        "attempt": 1,
        "state": "waiting",
    }


def lookup_request(pending: Mapping[str, Any], *, now: dt.datetime, deadline: dt.datetime) -> dict[str, Any]:
    """The PopulationLookupRequested of the pending request's current attempt."""
    citizen = dict(pending["citizen"])
    citizen["date_of_birth"] = dt.date.fromisoformat(citizen["date_of_birth"])
    return {
        "correlation_id": pending["correlation_id"],
        "calling_system": pending["caller"],
        "citizen": citizen,
        "attempt": int(pending["attempt"]),
        "deadline": deadline,
        "requested_at": now,
    }


def identity_answer(
    pending: Mapping[str, Any],
    *,
    outcome: str,
    now: dt.datetime,
    mismatched_fields: tuple[str, ...] | list[str] = (),
    error_code: int | None = None,
) -> dict[str, Any]:
    """The IdentityVerificationAnswered for the caller. NOT_FOUND carries 201 RECORD_NOT_FOUND."""
    if outcome == "NOT_FOUND" and error_code is None:
        error_code = RECORD_NOT_FOUND
    return {
        "dossier_code": pending["dossier_code"],
        "request_id": pending["request_id"],
        "outcome": outcome,
        "mismatched_fields": list(mismatched_fields),
        "error_code": error_code,
        "answered_at": now,
    }


def closed(pending: Mapping[str, Any], state: str) -> dict[str, Any]:
    """The request after its answer: only what explains a late answer is kept (no personal data)."""
    return {k: v for k, v in pending.items() if k != "citizen"} | {"state": state}
