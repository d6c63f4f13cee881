"""What the notification service tells citizens about their dossiers, and to whom. Pure rules.

- A citizen is told about the changes that ask something of them or end a step for them: receipt,
  refusal, supplement, fee, result, stop, and the apology with a request to extend the time. Internal steps
  (assignment, processing) are not worth a message. Each notice stands for a form of Thông tư 03/2025/TT-VPCP
  (`FORM_OF_TEMPLATE`, by key; the numbers are data in architecture/one-stop-rules.yaml, partly unverified).
- Messages are short Vietnamese texts (SMS-like) that begin with the dossier code, so a citizen with
  several dossiers knows which one it is about. Dates are written `dd/mm/yyyy`, amounts `50.000 đồng`.
- The notice goes on the channel the citizen chose in their Contact (SMS, EMAIL, ZALO). The address is
  personal data (Nghị định 13/2023/NĐ-CP): what is published or logged is only its masked form.
- Never twice for the same change: a notice's id derives from the event that caused it and its template,
  and a per-dossier memory of the ids sent tells a redelivery apart from a new change.

Nothing here reads the clock or talks to Kafka: the app passes the time and the stored state in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from egov.contracts.topics import EventTypes
from egov.platform.one_stop import FormKey

# -- templates ----------------------------------------------------------------------------------------------
#: The dossier was received (được tiếp nhận), with its appointment date.
RECEIVED = "received"
#: The dossier was refused at reception (không được tiếp nhận: the refusal slip).
NOT_ACCEPTED = "not_accepted"
#: The responsible agency did not grant the result and its processing stopped, status 8 (không được giải
#: quyết: the stop notice, not the refusal slip of reception).
REJECTED = "rejected"
#: The citizen must supplement the dossier (yêu cầu bổ sung: the supplement request, once); processing is
#: paused meanwhile.
SUPPLEMENT_REQUESTED = "supplement_requested"
#: The citizen must pay the fee (yêu cầu thực hiện nghĩa vụ tài chính).
FEE_REQUESTED = "fee_requested"
#: The result is ready (đã có kết quả).
RESULT_READY = "result_ready"
#: The dossier is expected to be late: the apology with a request to extend the time and the new date.
OVERDUE_APOLOGY = "overdue_apology"

#: Every template, in the order a dossier usually meets them.
TEMPLATES: tuple[str, ...] = (
    RECEIVED,
    NOT_ACCEPTED,
    SUPPLEMENT_REQUESTED,
    FEE_REQUESTED,
    RESULT_READY,
    REJECTED,
    OVERDUE_APOLOGY,
)

#: The form of Thông tư 03/2025/TT-VPCP each notice stands for, by key (architecture/one-stop-rules.yaml).
FORM_OF_TEMPLATE: dict[str, FormKey] = {
    RECEIVED: "receipt",
    NOT_ACCEPTED: "refusal",
    SUPPLEMENT_REQUESTED: "supplement",
    REJECTED: "stop_notice",
    OVERDUE_APOLOGY: "apology_extension",
}

#: The status changes a citizen is told about, and the template of each. Receipt is told on the change
#: to ACCEPTED rather than on DossierReceived: the change may carry a note in its `reason` (e.g. that the
#: identity could not be checked electronically) that the citizen should read with it.
_STATUS_TEMPLATES: dict[str, str] = {
    "ACCEPTED": RECEIVED,
    "NOT_ACCEPTED": NOT_ACCEPTED,
    "STOPPED": REJECTED,
}

#: Channels and the Contact field holding their address: SMS and Zalo reach a phone number.
_ADDRESS_FIELD: dict[str, str] = {"SMS": "phone", "ZALO": "phone", "EMAIL": "email"}

#: Namespace of the notices' ids (uuid5). Fixed for ever: changing it would make every redelivered event
#: look new and send its notice a second time.
NOTIFICATION_NAMESPACE = uuid.UUID("7665502a-4fda-4ff8-9d9f-3b48a1405a58")

#: Where citizens supplement dossiers and fetch electronic results.
PORTAL_NAME = "Cổng dịch vụ công"


# -- what notify remembers about a dossier ------------------------------------------------------------------
@dataclass(frozen=True)
class DossierFacts:
    """What notify keeps from a dossier's DossierReceived, because later events carry only the code.

    Stored in a table as a JSON-compatible dict (`as_dict` / `from_dict`): the appointment date as an ISO
    string, the Contact as the decoder gives it (it holds no dates, only strings and None).
    """

    dossier_code: str
    procedure_name: str
    appointment_date: str
    contact: dict[str, Any]

    @property
    def appointment(self) -> dt.date:
        """The promised date (ngày hẹn trả kết quả) as a date."""
        return dt.date.fromisoformat(self.appointment_date)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-compatible copy, for the table."""
        return {
            "dossier_code": self.dossier_code,
            "procedure_name": self.procedure_name,
            "appointment_date": self.appointment_date,
            "contact": _json_copy(self.contact),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DossierFacts:
        """The facts back from what `as_dict` stored."""
        return cls(
            dossier_code=str(data["dossier_code"]),
            procedure_name=str(data["procedure_name"]),
            appointment_date=_iso_date(data["appointment_date"]),
            contact=_json_copy(dict(data["contact"])),
        )


def facts_from_received(
    record: Mapping[str, Any], *, contact: Mapping[str, Any] | None = None
) -> DossierFacts:
    """The facts to remember from a DossierReceived record.

    The Contact is taken from `record["contact"]` (null in events written before the contract carried it);
    `contact` supplies it when the record has none (found elsewhere, e.g. the DossierSubmitted of the same
    `submission_id`) and wins when both are given. Without a Contact nobody can be told anything, so that
    is a ValueError, not a default channel.
    """
    chosen = contact if contact is not None else record.get("contact")
    if chosen is None:
        raise ValueError(f"dossier {record.get('dossier_code')}: no contact to notify")
    return DossierFacts(
        dossier_code=str(record["dossier_code"]),
        procedure_name=str(record["procedure_name"]),
        appointment_date=_iso_date(record["appointment_date"]),
        contact=_json_copy(dict(chosen)),
    )


def with_new_appointment(facts: DossierFacts, new_date: dt.date) -> DossierFacts:
    """The facts after an overdue apology moved the promised date: later notices quote the new one."""
    return dataclasses.replace(facts, appointment_date=new_date.isoformat())


# -- the message --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notice:
    """A message to send: its template (for statistics and the contract) and its Vietnamese text."""

    template: str
    message: str
    #: What makes this change one change: empty for what happens once in a dossier's life (received,
    #: refused, result), else the request's own identity (a supplement request's time, a payment reference,
    #: the appointment an apology is for).
    occasion: str = ""


def notice_for(event_type: str, record: Mapping[str, Any], facts: DossierFacts) -> Notice | None:
    """The notice a citizen must get for an event about their dossier, or None when they need not be told.

    `event_type` is the event's full Avro name (its `ce_type`); `record` the decoded body.
    """
    head = f"Hồ sơ {facts.dossier_code} ({facts.procedure_name})"
    if event_type == EventTypes.DOSSIER_STATUS_CHANGED:
        template = _STATUS_TEMPLATES.get(record["to_status"])
        reason = record.get("reason")
        if template == RECEIVED:
            text = f"{head} đã được tiếp nhận. Ngày hẹn trả kết quả: {_vn_date(facts.appointment)}."
            if reason:
                text += f" Ghi chú: {_sentence(reason)}"
            return Notice(RECEIVED, text)
        if template == NOT_ACCEPTED:
            return Notice(NOT_ACCEPTED, f"{head} không được tiếp nhận.{_reason(reason)}")
        if template == REJECTED:
            return Notice(REJECTED, f"{head} không được giải quyết.{_reason(reason)}")
        return None
    if event_type == EventTypes.SUPPLEMENT_REQUESTED:
        missing = "; ".join(_clause(item) for item in record["missing_items"])
        return Notice(
            SUPPLEMENT_REQUESTED,
            f"{head} cần bổ sung: {missing} (lý do: {_clause(record['reason'])}). Hồ sơ tạm dừng xử lý "
            f"cho đến khi Ông/Bà bổ sung trên {PORTAL_NAME}.",
            occasion=record["requested_at"].isoformat(),
        )
    if event_type == EventTypes.FEE_REQUESTED:
        return Notice(
            FEE_REQUESTED,
            f"{head}: Ông/Bà vui lòng nộp phí, lệ phí {format_vnd(record['amount'])}, mã thanh toán "
            f"{record['payment_reference']}, hạn nộp {_vn_date(record['due_date'])}.",
            occasion=record["payment_reference"],
        )
    if event_type == EventTypes.RESULT_RETURNED:
        document = record.get("document_id")
        document_part = f", mã văn bản {document}" if document else ""
        if record["electronic"]:
            text = (
                f"{head} đã có kết quả điện tử{document_part}. Ông/Bà có thể nhận kết quả trên {PORTAL_NAME}."
            )
        else:
            text = (
                f"{head} đã có kết quả bản giấy{document_part}. "
                "Ông/Bà vui lòng nhận kết quả theo hình thức đã đăng ký."
            )
        return Notice(RESULT_READY, text)
    if event_type == EventTypes.DOSSIER_OVERDUE:
        before = _vn_date(record["original_appointment_date"])
        after = _vn_date(record["new_appointment_date"])
        apology = _sentence(record["apology"])
        occasion = record["original_appointment_date"].isoformat()
        if after in apology:  # the apology already gives the new date
            return Notice(OVERDUE_APOLOGY, f"{head}: {apology}", occasion)
        text = f"{head}: {apology} Ngày hẹn trả kết quả được hẹn lại từ {before} sang {after}."
        return Notice(OVERDUE_APOLOGY, text, occasion)
    return None


def format_vnd(money: Mapping[str, Any]) -> str:
    """A Money amount the Vietnamese way: dots between thousands, then `đồng` (`50.000 đồng`)."""
    if money.get("currency", "VND") != "VND":
        raise ValueError(f"only VND amounts are written in đồng, got {money.get('currency')}")
    return f"{int(money['amount']):,} đồng".replace(",", ".")


# -- the recipient ------------------------------------------------------------------------------------------
def recipient(contact: Mapping[str, Any]) -> tuple[str, str]:
    """The channel the citizen chose and the address to send to on it: the phone for SMS and Zalo, the
    e-mail for EMAIL. The contract's `contact_reachable` rule normally guarantees the address is there;
    if it is not, the error names the missing field rather than sending to nobody."""
    channel = contact.get("notify_by") or "SMS"  # the contract's default
    field = _ADDRESS_FIELD.get(channel)
    if field is None:
        raise ValueError(f"notify_by: unknown channel {channel!r}")
    address = contact.get(field)
    if not address:
        raise ValueError(f"{field} is needed to notify by {channel}")
    return channel, str(address)


def mask_recipient(channel: str, address: str) -> str:
    """The address with its personal part hidden, for the published event and the logs.

    - Phone (SMS, ZALO): the first 2 and last 3 *digits* are kept and every digit between becomes `*`;
      other characters (the `+` of `+84`, separators) are kept where they are. So `0912345678` →
      `09*****678` and `+84912345678` → `+84******678` (its first two digits are the country code).
      A number with 5 digits or fewer is masked entirely.
    - E-mail: the first character of the local part, `***`, then the domain: `lan.nguyen@example.vn` →
      `l***@example.vn`. Something without a local part and a domain is masked entirely (`***`).
    """
    if channel in ("SMS", "ZALO"):
        total = sum(ch.isdigit() for ch in address)
        seen = 0
        out = []
        for ch in address:
            if ch.isdigit():
                keep = total > 5 and (seen < 2 or seen >= total - 3)
                out.append(ch if keep else "*")
                seen += 1
            else:
                out.append(ch)
        return "".join(out)
    if channel == "EMAIL":
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain:
            return "***"
        return f"{local[0]}***@{domain}"
    raise ValueError(f"unknown channel {channel!r}")


# -- never twice --------------------------------------------------------------------------------------------
def notification_id(dossier_code: str, template: str, occasion: str = "") -> str:
    """The id of a notice: one per dossier, template and occasion (`Notice.occasion`). The same change
    told again (a redelivered event, or the same change published again under another event id) maps to
    the same notice, which is then recognised as already sent."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    # Templates and dossier codes contain no '|', so the name is unambiguous.
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{dossier_code}|{template}|{occasion}"))


def remember(sent: Mapping[str, Any] | None, notification_id: str) -> tuple[bool, dict[str, Any]]:
    """Whether the notice was already sent, and the dossier's memory of notices after this one.

    The memory is a JSON-compatible `{"sent": [ids…]}` per dossier (a dossier has a handful of notices, so a
    list is enough). When the notice was already sent the state comes back unchanged and nothing must be
    sent; otherwise the new state includes it and must be stored with the NotificationSent event.
    """
    ids = list((sent or {}).get("sent", []))
    if notification_id in ids:
        return True, {**(sent or {}), "sent": ids}
    return False, {**(sent or {}), "sent": [*ids, notification_id]}


def notification_event(
    facts: DossierFacts, notice: Notice, cause_event_id: str, sent_at: dt.datetime
) -> dict[str, Any]:
    """The body of NotificationSent for `notice`, sent about the event `cause_event_id` at `sent_at`.

    Only the masked recipient is in it: the event is read by dashboards and archives that have no need of
    the citizen's address.
    """
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    channel, address = recipient(facts.contact)
    return {
        "dossier_code": facts.dossier_code,
        "notification_id": notification_id(facts.dossier_code, notice.template, notice.occasion),
        "channel": channel,
        "recipient_masked": mask_recipient(channel, address),
        "template": notice.template,
        "message": notice.message,
        "caused_by": cause_event_id,
        "sent_at": sent_at.astimezone(dt.UTC),
    }


# -- helpers ------------------------------------------------------------------------------------------------
def _vn_date(day: dt.date) -> str:
    return f"{day:%d/%m/%Y}"


def _clause(text: str) -> str:
    """Text to embed inside a sentence: without surrounding blanks or a final full stop."""
    return text.strip().rstrip(".;").rstrip()


def _sentence(text: str) -> str:
    """Text as a whole sentence: ending with one full stop (or its own ! ? …)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def _reason(reason: str | None) -> str:
    return f" Lý do: {_sentence(reason)}" if reason else ""


def _iso_date(value: Any) -> str:
    """An ISO date string from a date (as decoded) or an ISO string (as stored); anything else is refused."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"expected a date, got a datetime {value!r}")
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(str(value)).isoformat()


def _json_copy(value: Any) -> Any:
    """A deep copy made of dicts, lists, strings, numbers, booleans and None only; refuses anything else
    (a date, bytes) rather than storing what a JSON table cannot hold."""
    if isinstance(value, Mapping):
        return {str(k): _json_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_copy(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not JSON-compatible: {value!r}")
