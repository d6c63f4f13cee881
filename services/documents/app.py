"""documents wiring: the province's document-management-and-executive system, serving every agency.

- `POST /api/v1/documents`: an agency submits an outgoing document (file, recipients, signer); it is numbered
  in the agency's register (one writer per agency, as the one-stop system numbers dossiers), approved by its
  signer, signed by the signing platform, and issued to its recipients through the LGSP.
- `GET /api/v1/drafts/{draft_id}`: the document id once registered.
- `GET /api/v1/documents/by-id?id=…`: the sender's view (every recipient's statuses) and each recipient's
  (document ids hold commas and slashes, so they travel as a query parameter);
- `POST /api/v1/documents/recall?id=…` with `{"reason": …}`: ask the recipients to recall it (13).

As a recipient, it verifies each incoming document's file and signature against the trust store (the test
CA's public root and revocation list) and reports every step to the sender in edXML status packets.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from aiokafka.errors import KafkaError
from cryptography import x509
from cryptography.x509.oid import NameOID
from faust.web import Request, Response, View

from egov.contracts.validation import FieldError, error_body
from egov.paths import REPO_ROOT
from egov.pki import SignatureInvalid, trust_store, verify
from egov.province import get_province
from egov.regulations.workdays import WorkingCalendar
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.timers import Timers
from egov.runtime.topics import EventTypes, Topics
from services import SERVICES
from services.documents.domain import (
    IN_PROGRESS,
    DocumentRefused,
    InvalidDraft,
    answer_recall,
    arrival,
    complete,
    content_problem,
    issue,
    number,
    officer_of,
    open_outgoing,
    recall,
    record_status,
    registered,
    signer_problem,
    validate_draft,
)

service = Service("documents", default_port=SERVICES["documents"])
app = service.app
settings = service.settings
province = get_province(settings.province)
agency_codes = frozenset(a.code for a in province.agencies)
zone = ZoneInfo(province.timezone)
calendar = WorkingCalendar()
service.writes(Topics.DOCUMENT_DRAFTS, Topics.OUTGOING_DOCUMENTS, Topics.DOCUMENT_STATUS)
timers = Timers(service)
COMPLETE = "complete"
PROFILE = yaml.safe_load(
    (
        settings.documents_profile or REPO_ROOT / "services" / "documents" / "profiles" / "default.yaml"
    ).read_text(encoding="utf-8")
)

#: Agency code → its register of outgoing documents, by year.
registers = service.table("registers", help="Agency code → numbers issued in its register, by year.")
#: Document id → {"outgoing": the sender's state, "incoming": {recipient code: the recipient's state}}.
documents = service.table("documents", help="Document id → the sender's and the recipients' states.")


_IDEMPOTENCY = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:documents:idempotency-key")


def _error(view: View, status: int, errors: list[FieldError]) -> Response:
    return view.json(error_body(errors), status=status)


@app.page("/api/v1/documents")
class DocumentIntake(View):
    async def post(self, request: Request) -> Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(self, 400, [FieldError("(body)", "json", f"is not valid JSON: {exc}")])
        try:
            draft = validate_draft(body, province)
        except InvalidDraft as exc:
            return _error(self, 422, exc.errors)
        now = service.clock.now()
        # With an Idempotency-Key, a client that retries gets the same draft, hence the same number.
        key = request.headers.get("Idempotency-Key")
        draft_id = str(uuid.uuid5(_IDEMPOTENCY, key)) if key else str(uuid.uuid4())
        record = {**draft, "draft_id": draft_id, "drafted_at": now}
        envelope = service.new_envelope(
            EventTypes.DOCUMENT_DRAFTED,
            subject=draft_id,
            time=now,
            id=str(uuid.uuid5(_IDEMPOTENCY, draft_id)),
        )
        try:
            await service.publish(
                Topics.DOCUMENT_DRAFTS, record, key=draft["issuing_agency"]["code"], envelope=envelope
            )
        except KafkaError as exc:
            service.log.error("document.not_recorded", draft_id=draft_id, error=repr(exc))
            return _error(
                self, 503, [FieldError("(service)", "unavailable", "the document was not recorded")]
            )
        return self.json({"draft_id": draft_id, "links": {"self": f"/api/v1/drafts/{draft_id}"}}, status=202)


@app.page("/api/v1/drafts/{draft_id}")
class DraftLookup(View):
    async def get(self, request: Request, draft_id: str) -> Response:
        for document, entry in list(documents.items()):
            if (entry.get("outgoing") or {}).get("draft_id") == draft_id:
                return self.json({"draft_id": draft_id, "document_id": document})
        return self.json({"draft_id": draft_id, "document_id": None})


def _document_id(request: Request) -> str:
    """Document ids hold commas and slashes (edXML form): they travel as the `id` query parameter."""
    return str(request.query.get("id", ""))


@app.page("/api/v1/documents/by-id")
class DocumentLookup(View):
    async def get(self, request: Request) -> Response:
        entry = documents.get(_document_id(request))
        if entry is None:
            return _error(self, 404, [FieldError("document_id", "exists", "no such document")])
        outgoing = dict(entry.get("outgoing") or {})
        outgoing.pop("content_data", None)
        return self.json({"outgoing": outgoing or None, "incoming": entry.get("incoming") or {}})


@app.page("/api/v1/documents/recall")
class DocumentRecall(View):
    async def post(self, request: Request) -> Response:
        document = _document_id(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(self, 400, [FieldError("(body)", "json", f"is not valid JSON: {exc}")])
        now = service.clock.now()
        entry = documents.get(document) or {}
        try:
            record = recall(entry.get("outgoing"), document, str(body.get("reason", "")), now)
        except DocumentRefused as exc:
            return _error(self, 409, [FieldError("document_id", "status", str(exc))])
        # One recall per document: asking again sends the same event, which recipients handle once.
        recall_id = str(uuid.uuid5(_IDEMPOTENCY, f"recall/{document}"))
        envelope = service.new_envelope(
            EventTypes.DOCUMENT_RECALL_REQUESTED, subject=document, time=now, id=recall_id
        )
        try:
            await service.publish(Topics.OUTGOING_DOCUMENTS, record, key=document, envelope=envelope)
        except KafkaError as exc:
            service.log.error("recall.not_recorded", document_id=document, error=repr(exc))
            return _error(
                self, 503, [FieldError("(service)", "unavailable", "the recall was not recorded; ask again")]
            )
        return self.json({"document_id": document, "status": "RECALL_REQUESTED"}, status=202)


# -- the sender's side ----------------------------------------------------------------------------------
async def number_draft(event: IncomingEvent) -> None:
    """Number a draft in its agency's register and publish DocumentRegistered."""
    draft = event.record
    agency = draft["issuing_agency"]["code"]
    today = event.handled_at.astimezone(zone).date()
    value, register = number(registers.get(agency), draft["draft_id"], today.year)
    body = registered(draft, number=value, promulgation=today, now=event.handled_at)
    envelope = service.new_envelope(
        EventTypes.DOCUMENT_REGISTERED, subject=body["document_id"], time=event.handled_at, caused_by=event
    )
    await service.publish(Topics.OUTGOING_DOCUMENTS, body, key=body["document_id"], envelope=envelope)
    registers[agency] = register
    service.log.info("document.registered", document_id=body["document_id"])


async def publish_all(event: IncomingEvent, document: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    for index, (event_type, body) in enumerate(events):
        envelope = service.new_envelope(
            event_type,
            subject=document,
            time=event.handled_at,
            caused_by=event,
            purpose=f"{index}/{event_type}",
        )
        spec = (
            Topics.DOCUMENT_STATUS
            if event_type == EventTypes.DOCUMENT_STATUS_PACKET
            else Topics.OUTGOING_DOCUMENTS
        )
        await service.publish(spec, body, key=document, envelope=envelope)


async def approve_and_sign(event: IncomingEvent) -> None:
    document = event.record["document_id"]
    entry = dict(documents.get(document) or {})
    if entry.get("outgoing") is not None:
        return  # registered before (a redelivery under another id cannot reopen it)
    try:
        step = open_outgoing(event.record, event.handled_at)
    except DocumentRefused as exc:
        raise RejectedEvent(str(exc)) from exc
    await publish_all(event, document, step.events)
    documents[document] = {**entry, "outgoing": step.state}


async def issue_signed(event: IncomingEvent) -> None:
    document = event.record["document_id"]
    entry = dict(documents.get(document) or {})
    try:
        step = issue(entry.get("outgoing"), event.record, event.handled_at)
    except DocumentRefused as exc:
        raise RejectedEvent(str(exc)) from exc
    await publish_all(event, document, step.events)
    documents[document] = {**entry, "outgoing": step.state}
    service.log.info("document.issued", document_id=document)


async def note_recall(event: IncomingEvent) -> None:
    document = event.record["document_id"]
    entry = dict(documents.get(document) or {})
    if entry.get("outgoing") is not None:
        documents[document] = {**entry, "outgoing": {**entry["outgoing"], "status": "recalling"}}


async def status_received(event: IncomingEvent) -> None:
    document = event.record["document_id"]
    entry = dict(documents.get(document) or {})
    try:
        outgoing = record_status(entry.get("outgoing"), event.record)
    except DocumentRefused as exc:
        raise RejectedEvent(str(exc)) from exc
    documents[document] = {**entry, "outgoing": outgoing}


# -- the recipients' side ---------------------------------------------------------------------------------
def check_signature(issued: dict[str, Any], now: dt.datetime) -> tuple[str, str] | None:
    """(kind, detail) of what is wrong with the file or the signature, judged at `now`; None if it holds."""
    problem = content_problem(issued)
    if problem is not None:
        return problem
    roots, crls = trust_store(settings.ca_directory / "public")
    if not roots:  # the signing platform has not created its CA yet: wait, do not refuse
        raise ConnectionError(f"no trusted root in {settings.ca_directory / 'public'} yet")
    try:
        verified = verify(issued["signature"], issued["content_data"], trusted_roots=roots, crls=crls, at=now)
    except SignatureInvalid as exc:
        return exc.kind, str(exc)
    subject = verified.signer.subject
    return signer_problem(
        _attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        _attribute(subject, NameOID.TITLE),
        issued["issuing_agency"]["code"],
    )


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    found = name.get_attributes_for_oid(oid)
    return str(found[0].value) if found else None


def done_by(agency_code: str, arrived_at: dt.datetime) -> dt.datetime:
    """When the agency completes an incoming document: its working days later, at 16:00 in the province."""
    days = int((PROFILE.get("agencies") or {}).get(agency_code, PROFILE.get("default_days", 2)))
    day = calendar.add_working_days(arrived_at.astimezone(zone).date(), days)
    return max(arrived_at, dt.datetime.combine(day, dt.time(16, 0), tzinfo=zone).astimezone(dt.UTC))


async def arrived(event: IncomingEvent) -> None:
    """An issued document reaches the agencies of this system it is addressed to."""
    issued = event.record
    document = issued["document_id"]
    entry = dict(documents.get(document) or {})
    incoming = dict(entry.get("incoming") or {})
    problem = check_signature(issued, event.handled_at)
    events: list[tuple[str, dict[str, Any]]] = []
    arrivals = []
    for recipient in issued["recipients"]:
        code = recipient["code"]
        if code not in agency_codes or code in incoming:
            continue  # another system's agency, or arrived before
        state, packets = arrival(issued, recipient, problem, officer_of(recipient), event.handled_at)
        incoming[code] = state
        arrivals.append(code)
        events += [(EventTypes.DOCUMENT_STATUS_PACKET, p) for p in packets]
    await publish_all(event, document, events)
    documents[document] = {**entry, "incoming": incoming}
    for code in arrivals:
        if incoming[code]["status"] == IN_PROGRESS:
            timers.set(document, f"{COMPLETE}:{code}", done_by(code, event.handled_at))
    service.log.info("document.arrived", document_id=document, refused=problem is not None)


async def completed(document: str, event: IncomingEvent) -> None:
    code = event.record["purpose"].split(":", 1)[1]
    entry = dict(documents.get(document) or {})
    incoming = dict(entry.get("incoming") or {})
    done = complete(incoming.get(code), document, event.handled_at)
    if done is None:
        return
    incoming[code], reply = done
    await publish_all(event, document, [(EventTypes.DOCUMENT_STATUS_PACKET, reply)])
    documents[document] = {**entry, "incoming": incoming}


async def recall_arrived(event: IncomingEvent) -> None:
    request = event.record
    document = request["document_id"]
    entry = dict(documents.get(document) or {})
    incoming = dict(entry.get("incoming") or {})
    replies = []
    for recipient in request["recipients"]:
        answered = answer_recall(incoming.get(recipient["code"]), request, event.handled_at)
        if answered is not None:
            incoming[recipient["code"]], reply = answered
            replies.append((EventTypes.DOCUMENT_STATUS_PACKET, reply))
    await publish_all(event, document, replies)
    documents[document] = {**entry, "incoming": incoming}
    for recipient in request["recipients"]:  # a recalled document is not processed further
        if (incoming.get(recipient["code"]) or {}).get("status") == "RECALL_ACCEPTED":
            timers.cancel(document, f"{COMPLETE}:{recipient['code']}")


timers.on(COMPLETE, completed)
service.consume(Topics.DOCUMENT_DRAFTS, number_draft, name="number-drafts")
service.consume(
    Topics.OUTGOING_DOCUMENTS,
    {EventTypes.DOCUMENT_REGISTERED: approve_and_sign, EventTypes.DOCUMENT_RECALL_REQUESTED: note_recall},
    name="outgoing",
)
service.consume(Topics.SIGNATURES, issue_signed, name="signatures")
service.consume(
    Topics.LGSP_DOCUMENTS,
    {
        EventTypes.DOCUMENT_ISSUED: arrived,
        EventTypes.DOCUMENT_STATUS_PACKET: status_received,
        EventTypes.DOCUMENT_RECALL_REQUESTED: recall_arrived,
    },
    name="deliveries",
)


def main() -> None:
    service.run()
