"""What the portal accepts and what it shows. Pure: validation models and the dossier read model.

A submission is validated at the edge so a citizen learns at once, field by field, what to correct: the
ID number's structure against the birth date and sex (Nghị định 137/2015/NĐ-CP Art. 13), a procedure of the
province's catalogue, a way to be reached (phone or e-mail), attachments identified by their SHA-256.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from egov.regulations.codes import procedure_code_problems
from egov.regulations.identity import id_number_problems

_PHONE = re.compile(r"^(?:\+84|0)\d{9}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ApplicantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str = Field(min_length=2, max_length=200)
    date_of_birth: dt.date
    sex: Literal["MALE", "FEMALE"]
    # After date_of_birth and sex: its check needs them.
    id_number: str
    phone: str | None = None
    email: str | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _born_in_the_past(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        today = (info.context or {}).get("today")
        if today is not None and value > today:
            raise ValueError(f"is in the future ({value.isoformat()})")
        return value

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str, info: ValidationInfo) -> str:
        problems = id_number_problems(value, info.data.get("date_of_birth"), info.data.get("sex"))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = re.sub(r"[\s.-]", "", value)
        if not _PHONE.match(compact):
            raise ValueError("must be a Vietnamese phone number: 0 or +84 followed by 9 digits")
        return compact

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> ApplicantIn:
        if not self.phone and not self.email:
            raise ValueError("give a phone number or an e-mail address so the citizen can be notified")
        return self


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    file_name: str = Field(min_length=1, max_length=255)
    media_type: str = Field(pattern=r"^[\w.+-]+/[\w.+-]+$")
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SubmissionIn(BaseModel):
    """The body of `POST /api/v1/dossiers`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    procedure_code: str
    channel: Literal["IN_PERSON", "ONLINE", "POSTAL"] = "ONLINE"
    applicant: ApplicantIn
    form_fields: dict[str, str] = Field(default_factory=dict)
    attachments: list[AttachmentIn] = Field(default_factory=list)

    @field_validator("procedure_code")
    @classmethod
    def _procedure(cls, value: str, info: ValidationInfo) -> str:
        problems = procedure_code_problems(value)
        if problems:
            raise ValueError(problems[0])
        catalogue = (info.context or {}).get("catalogue")
        if catalogue is not None and value not in catalogue:
            raise ValueError("is not a procedure of this province's catalogue")
        return value


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as a person reads them: the field's dotted path and what is wrong."""
    out = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(body)"
        message = item["msg"].removeprefix("Value error, ")
        out.append({"field": path, "message": message})
    return out


def validate_submission(body: Any, *, today: dt.date, catalogue: Sequence[str]) -> SubmissionIn:
    """Validate a submission body; raises pydantic's ValidationError (see `field_errors`)."""
    return SubmissionIn.model_validate(body, context={"today": today, "catalogue": set(catalogue)})


def submission_event(
    submission: SubmissionIn, *, submission_id: str, submitted_at: dt.datetime
) -> dict[str, Any]:
    """The body of DossierSubmitted."""
    return {
        "submission_id": submission_id,
        "procedure_code": submission.procedure_code,
        "channel": submission.channel,
        "applicant": submission.applicant.model_dump(),
        "form_fields": dict(submission.form_fields),
        "attachments": [a.model_dump() for a in submission.attachments],
        "submitted_at": submitted_at,
    }


# -- the read model ---------------------------------------------------------------------------------------
def status_code(symbol: str, symbols: Sequence[str]) -> int:
    """National-portal status code of a DossierStatus symbol: its position in the contract's enum + 1."""
    return list(symbols).index(symbol) + 1


def apply_received(
    view: dict[str, Any] | None, record: dict[str, Any], *, event_id: str, symbols: Sequence[str]
) -> dict[str, Any]:
    """The dossier's public view after DossierReceived (idempotent: the same event twice changes nothing)."""
    view = dict(view or {})
    history = list(view.get("history", []))
    if any(step["event_id"] == event_id for step in history):
        return view
    history.append(
        {
            "status": record["status"],
            "status_code": status_code(record["status"], symbols),
            "at": record["received_at"].isoformat(),
            "event_id": event_id,
        }
    )
    history.sort(key=lambda step: step["at"])
    latest = history[-1]
    view.update(
        {
            "dossier_code": record["dossier_code"],
            "submission_id": record["submission_id"],
            "procedure_code": record["procedure_code"],
            "procedure_name": record["procedure_name"],
            "receiving_agency_code": record["receiving_agency_code"],
            "channel": record["channel"],
            "received_at": record["received_at"].isoformat(),
            "appointment_date": record["appointment_date"].isoformat(),
            "status": latest["status"],
            "status_code": latest["status_code"],
            "history": history,
        }
    )
    return view
