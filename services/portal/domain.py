"""What the portal accepts and what it shows. Pure: submission validation and the dossier read model.

A submission body is the DossierSubmitted contract without the fields the portal sets itself
(`submission_id`, `submitted_at`), validated with the models and regulation rules derived from the contract
(`egov.contracts.validation`), so the HTTP edge and the event consumers apply the same rules. The portal
adds what only it can know: that the procedure is in this province's catalogue, and today's date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from egov.contracts.errors import FieldError
from egov.contracts.topics import EventTypes
from egov.contracts.validation import RuleContext, get_validator
from egov.platform.province import Procedure

#: Fields of DossierSubmitted that the portal sets, never the citizen.
SERVER_SET_FIELDS = frozenset({"submission_id", "submitted_at", "submitted_by"})
#: Fields of SupplementSupplied that the portal sets.
SUPPLEMENT_SERVER_FIELDS = frozenset({"dossier_code", "supplied_at", "supplied_by"})


def submission_model() -> type[BaseModel]:
    """The model a submission body is validated with (the contract's, without the server-set fields): what
    the OpenAPI document shows of the body."""
    return get_validator().models.model(EventTypes.DOSSIER_SUBMITTED, SERVER_SET_FIELDS)


def supplement_model() -> type[BaseModel]:
    """The model a supplement body is validated with."""
    return get_validator().models.model(EventTypes.SUPPLEMENT_SUPPLIED, SUPPLEMENT_SERVER_FIELDS)


class InvalidSubmission(ValueError):
    """A submission body that breaks the contract or a rule; `errors` names every wrong field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def validate_submission(body: Any, *, today: dt.date, catalogue: Mapping[str, Procedure]) -> dict[str, Any]:
    """The submission as Avro-ready values; raises InvalidSubmission naming each wrong field. `catalogue`:
    the province's procedures by code, whose dossier components the files must cover."""
    if not isinstance(body, dict):
        raise InvalidSubmission([FieldError("(body)", "type", "must be a JSON object")])
    record, errors = get_validator().from_json(
        EventTypes.DOSSIER_SUBMITTED, body, exclude=SERVER_SET_FIELDS, context=RuleContext(today=today)
    )
    code = body.get("procedure_code")
    if (
        isinstance(code, str)
        and code not in catalogue
        and not any(e.path == "procedure_code" for e in errors)
    ):
        errors.append(
            FieldError("procedure_code", "catalogue", "is not a procedure of this province's catalogue")
        )
    if not errors and record is not None:
        errors += component_problems(record["attachments"], catalogue[record["procedure_code"]])
    if errors or record is None:
        raise InvalidSubmission(errors)
    return record


def component_problems(attachments: Sequence[Mapping[str, Any]], procedure: Procedure) -> list[FieldError]:
    """What the files of a submission miss of the procedure's dossier (thành phần hồ sơ, as the province's
    catalogue lists it from the national database of administrative procedures): a file for each required
    component that is not only shown at the counter, each file naming a component of this procedure (or
    none, for a file that is no component)."""
    errors = []
    keys = {document.key for document in procedure.documents}
    for index, attachment in enumerate(attachments):
        key = attachment.get("component")
        if key is not None and key not in keys:
            known = ", ".join(sorted(keys)) or "none"
            message = f"is not a component of procedure {procedure.code}'s dossier (its components: {known})"
            errors.append(FieldError(f"attachments.{index}.component", "catalogue", message))
    supplied = {attachment.get("component") for attachment in attachments}
    for document in procedure.documents:
        if document.attached and document.key not in supplied:
            message = (
                f"misses the dossier component {document.key} ({document.name}): attach it, naming "
                "it as its component"
            )
            errors.append(FieldError("attachments", "required_documents", message))
    return errors


# -- who may do what (the person comes from their identity provider's token) ---------------------------------
CITIZEN, OFFICIAL = "citizen", "official"


def submitter_problem(kind: str, id_number: str | None, submission: Mapping[str, Any]) -> FieldError | None:
    """Why this person may not submit this dossier (a 403), or None. A citizen signed in through VNeID submits
    online, in their own name (NĐ 59/2022/NĐ-CP: the portal knows the citizen from the identity, not from a
    form field); a one-stop counter officer receives a dossier in person or by post, for the citizen."""
    channel = submission["channel"]
    if kind == CITIZEN:
        if channel != "ONLINE":
            return FieldError(
                "channel",
                "submitter",
                "a citizen submits online; in person or by post, a one-stop counter officer receives it",
            )
        if submission["applicant"]["id_number"] != id_number:
            return FieldError(
                "applicant.id_number",
                "submitter",
                "is not the ID number of the signed-in citizen: a citizen submits only in their own name",
            )
    elif channel == "ONLINE":
        return FieldError(
            "channel", "submitter", "an online dossier is submitted by the citizen, signed in through VNeID"
        )
    return None


def may_follow(
    kind: str,
    *,
    id_number: str | None,
    agency_code: str | None,
    position: str | None,
    applicant_id_number: str | None,
    agencies: Collection[str],
) -> bool:
    """Whether a person may see a dossier's details and history, and supplement it: its applicant, an
    official of an agency that handles it, or a one-stop counter officer (who may receive any dossier,
    regardless of the administrative boundary)."""
    if kind == CITIZEN:
        return id_number is not None and id_number == applicant_id_number
    return position == "counter_officer" or (agency_code is not None and agency_code in agencies)


def public_status(view: Mapping[str, Any]) -> dict[str, Any]:
    """What anyone may look up by dossier code, as provincial portals show it (tra cứu hồ sơ): the status
    and the appointment date; no personal data."""
    return PublicStatus(
        dossier_code=view["dossier_code"],
        status=view.get("status"),
        status_code=view.get("status_code"),
        appointment_date=view.get("appointment_date"),
    ).model_dump()


def submission_identity(idempotency_key: str | None) -> tuple[str, str | None]:
    """The submission id and event id of a POST. With an `Idempotency-Key` header both derive from it, so a
    client that retries after a time-out gets the same submission, never a second dossier."""
    if idempotency_key is None:
        return str(uuid.uuid4()), None
    if not 1 <= len(idempotency_key) <= 200:
        raise ValueError("must be 1 to 200 characters")
    submission_id = str(uuid.uuid5(_IDEMPOTENCY, idempotency_key))
    return submission_id, str(uuid.uuid5(_IDEMPOTENCY, f"{idempotency_key}/submitted"))


_IDEMPOTENCY = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:portal:idempotency-key")


def submission_event(
    submission: dict[str, Any],
    *,
    submission_id: str,
    submitted_at: dt.datetime,
    submitted_by: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of DossierSubmitted (`submitted_by`: the Actor who submitted it)."""
    return {
        **submission,
        "submission_id": submission_id,
        "submitted_at": submitted_at,
        "submitted_by": dict(submitted_by) if submitted_by else None,
    }


# -- the read model ---------------------------------------------------------------------------------------
def status_code(symbol: str, symbols: Sequence[str]) -> int:
    """National-portal status code of a DossierStatus symbol: its position in the contract's enum + 1."""
    return list(symbols).index(symbol) + 1


def apply_event(
    view: dict[str, Any] | None,
    event_type: str,
    record: dict[str, Any],
    *,
    event_id: str,
    symbols: Sequence[str],
) -> dict[str, Any] | None:
    """The dossier's public view after one event of the one-stop system's stream (idempotent: the same event
    twice changes nothing). None when the event says nothing the view shows. No personal data is kept."""
    view = dict(view or {})
    history = list(view.get("history", []))
    if any(step["event_id"] == event_id for step in history) or event_id in view.get("seen", ()):
        return view
    status: str | None = None
    at: dt.datetime | None = None
    reason: str | None = None
    if event_type == EventTypes.DOSSIER_RECEIVED:
        status, at = record["status"], record["received_at"]
        view.update(
            {
                "dossier_code": record["dossier_code"],
                "submission_id": record["submission_id"],
                "procedure_code": record["procedure_code"],
                "procedure_name": record["procedure_name"],
                "receiving_agency_code": record["receiving_agency_code"],
                "responsible_agency_code": record["responsible_agency_code"],
                "channel": record["channel"],
                "received_at": record["received_at"].isoformat(),
                "appointment_date": record["appointment_date"].isoformat(),
            }
        )
    elif event_type == EventTypes.DOSSIER_STATUS_CHANGED:
        status, at, reason = record["to_status"], record["changed_at"], record["reason"]
        if status == "IN_PROGRESS":
            view.pop("supplement", None)
    elif event_type == EventTypes.DOSSIER_ASSIGNED:
        # The deadline moves when a supplement stopped the clock; the promise to the citizen moves with
        # it, and never back before a date an apology (form 04) gave.
        deadline = record["deadline"].isoformat()
        view["deadline"] = deadline
        view["appointment_date"] = max(view.get("appointment_date", deadline), deadline)
        view["responsible_agency"] = record["agency"]
    elif event_type == EventTypes.SUPPLEMENT_REQUESTED:
        view["supplement"] = {"missing_items": record["missing_items"], "reason": record["reason"]}
    elif event_type == EventTypes.FEE_REQUESTED:
        view["fee"] = {
            "amount_vnd": record["amount"]["amount"],
            "payment_reference": record["payment_reference"],
            "due_date": record["due_date"].isoformat(),
        }
    elif event_type == EventTypes.RESULT_RETURNED:
        view["result"] = {
            "electronic": record["electronic"],
            "on_time": record["on_time"],
            "document_id": record["document_id"],
            "returned_at": record["returned_at"].isoformat(),
        }
    elif event_type == EventTypes.DOSSIER_OVERDUE:
        view["appointment_date"] = record["new_appointment_date"].isoformat()
        view["apologies"] = [
            *view.get("apologies", []),
            {
                "original_appointment_date": record["original_appointment_date"].isoformat(),
                "new_appointment_date": record["new_appointment_date"].isoformat(),
                "apology": record["apology"],
            },
        ]
    else:
        return None
    if status is None:
        view["seen"] = [*view.get("seen", []), event_id][-50:]
        return view
    assert at is not None
    step = {
        "status": status,
        "status_code": status_code(status, symbols),
        "at": at.isoformat(),
        "event_id": event_id,
    }
    if reason is not None:
        step["reason"] = reason
    history.append(step)
    latest = history[-1]
    view.update({"status": latest["status"], "status_code": latest["status_code"], "history": history})
    return view


def public_view(view: dict[str, Any]) -> dict[str, Any]:
    """The view as the API shows it (without the bookkeeping of events already applied): its parts as
    `DossierView` declares them, so the OpenAPI document and the answer cannot differ."""
    shown = {k: v for k, v in view.items() if k != "seen"}
    return DossierView.model_validate(shown).model_dump(exclude_unset=True)


def validate_supplement(body: Any, *, today: dt.date) -> dict[str, Any]:
    """A supplement body (SupplementSupplied without the fields the portal sets); raises InvalidSubmission."""
    if not isinstance(body, dict):
        raise InvalidSubmission([FieldError("(body)", "type", "must be a JSON object")])
    record, errors = get_validator().from_json(
        EventTypes.SUPPLEMENT_SUPPLIED,
        body,
        exclude=SUPPLEMENT_SERVER_FIELDS,
        context=RuleContext(today=today),
    )
    if not errors and record is not None and not record["attachments"]:
        errors.append(FieldError("attachments", "non_empty", "must list at least one file supplied"))
    if errors or record is None:
        raise InvalidSubmission(errors)
    return record


# -- what the API answers ----------------------------------------------------------------------------------
class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmissionAccepted(_Answer):
    """A submission taken: follow it by its id until the one-stop system gives it a dossier code."""

    submission_id: str = Field(description="The submission's id (a UUID).")
    status: Literal["pending"]
    links: dict[str, str] = Field(description="`self`: where to follow it.")


class SubmissionStatus(_Answer):
    """A submission before and after the one-stop system received it."""

    submission_id: str
    status: Literal["pending", "received"]
    dossier_code: str | None = Field(description="The dossier code once received (mã số hồ sơ).")
    links: dict[str, str] | None = Field(default=None, description="`dossier`: the dossier, once received.")


class PublicStatus(_Answer):
    """What anyone may look up by dossier code (tra cứu hồ sơ): no personal data."""

    dossier_code: str
    status: str | None = Field(description="The status (DossierStatus symbol).")
    status_code: int | None = Field(description="The national portal's status code, 1–10.")
    appointment_date: str | None = Field(description="The appointment date, YYYY-MM-DD in the province.")


class HistoryStep(_Answer):
    status: str
    status_code: int
    at: str = Field(description="When, RFC 3339 in UTC.")
    event_id: str
    reason: str | None = None


class DossierView(_Answer):
    """A dossier as its applicant and its agencies' officials follow it: what the one-stop system published of
    it (the portal's read model). Parts appear as the dossier goes on."""

    dossier_code: str | None = None
    submission_id: str | None = None
    procedure_code: str | None = None
    procedure_name: str | None = None
    receiving_agency_code: str | None = None
    responsible_agency_code: str | None = None
    channel: str | None = None
    received_at: str | None = None
    appointment_date: str | None = None
    deadline: str | None = None
    responsible_agency: dict[str, Any] | None = Field(default=None, description="code and name.")
    status: str | None = None
    status_code: int | None = None
    history: list[HistoryStep] = Field(default_factory=list)
    supplement: dict[str, Any] | None = Field(
        default=None, description="missing_items and reason, when asked."
    )
    fee: dict[str, Any] | None = Field(default=None, description="amount_vnd, payment_reference, due_date.")
    result: dict[str, Any] | None = Field(
        default=None, description="electronic, on_time, document_id, returned_at."
    )
    apologies: list[dict[str, Any]] = Field(default_factory=list, description="Each apology (form 04).")


class SupplementAccepted(_Answer):
    dossier_code: str
    status: Literal["supplied"]
    event_id: str = Field(description="The SupplementSupplied event's id.")
