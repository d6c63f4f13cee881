"""Official documents: the outgoing register, approval, issue, recall, and what a recipient does with an
incoming document, reported to the sender as edXML status packets. Pure: states are JSON-compatible dicts,
time comes in as an argument, signature checks come in as their verdict.

- A document's id has the edXML form `<organ id>,<promulgation date yyyy/mm/dd>,<number>/<symbol>`; the number
  is counted per issuing agency per year in its register of outgoing documents (sổ văn bản đi).
- An outgoing document is approved by the authorised official who signs it, signed by the signing platform,
  then issued to its recipients through the LGSP.
- A recipient reports 01 (arrived), then 02 (refused, with the reason) when the signature or the content
  does not hold, or 03 (accepted and registered), 04 (assigned), 05 (in progress), and 06 (completed) once
  processed.
- A recall (13) is accepted (15) while the recipient has not completed the document, refused (16) after:
  a document already acted upon cannot be taken back by the sender alone.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from egov.contracts.errors import FieldError
from egov.contracts.validation import (
    AgencyCode,
    FileName,
    FreeText,
    MediaType,
    PersonName,
    ShortText,
    structural_errors,
)
from egov.platform.province import Province
from egov.regulations.workdays import WorkingCalendar

#: Positions allowed to approve and sign an outgoing document on behalf of an agency (thẩm quyền ký).
AUTHORISED_POSITIONS = frozenset(
    {"Chủ tịch", "Phó Chủ tịch", "Giám đốc", "Phó Giám đốc", "Chánh Văn phòng", "Phó Chánh Văn phòng"}
)
#: Largest document file the system takes (it travels inside the events, as edXML carries attachments).
MAX_CONTENT_BYTES = 512 * 1024

ARRIVED, REFUSED, ACCEPTED, ASSIGNED, IN_PROGRESS, COMPLETED = (
    "ARRIVED",
    "REFUSED",
    "ACCEPTED",
    "ASSIGNED",
    "IN_PROGRESS",
    "COMPLETED",
)
RECALL_ACCEPTED, RECALL_REFUSED = "RECALL_ACCEPTED", "RECALL_REFUSED"

#: Why a document is refused (status 02), by the kind of signature problem
#: (egov.platform.pki.SignatureInvalid).
REFUSAL_REASONS = {
    "unsigned": "Văn bản không có chữ ký số.",
    "malformed": "Chữ ký số không đúng định dạng (CMS).",
    "content_changed": "Nội dung văn bản đã bị thay đổi sau khi ký số.",
    "bad_signature": "Chữ ký số không hợp lệ.",
    "untrusted": "Chứng thư số không do tổ chức cung cấp dịch vụ chứng thực tin cậy cấp.",
    "expired": "Chứng thư số không còn hiệu lực tại thời điểm ký.",
    "revoked": "Chứng thư số đã bị thu hồi trước thời điểm ký.",
    "no_content": "Văn bản không kèm tệp nội dung.",
    "not_authorised": "Người ký không thuộc cơ quan ban hành hoặc không có thẩm quyền ký.",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignerRequest(_Body):
    """The official who approves and signs: a leader of the issuing agency (its directory's id)."""

    official_id: ShortText = Field(description="The official's id in the agency's directory.")
    full_name: PersonName
    position: ShortText = Field(description="One of the positions allowed to sign for an agency.")


class DraftRequest(_Body):
    """An outgoing document submitted for registration: what `validate_draft` takes (the issuing agency is
    the signed-in official's own when left out)."""

    issuing_agency: AgencyCode | None = Field(
        default=None, description="The issuing agency's code: the signed-in official's own."
    )
    recipients: Annotated[list[AgencyCode], Field(min_length=1, max_length=50)] = Field(
        description="The codes of the agencies it is for (nơi nhận), others than the issuer."
    )
    document_type: ShortText = Field(description="Loại văn bản, e.g. Công văn, Quyết định.")
    symbol: ShortText = Field(description="Ký hiệu, e.g. SKHĐT-VP.")
    summary: FreeText = Field(description="Trích yếu: what it is about.")
    signer: SignerRequest
    file_name: FileName
    media_type: MediaType
    content_base64: str = Field(
        max_length=4 * ((MAX_CONTENT_BYTES + 2) // 3),
        description=f"The document's file, base64; at most {MAX_CONTENT_BYTES} bytes once decoded.",
    )


class RecallRequest(_Body):
    """Why the sender asks the recipients to take a document back (status 13)."""

    reason: FreeText = Field(description="Why, in Vietnamese.")


def validate_recall(body: Any) -> str:
    """The reason of a recall request body, or InvalidDraft naming what is wrong."""
    try:
        return RecallRequest.model_validate(body).reason
    except ValidationError as exc:
        raise InvalidDraft(structural_errors(exc)) from None


class InvalidDraft(ValueError):
    """A document submitted for registration that cannot be registered; `errors` names each wrong field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class DocumentRefused(ValueError):
    """A step that does not apply to the document now (e.g. a recall before it was issued)."""


# -- outgoing ---------------------------------------------------------------------------------------------
def validate_draft(body: Any, province: Province) -> dict[str, Any]:
    """The DocumentDrafted fields a submission gives (without draft_id and drafted_at), or InvalidDraft."""
    if not isinstance(body, dict):
        raise InvalidDraft([FieldError("(body)", "type", "must be a JSON object")])
    # The body's shape and limits (DraftRequest, the contracts' rules); then what only the province knows.
    try:
        DraftRequest.model_validate(body)
        errors: list[FieldError] = []
    except ValidationError as exc:
        errors = structural_errors(exc)
    reported = {e.path for e in errors}

    def text(name: str) -> str:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append(FieldError(name, "required", "must be a non-empty string"))
            return ""
        return value.strip()

    def agency(code: Any, path: str) -> dict[str, str] | None:
        found = province.agency(code) if isinstance(code, str) else None
        if found is None:
            errors.append(FieldError(path, "agency_code", f"is not an agency of {province.name}"))
            return None
        return {"code": found.code, "name": found.name}

    issuer = agency(body.get("issuing_agency"), "issuing_agency")
    codes = body.get("recipients")
    recipients: list[dict[str, str]] = []
    if not isinstance(codes, list) or not codes:
        errors.append(FieldError("recipients", "required", "must list at least one agency code"))
    else:
        for i, code in enumerate(codes):
            ref = agency(code, f"recipients.{i}")
            if ref is not None and issuer is not None and ref["code"] == issuer["code"]:
                errors.append(FieldError(f"recipients.{i}", "recipient", "is the issuing agency itself"))
            elif ref is not None:
                recipients.append(ref)
    document_type, symbol, summary = text("document_type"), text("symbol"), text("summary")
    signer = body.get("signer")
    official: dict[str, Any] | None = None
    if not isinstance(signer, dict):
        errors.append(FieldError("signer", "required", "must name the official who signs"))
    else:
        position = signer.get("position")
        if position not in AUTHORISED_POSITIONS:
            allowed = ", ".join(sorted(AUTHORISED_POSITIONS))
            errors.append(
                FieldError("signer.position", "authorised", f"may not sign for the agency; one of {allowed}")
            )
        ids = [signer.get(k) for k in ("official_id", "full_name")]
        if not all(isinstance(v, str) and v.strip() for v in ids):
            errors.append(FieldError("signer", "required", "needs official_id and full_name"))
        elif issuer is not None:
            official = {
                "official_id": signer["official_id"],
                "full_name": signer["full_name"],
                "position": position,
                "agency": issuer,
            }
    file_name, media_type = text("file_name"), text("media_type")
    data = b""
    try:
        data = base64.b64decode(str(body.get("content_base64", "")), validate=True)
    except (binascii.Error, ValueError):
        errors.append(FieldError("content_base64", "base64", "is not valid base64"))
    if not data and not any(e.path == "content_base64" for e in errors):
        errors.append(FieldError("content_base64", "required", "must hold the document's file"))
    elif len(data) > MAX_CONTENT_BYTES:
        errors.append(FieldError("content_base64", "size", f"is larger than {MAX_CONTENT_BYTES} bytes"))
    errors = [e for e in errors if e.path in reported or not any(_within(e.path, r) for r in reported)]
    if errors or issuer is None or official is None:
        raise InvalidDraft(_unique(errors))
    return {
        "issuing_agency": issuer,
        "document_type": document_type,
        "symbol": symbol,
        "summary": summary,
        "recipients": recipients,
        "signer": official,
        "content": attachment(file_name, media_type, data),
        "content_data": data,
    }


def _within(path: str, reported: str) -> bool:
    """Whether a finding at `path` is about what a structural error at `reported` already names."""
    return path == reported or path.startswith(f"{reported}.") or reported.startswith(f"{path}.")


def _unique(errors: list[FieldError]) -> list[FieldError]:
    """The structural finding of a field, not a second one of the province's checks."""
    seen: dict[str, FieldError] = {}
    for error in errors:
        seen.setdefault(error.path, error)
    return list(seen.values())


# -- what the API answers ------------------------------------------------------------------------------------
class DraftAccepted(_Body):
    draft_id: str = Field(description="The draft's id: follow it until the register numbers it.")
    links: dict[str, str]


class DraftStatus(_Body):
    draft_id: str
    document_id: str | None = Field(description="The edXML document id once registered, else null.")
    status: Literal["pending", "registered"] = Field(
        description="`pending` until its agency's register numbers it, then `registered` (its later states: "
        "the document's own look-up, `links.document`)."
    )
    links: dict[str, str] | None = Field(default=None, description="The registered document's look-up.")


class DocumentView(_Body):
    """A document as its sender (every recipient's statuses) and its recipients see it."""

    outgoing: dict[str, Any] | None = Field(description="The sender's state, without the file's bytes.")
    incoming: dict[str, dict[str, Any]] = Field(description="Each recipient of this system: its state.")


class StepAccepted(_Body):
    document_id: str
    status: Literal["APPROVED", "RECALL_REQUESTED"]


def attachment(file_name: str, media_type: str, data: bytes) -> dict[str, Any]:
    return {
        "file_name": file_name,
        "media_type": media_type,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def number(register: Mapping[str, Any] | None, draft_id: str, year: int) -> tuple[int, dict[str, Any]]:
    """The number of a draft in its agency's register for `year`, and the register after it. A redelivered
    draft gets its number back; a new year starts again from 1."""
    state = dict(register or {})
    book = dict(state.get(str(year)) or {"last": 0, "issued": {}})
    if draft_id in book["issued"]:
        return int(book["issued"][draft_id]), state
    value = int(book["last"]) + 1
    state[str(year)] = {"last": value, "issued": {**book["issued"], draft_id: value}}
    return value, state


def document_id(agency_code: str, promulgation: dt.date, number: int, symbol: str) -> str:
    """The edXML DocumentId: `<organ id>,<yyyy/mm/dd>,<number>/<symbol>`."""
    return f"{agency_code},{promulgation:%Y/%m/%d},{number}/{symbol}"


def registered(
    draft: Mapping[str, Any], *, number: int, promulgation: dt.date, now: dt.datetime
) -> dict[str, Any]:
    """The DocumentRegistered body of a numbered draft."""
    return {
        "document_id": document_id(draft["issuing_agency"]["code"], promulgation, number, draft["symbol"]),
        "number": number,
        "symbol": draft["symbol"],
        "document_type": draft["document_type"],
        "summary": draft["summary"],
        "issuing_agency": draft["issuing_agency"],
        "content_sha256": draft["content"]["sha256"],
        "recipients": draft["recipients"],
        "signer": draft["signer"],
        "content": draft["content"],
        "content_data": draft["content_data"],
        "draft_id": draft["draft_id"],
        "registered_at": now,
        "drafted_by": draft.get("drafted_by"),
    }


@dataclass(frozen=True)
class Outgoing:
    """An outgoing step: the document's new state and the events to publish (type, body)."""

    state: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]


def open_outgoing(record: Mapping[str, Any], now: dt.datetime) -> Outgoing:
    """A registered document: kept until its signer approves it (`approve`)."""
    if record["signer"] is None or record["content_data"] is None:
        raise DocumentRefused(f"{record['document_id']} was registered without a signer or a file")
    state = {
        "document_id": record["document_id"],
        "draft_id": record["draft_id"],
        "number": record["number"],
        "symbol": record["symbol"],
        "document_type": record["document_type"],
        "summary": record["summary"],
        "issuing_agency": record["issuing_agency"],
        "promulgation_date": record["document_id"].split(",")[1].replace("/", "-"),
        "recipients": record["recipients"],
        "signer": record["signer"],
        "content": record["content"],
        "content_sha256": record["content_sha256"],
        "content_data": base64.b64encode(record["content_data"]).decode(),
        "drafted_by": record.get("drafted_by"),
        "status": AWAITING_APPROVAL,
        "statuses": {r["code"]: [] for r in record["recipients"]},
    }
    return Outgoing(state, [])


#: The sender's state of a registered document its signer has not approved yet.
AWAITING_APPROVAL = "awaiting_approval"


class ApprovalRefused(ValueError):
    """The person may not approve this document for signature; `field` names what does not match."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def approve(
    state: Mapping[str, Any] | None,
    document: str,
    *,
    official_id: str | None,
    agency_code: str | None,
    actor: Mapping[str, Any],
    authenticated_at: dt.datetime | None,
    max_age_seconds: float,
    real_now: dt.datetime,
    now: dt.datetime,
) -> Outgoing:
    """The signer approves the document for signature (phê duyệt), signed in recently with their own
    credentials: a remote signature is made only after the signer authenticates for it (Luật Giao dịch điện
    tử 2023, Nghị định 23/2025/NĐ-CP), so nobody else, no clerk and no service, can make it carry their
    signature. Emits DocumentApproved (with the signer as they signed in) and SignatureRequested."""
    if state is None:
        raise ApprovalRefused(404, "document_id", "no such document")
    if state.get("status") != AWAITING_APPROVAL:
        raise ApprovalRefused(409, "document_id", f"is not awaiting approval (status {state.get('status')})")
    signer = state["signer"]
    if agency_code != state["issuing_agency"]["code"]:
        raise ApprovalRefused(
            403, "document_id", f"is a document of {state['issuing_agency']['code']}, not of your agency"
        )
    if official_id != signer["official_id"]:
        raise ApprovalRefused(
            403, "signer", f"is {signer['official_id']}: only the signer approves their signature"
        )
    age = (real_now - authenticated_at).total_seconds() if authenticated_at else None
    if age is None or age > max_age_seconds:
        raise ApprovalRefused(
            401,
            "Authorization",
            f"a signature needs the signer's own sign-in within the last {max_age_seconds:.0f} s: sign in "
            "again",
        )
    approved = {
        "document_id": state["document_id"],
        "approved_by": signer,
        "approved_at": now,
        "approved_by_person": dict(actor),
        "authenticated_at": authenticated_at,
    }
    request = {
        "document_id": state["document_id"],
        "content_sha256": state["content_sha256"],
        "signer": signer,
        "requested_at": now,
    }
    return Outgoing(
        {**state, "status": "signing"},
        [("vn.egov.document.DocumentApproved", approved), ("vn.egov.document.SignatureRequested", request)],
    )


def issue(state: Mapping[str, Any] | None, signed: Mapping[str, Any], now: dt.datetime) -> Outgoing:
    """The signature is back: issue the document to its recipients, with its file, signature and chain."""
    # A signature exists only after the signer's approval, which may not be folded into the state yet.
    if state is None or state.get("status") not in ("signing", AWAITING_APPROVAL):
        raise DocumentRefused(f"{signed['document_id']} is not waiting for a signature")
    if signed["content_sha256"] != state["content"]["sha256"]:
        raise DocumentRefused(f"{signed['document_id']}: the signature covers other content")
    new = {**state, "status": "issued"}
    issued = {
        "document_id": state["document_id"],
        "issuing_agency": state["issuing_agency"],
        "recipients": state["recipients"],
        "number": state["number"],
        "symbol": state["symbol"],
        "document_type": state["document_type"],
        "summary": state["summary"],
        "promulgation_date": dt.date.fromisoformat(state["promulgation_date"]),
        "content": state["content"],
        "content_data": base64.b64decode(state["content_data"]),
        "signature": signed["signature"],
        "certificate_chain": list(signed["certificate_chain"]),
        "issued_at": now,
    }
    return Outgoing(new, [("vn.egov.document.DocumentIssued", issued)])


def recall(state: Mapping[str, Any] | None, document: str, reason: str, now: dt.datetime) -> dict[str, Any]:
    """The DocumentRecallRequested body (status 13) of an issued document."""
    if state is None or state.get("status") not in ("issued", "recalling"):
        raise DocumentRefused(f"{document} has not been issued: there is nothing to recall")
    if not reason.strip():
        raise DocumentRefused("a recall needs a reason")
    return {
        "document_id": state["document_id"],
        "sender": state["issuing_agency"],
        "recipients": state["recipients"],
        "reason": reason.strip(),
        "requested_at": now,
    }


def record_status(state: Mapping[str, Any] | None, packet: Mapping[str, Any]) -> dict[str, Any]:
    """The sender's view after a recipient's status packet."""
    if state is None:
        raise DocumentRefused(f"status packet for {packet['document_id']}, which this system did not issue")
    statuses = {code: list(history) for code, history in state["statuses"].items()}
    entry = {
        "status": packet["status"],
        "description": packet["description"],
        "at": packet["timestamp"].isoformat(),
    }
    statuses.setdefault(packet["sender"]["code"], []).append(entry)
    return {**state, "statuses": statuses}


# -- incoming ---------------------------------------------------------------------------------------------
def completion_due(
    profile: Mapping[str, Any],
    agency_code: str,
    arrived_at: dt.datetime,
    calendar: WorkingCalendar,
    zone: ZoneInfo,
) -> dt.datetime:
    """When an agency completes an incoming document: the working days its profile gives it (the profile's
    `agencies`, else `default_days`, else 2) after arrival, at 16:00 in the province."""
    days = int((profile.get("agencies") or {}).get(agency_code, profile.get("default_days", 2)))
    day = calendar.add_working_days(arrived_at.astimezone(zone).date(), days)
    return max(arrived_at, dt.datetime.combine(day, dt.time(16, 0), tzinfo=zone).astimezone(dt.UTC))


def packet(
    issued: Mapping[str, Any],
    recipient: Mapping[str, str],
    status: str,
    description: str,
    now: dt.datetime,
    staff: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An edXML status packet from `recipient` about the document `issued` (DocumentIssued or the incoming
    state, which keep the same fields)."""
    organ, date, code = str(issued["document_id"]).split(",", 2)
    return {
        "document_id": issued["document_id"],
        "response_for": {
            "organ_id": organ,
            "code": code,
            "promulgation_date": dt.date.fromisoformat(date.replace("/", "-")),
        },
        "sender": dict(recipient),
        "status": status,
        "description": description,
        "staff": dict(staff) if staff else None,
        "timestamp": now,
    }


def content_problem(issued: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, detail) when the file is missing or is not the file the document names."""
    data = issued.get("content_data")
    if data is None:
        return "no_content", "the document carries no file"
    actual = hashlib.sha256(data).hexdigest()
    if actual != issued["content"]["sha256"]:
        return (
            "content_changed",
            f"SHA-256 of the file is {actual}, the document names {issued['content']['sha256']}",
        )
    return None


def signer_problem(
    agency_code: str | None, position: str | None, issuing_code: str
) -> tuple[str, str] | None:
    """(kind, detail) when the certificate that signed is not that of an authorised official of the issuing
    agency: a valid signature by someone else does not make the agency's document."""
    if agency_code != issuing_code:
        return (
            "not_authorised",
            f"signed by an official of {agency_code}, not of the issuing agency {issuing_code}",
        )
    if position not in AUTHORISED_POSITIONS:
        return "not_authorised", f"signed by a {position}, who may not sign for the agency"
    return None


def arrival(
    issued: Mapping[str, Any],
    recipient: Mapping[str, str],
    problem: tuple[str, str] | None,
    officer: Mapping[str, Any],
    now: dt.datetime,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A document arrives at `recipient`: its incoming state and the packets for the sender. `problem` is
    (kind, detail) when the file or the signature does not hold (egov.platform.pki.SignatureInvalid.kind)."""
    packets = [packet(issued, recipient, ARRIVED, "Văn bản đã đến.", now)]
    state = {
        "document_id": issued["document_id"],
        "recipient": dict(recipient),
        "arrived_at": now.isoformat(),
    }
    if problem is not None:
        kind, detail = problem
        reason = f"{REFUSAL_REASONS.get(kind, 'Văn bản không hợp lệ.')} ({detail})"
        packets.append(packet(issued, recipient, REFUSED, reason, now))
        return {**state, "status": REFUSED, "reason": reason}, packets
    packets += [
        packet(issued, recipient, ACCEPTED, "Văn bản đã được tiếp nhận và vào sổ văn bản đến.", now),
        packet(issued, recipient, ASSIGNED, f"Giao {officer['full_name']} xử lý.", now, officer),
        packet(issued, recipient, IN_PROGRESS, "Đang xử lý.", now, officer),
    ]
    return {**state, "status": IN_PROGRESS, "officer": dict(officer)}, packets


def complete(
    state: Mapping[str, Any] | None, document: str, now: dt.datetime
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Processing done (06); None when the document is no longer in progress (refused, recalled)."""
    if state is None or state.get("status") != IN_PROGRESS:
        return None
    done = packet(
        {"document_id": document}, state["recipient"], COMPLETED, "Đã xử lý xong.", now, state.get("officer")
    )
    return {**state, "status": COMPLETED}, done


def answer_recall(
    state: Mapping[str, Any] | None, request: Mapping[str, Any], now: dt.datetime
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A recall reaches a recipient: accepted (15) unless the document was completed, then refused (16).
    None when this recipient never took the document (refused or never arrived): nothing to recall."""
    if state is None or state.get("status") not in (IN_PROGRESS, COMPLETED):
        return None
    if state["status"] == COMPLETED:
        reply = packet(
            request,
            state["recipient"],
            RECALL_REFUSED,
            "Từ chối thu hồi: văn bản đã được xử lý xong.",
            now,
            state.get("officer"),
        )
        return {**state, "recall": RECALL_REFUSED}, reply
    reply = packet(
        request,
        state["recipient"],
        RECALL_ACCEPTED,
        f"Đồng ý thu hồi văn bản (lý do: {request['reason']}).",
        now,
        state.get("officer"),
    )
    return {**state, "status": RECALL_ACCEPTED, "recall": RECALL_ACCEPTED}, reply


def officer_of(agency: Mapping[str, str]) -> dict[str, Any]:
    """The official of the recipient agency who handles incoming documents (fictional)."""
    return {
        "official_id": f"{agency['code']}/van-thu-01",
        "full_name": "Lê Thị Hồng",
        "position": "Chuyên viên",
        "agency": dict(agency),
    }


def served(recipients: Sequence[Mapping[str, str]], codes: frozenset[str]) -> list[Mapping[str, str]]:
    return [r for r in recipients if r["code"] in codes]
