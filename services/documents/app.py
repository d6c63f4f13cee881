"""documents wiring: the province's document-management-and-executive system, serving every agency.

- `POST /api/v1/documents`: an official (clerk or leader) submits an outgoing document of their agency (file,
  recipients, signer); it is numbered in the agency's register (one writer per agency, as the one-stop system
  numbers dossiers) and waits for its signer;
- `POST /api/v1/documents/approve?id=…`: the signer approves it, signed in within the last minutes with their
  own credentials; only then is it signed by the signing platform and issued through the LGSP;
- `GET /api/v1/drafts/{draft_id}`: the document id once registered.
- `GET /api/v1/documents/by-id?id=…`: the sender's view (every recipient's statuses) and each recipient's
  (document ids hold commas and slashes, so they travel as a query parameter);
- `POST /api/v1/documents/recall?id=…` with `{"reason": …}`: ask the recipients to recall it (13).

As a recipient, it verifies each incoming document's file and signature against the trust store (the test
CA's public root and revocation list) and reports every step to the sender in edXML status packets.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from egov.contracts.topics import EventTypes, Topics
from egov.paths import REPO_ROOT
from egov.platform.pki import SignatureInvalid, trust_store, verify
from egov.platform.province import get_province
from egov.regulations.workdays import WorkingCalendar
from egov.runtime.auth import CLERK, LEADER, Person, officials
from egov.runtime.engine import Engine
from egov.runtime.http import HttpError, HttpRequest, HttpResponse, Operation, Parameter, Reply, refusal
from egov.runtime.retries import TryLater
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.settings import Settings
from egov.runtime.timers import Timers
from services import SERVICES
from services.documents.domain import (
    AWAITING_APPROVAL,
    IN_PROGRESS,
    MAX_CONTENT_BYTES,
    ApprovalRefused,
    DocumentRefused,
    DocumentView,
    DraftAccepted,
    DraftRequest,
    DraftStatus,
    InvalidDraft,
    RecallRequest,
    StepAccepted,
    answer_recall,
    approve,
    arrival,
    complete,
    completion_due,
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
    validate_recall,
)

#: The purpose of the timer that completes an incoming document at a recipient (`complete:<agency code>`).
COMPLETE = "complete"
_IDEMPOTENCY = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:documents:idempotency-key")

DOCUMENT_EXAMPLE = "000.00.04.H11,2026/11/24,1/SKHĐT-VP"
DOCUMENT_LINK_EXAMPLE = "/api/v1/documents/by-id?id=000.00.04.H11%2C2026%2F11%2F24%2C1%2FSKH%C4%90T-VP"
DRAFT_EXAMPLE = "0d4c5b7e-2f8a-5c1d-9e3b-6a7f8c9d0e1f"
DOCUMENT_ID = Parameter(
    "id",
    "query",
    "The edXML document id `<organ id>,<yyyy/mm/dd>,<number>/<symbol>` (it holds commas and slashes, so "
    "it travels as a query parameter).",
    {"type": "string", "minLength": 1, "maxLength": 300},
    required=True,
    example=DOCUMENT_EXAMPLE,
)
NO_DOCUMENT = refusal("No document has that id.", "document_id", "exists", "no such document")
OTHER_AGENCY = refusal(
    "A document of another agency.",
    "document_id",
    "agency",
    "is a document of 000.00.15.H11, not of your agency",
)
DRAFT_BODY_EXAMPLE = {
    "recipients": ["000.00.15.H11"],
    "document_type": "Công văn",
    "symbol": "SKHĐT-VP",
    "summary": "Về việc phối hợp thẩm định hồ sơ dự án đầu tư",
    "signer": {
        "official_id": "000.00.04.H11/lanh-dao-01",
        "full_name": "Trần Văn Minh",
        "position": "Giám đốc",
    },
    "file_name": "cong-van.txt",
    "media_type": "text/plain; charset=utf-8",
    "content_base64": "Q8OUTkcgVsSCTgo=",
}


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("documents", default_port=SERVICES["documents"].port, settings=settings, engine=engine)
    province = get_province(settings.province)
    agency_codes = frozenset(a.code for a in province.agencies)
    zone = ZoneInfo(province.timezone)
    calendar = WorkingCalendar()
    service.writes(Topics.DOCUMENT_DRAFTS, Topics.OUTGOING_DOCUMENTS, Topics.DOCUMENT_STATUS)
    timers = Timers(service)
    profile_path = (
        settings.documents_profile or REPO_ROOT / "services" / "documents" / "profiles" / "default.yaml"
    )
    profile = yaml.safe_load(profile_path.read_text(encoding="utf-8"))

    #: Agency code → its register of outgoing documents, by year.
    registers = service.table("registers", help="Agency code → numbers issued in its register, by year.")
    #: Document id → {"outgoing": the sender's state, "incoming": {recipient code: the recipient's state}}.
    documents = service.table("documents", help="Document id → the sender's and the recipients' states.")
    #: `<agency code>/<draft id>` → the document id its agency's register gave it: kept with the register,
    #: on the agency's partition, and looked up under the caller's own agency (no other agency finds it).
    drafts = service.table("drafts", help="Agency code and draft id → the document id its register gave it.")

    # A look-up is answered by the worker holding its key's partition (egov.runtime.routing): a document's by
    # its id (the `id` query parameter: edXML ids hold commas and slashes), a draft's by its agency's code,
    # which is the caller's own (an official sees only their agency's drafts).
    def by_document(request: HttpRequest) -> str | None:
        return request.query_value("id") or None

    def by_own_agency(request: HttpRequest) -> str | None:
        return request.person.agency_code if request.person is not None else None

    # -- the API -------------------------------------------------------------------------------------
    def person_of(request: HttpRequest) -> Person | None:
        return request.person

    def own_agency(request: HttpRequest, code: str | None, *, field: str = "document_id") -> None:
        """403 unless the official works for that agency (nothing to check with EGOV_AUTH=off)."""
        person = person_of(request)
        if person is not None and person.agency_code != code:
            raise HttpError.one(403, field, "agency", f"is a document of {code}, not of your agency")

    drafted = Operation(
        summary="Submit an outgoing document for registration",
        description="A clerk or leader of the issuing agency (the caller's own: `issuing_agency` may be left "
        "out). It is numbered in the agency's register and waits for its signer's approval.",
        body=DraftRequest,
        body_example=DRAFT_BODY_EXAMPLE,
        # the file travels inside (base64), as edXML carries a document's attachments
        max_body_bytes=4 * ((MAX_CONTENT_BYTES + 2) // 3) + 64 * 1024,
        parameters=(
            Parameter(
                "Idempotency-Key",
                "header",
                "Makes a retry safe: the same key always gives the same draft, hence the same number.",
                {"type": "string", "minLength": 1, "maxLength": 200},
            ),
        ),
        publishes=True,
        replies={
            202: Reply(
                "Taken: follow it by its draft id.",
                DraftAccepted,
                {"draft_id": DRAFT_EXAMPLE, "links": {"self": f"/api/v1/drafts/{DRAFT_EXAMPLE}"}},
            ),
            403: refusal(
                "An issuing agency other than the official's own.",
                "issuing_agency",
                "agency",
                "must be your agency 000.00.04.H11: an official issues only for their own",
            ),
            422: refusal(
                "The body breaks a rule: one entry per wrong field.",
                "signer.position",
                "authorised",
                "may not sign for the agency; one of Chánh Văn phòng, Chủ tịch, Giám đốc, …",
            ),
        },
    )

    @service.route("POST", "/api/v1/documents", access=officials(CLERK, LEADER), operation=drafted)
    async def submit(request: HttpRequest) -> HttpResponse:
        body = request.json()
        person = person_of(request)
        if person is not None and isinstance(body, dict):
            # the issuing agency is the official's own, as their token says
            named = body.setdefault("issuing_agency", person.agency_code)
            if named != person.agency_code:
                message = f"must be your agency {person.agency_code}: an official issues only for their own"
                raise HttpError.one(403, "issuing_agency", "agency", message)
        try:
            draft = validate_draft(body, province)
        except InvalidDraft as exc:
            raise HttpError(422, exc.errors) from exc
        now = service.clock.now()
        # With an Idempotency-Key, a client that retries gets the same draft, hence the same number.
        key = request.header("Idempotency-Key")
        draft_id = str(uuid.uuid5(_IDEMPOTENCY, key)) if key else str(uuid.uuid4())
        record = {
            **draft,
            "draft_id": draft_id,
            "drafted_at": now,
            "drafted_by": person.actor() if person else None,
        }
        envelope = service.new_envelope(
            EventTypes.DOCUMENT_DRAFTED,
            subject=draft_id,
            time=now,
            id=str(uuid.uuid5(_IDEMPOTENCY, draft_id)),
        )
        await service.publish_for_request(
            Topics.DOCUMENT_DRAFTS,
            record,
            key=draft["issuing_agency"]["code"],
            envelope=envelope,
            unrecorded="the document was not recorded; send it again with the same Idempotency-Key",
        )
        taken = DraftAccepted(draft_id=draft_id, links={"self": f"/api/v1/drafts/{draft_id}"})
        return HttpResponse(taken.model_dump(), status=202)

    draft_followed = Operation(
        summary="Follow a draft until the register numbers it",
        parameters=(
            Parameter(
                "draft_id",
                "path",
                "The draft id the POST answered.",
                {"type": "string", "minLength": 1, "maxLength": 100},
                required=True,
                example=DRAFT_EXAMPLE,
            ),
        ),
        replies={
            200: Reply(
                "Its document id once registered (null before).",
                DraftStatus,
                {
                    "draft_id": DRAFT_EXAMPLE,
                    "document_id": DOCUMENT_EXAMPLE,
                    "status": "registered",
                    "links": {"document": DOCUMENT_LINK_EXAMPLE},
                },
            ),
        },
    )

    def any_agency(draft_id: str) -> str | None:
        """With EGOV_AUTH=off nobody's agency is known: the drafts this worker holds, whichever agency's."""
        found = (v for k, v in list(drafts.items()) if k.endswith(f"/{draft_id}"))
        return next(found, None)

    @service.route(
        "GET", "/api/v1/drafts/{draft_id}", access=officials(), operation=draft_followed, owner=by_own_agency
    )
    async def draft_status(request: HttpRequest) -> dict[str, Any]:
        """The document id the draft's register gave it, once numbered (its later states: `by-id`). Looked up
        under the caller's own agency: another agency's draft is not found."""
        draft_id = request.params["draft_id"]
        agency = request.person.agency_code if request.person is not None else None
        document = drafts.get(f"{agency}/{draft_id}") if agency else any_agency(draft_id)
        if document is None:
            return DraftStatus(draft_id=draft_id, document_id=None, status="pending").model_dump()
        found = DraftStatus(
            draft_id=draft_id,
            document_id=document,
            status="registered",
            links={"document": f"/api/v1/documents/by-id?id={quote(document, safe='')}"},
        )
        return found.model_dump(exclude_none=True)

    approved = Operation(
        summary="Approve a document for signature (its signer, signed in anew)",
        description="Only the official named as its signer, a leader of the issuing agency, signed in within "
        "the last minutes (the token's auth_time); then the signing platform signs it and the LGSP "
        "issues it.",
        parameters=(DOCUMENT_ID,),
        publishes=True,
        replies={
            202: Reply(
                "Approved: it is being signed.",
                StepAccepted,
                {"document_id": DOCUMENT_EXAMPLE, "status": "APPROVED"},
            ),
            401: refusal(
                "The sign-in is too old for a signature: sign in again.",
                "Authorization",
                "approval",
                "was signed in 412 s ago; a signature needs a sign-in of the last 300 s",
            ),
            403: refusal(
                "Not the document's signer.", "signer", "approval", "is 000.00.04.H11/lanh-dao-02, not you"
            ),
            404: NO_DOCUMENT,
            409: refusal(
                "It does not wait for an approval.",
                "document_id",
                "approval",
                "is signing, not awaiting its signer's approval",
            ),
        },
    )

    @service.route(
        "POST", "/api/v1/documents/approve", access=officials(LEADER), operation=approved, owner=by_document
    )
    async def approve_for_signature(request: HttpRequest) -> HttpResponse:
        document = request.query_value("id")
        entry = dict(documents.get(document) or {})
        outgoing = entry.get("outgoing")
        real_now = dt.datetime.now(dt.UTC)
        # With EGOV_AUTH=off (debugging) nobody signs in: the request stands for the signer, just signed in.
        who = request.person or Person(
            kind="official",
            subject="auth-off",
            issuer="",
            official_id=((outgoing or {}).get("signer") or {}).get("official_id"),
            agency_code=((outgoing or {}).get("issuing_agency") or {}).get("code"),
            position=LEADER,
            authenticated_at=real_now,
        )
        now = service.clock.now()
        try:
            step = approve(
                outgoing,
                document,
                official_id=who.official_id,
                agency_code=who.agency_code,
                actor=who.actor(),
                authenticated_at=who.authenticated_at,
                max_age_seconds=settings.signing_reauth_seconds,
                real_now=real_now,
                now=now,
            )
        except ApprovalRefused as exc:
            raise HttpError.one(exc.status, exc.field, "approval", str(exc)) from exc
        # One approval per document: asking again sends the same events, which readers handle once.
        approval_id = str(uuid.uuid5(_IDEMPOTENCY, f"approve/{document}"))
        for index, (event_type, body) in enumerate(step.events):
            envelope = service.new_envelope(
                event_type,
                subject=document,
                time=now,
                id=str(uuid.uuid5(_IDEMPOTENCY, f"{approval_id}/{index}")),
            )
            await service.publish_for_request(
                Topics.OUTGOING_DOCUMENTS,
                body,
                key=document,
                envelope=envelope,
                unrecorded="the approval was not recorded; approve again",
            )
        service.log.info("document.approved", document_id=document)
        return HttpResponse(StepAccepted(document_id=document, status="APPROVED").model_dump(), status=202)

    viewed = Operation(
        summary="A document's statuses, as its sender and its recipients see them",
        parameters=(DOCUMENT_ID,),
        replies={
            200: Reply(
                "The sender's state (every recipient's statuses) and each recipient's.",
                DocumentView,
                {"outgoing": {"document_id": DOCUMENT_EXAMPLE, "status": "issued"}, "incoming": {}},
            ),
            403: refusal(
                "Neither of the caller's agency nor addressed to it.",
                "document_id",
                "agency",
                "is a document neither of your agency nor addressed to it",
            ),
            404: NO_DOCUMENT,
        },
    )

    @service.route("GET", "/api/v1/documents/by-id", access=officials(), operation=viewed, owner=by_document)
    async def document_view(request: HttpRequest) -> dict[str, Any]:
        # Document ids hold commas and slashes (edXML form): they travel as the `id` query parameter.
        entry = documents.get(request.query_value("id"))
        if entry is None:
            raise HttpError.one(404, "document_id", "exists", "no such document")
        person = person_of(request)
        if person is not None:
            parties = set(entry.get("incoming") or {})
            if entry.get("outgoing"):
                parties.add(entry["outgoing"]["issuing_agency"]["code"])
            if person.agency_code not in parties:
                message = "is a document neither of your agency nor addressed to it"
                raise HttpError.one(403, "document_id", "agency", message)
        outgoing = dict(entry.get("outgoing") or {})
        outgoing.pop("content_data", None)
        return DocumentView(outgoing=outgoing or None, incoming=entry.get("incoming") or {}).model_dump()

    recalled = Operation(
        summary="Ask the recipients to recall a document (13)",
        description="A leader of the issuing agency; each recipient accepts (15) while it has not completed "
        "the document, refuses (16) after.",
        body=RecallRequest,
        body_example={"reason": "Văn bản ban hành chưa đúng thẩm quyền, đề nghị thu hồi."},
        parameters=(DOCUMENT_ID,),
        publishes=True,
        replies={
            202: Reply(
                "Asked.", StepAccepted, {"document_id": DOCUMENT_EXAMPLE, "status": "RECALL_REQUESTED"}
            ),
            403: OTHER_AGENCY,
            409: refusal(
                "It has not been issued.",
                "document_id",
                "status",
                f"{DOCUMENT_EXAMPLE} has not been issued: there is nothing to recall",
            ),
            422: refusal(
                "The reason is missing or breaks a rule.", "reason", "free_text", "must not be empty"
            ),
        },
    )

    @service.route(
        "POST", "/api/v1/documents/recall", access=officials(LEADER), operation=recalled, owner=by_document
    )
    async def recall_document(request: HttpRequest) -> HttpResponse:
        document = request.query_value("id")
        try:
            reason = validate_recall(request.json())
        except InvalidDraft as exc:
            raise HttpError(422, exc.errors) from exc
        now = service.clock.now()
        entry = documents.get(document) or {}
        if entry.get("outgoing"):
            own_agency(request, entry["outgoing"]["issuing_agency"]["code"])
        try:
            record = recall(entry.get("outgoing"), document, reason, now)
        except DocumentRefused as exc:
            raise HttpError.one(409, "document_id", "status", str(exc)) from exc
        person = person_of(request)
        record["requested_by"] = person.actor() if person else None
        # One recall per document: asking again sends the same event, which recipients handle once.
        recall_id = str(uuid.uuid5(_IDEMPOTENCY, f"recall/{document}"))
        envelope = service.new_envelope(
            EventTypes.DOCUMENT_RECALL_REQUESTED, subject=document, time=now, id=recall_id
        )
        await service.publish_for_request(
            Topics.OUTGOING_DOCUMENTS,
            record,
            key=document,
            envelope=envelope,
            unrecorded="the recall was not recorded; ask again",
        )
        asked = StepAccepted(document_id=document, status="RECALL_REQUESTED")
        return HttpResponse(asked.model_dump(), status=202)

    # -- the sender's side --------------------------------------------------------------------------
    async def number_draft(event: IncomingEvent) -> None:
        """Number a draft in its agency's register and publish DocumentRegistered."""
        draft = event.record
        agency = draft["issuing_agency"]["code"]
        today = event.handled_at.astimezone(zone).date()
        value, register = number(registers.get(agency), draft["draft_id"], today.year)
        body = registered(draft, number=value, promulgation=today, now=event.handled_at)
        envelope = service.new_envelope(
            EventTypes.DOCUMENT_REGISTERED,
            subject=body["document_id"],
            time=event.handled_at,
            caused_by=event,
        )
        await service.publish(Topics.OUTGOING_DOCUMENTS, body, key=body["document_id"], envelope=envelope)
        registers[agency] = register
        drafts[f"{agency}/{draft['draft_id']}"] = body["document_id"]
        service.log.info("document.registered", document_id=body["document_id"])

    async def publish_all(
        event: IncomingEvent, document: str, events: list[tuple[str, dict[str, Any]]]
    ) -> None:
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

    async def keep_registered(event: IncomingEvent) -> None:
        """A numbered document waits for its signer's approval (the approve route)."""
        document = event.record["document_id"]
        entry = dict(documents.get(document) or {})
        if entry.get("outgoing") is not None:
            return  # registered before (a redelivery under another id cannot reopen it)
        try:
            step = open_outgoing(event.record, event.handled_at)
        except DocumentRefused as exc:
            raise RejectedEvent(str(exc)) from exc
        documents[document] = {**entry, "outgoing": step.state}

    async def note_approval(event: IncomingEvent) -> None:
        """The signer approved it (the approve route published it): it is being signed."""
        document = event.record["document_id"]
        entry = dict(documents.get(document) or {})
        outgoing = entry.get("outgoing")
        if outgoing is not None and outgoing.get("status") == AWAITING_APPROVAL:
            documents[document] = {**entry, "outgoing": {**outgoing, "status": "signing"}}

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

    # -- the recipients' side -----------------------------------------------------------------------
    def check_signature(issued: dict[str, Any], now: dt.datetime) -> tuple[str, str] | None:
        """(kind, detail) of what is wrong with the file or the signature, judged at `now`; None if it
        holds. The signing platform not having published its trust store yet is a wait, not a refusal."""
        problem = content_problem(issued)
        if problem is not None:
            return problem
        roots, crls = trust_store(settings.ca_directory / "public")
        if not roots:
            raise TryLater(f"no trusted root in {settings.ca_directory / 'public'} yet")
        try:
            verified = verify(
                issued["signature"], issued["content_data"], trusted_roots=roots, crls=crls, at=now
            )
        except SignatureInvalid as exc:
            return exc.kind, str(exc)
        subject = verified.signer.subject
        return signer_problem(
            _attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
            _attribute(subject, NameOID.TITLE),
            issued["issuing_agency"]["code"],
        )

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
                due = completion_due(profile, code, event.handled_at, calendar, zone)
                timers.set(document, f"{COMPLETE}:{code}", due)
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
        {
            EventTypes.DOCUMENT_REGISTERED: keep_registered,
            EventTypes.DOCUMENT_APPROVED: note_approval,
            EventTypes.DOCUMENT_RECALL_REQUESTED: note_recall,
        },
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
    return service


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    found = name.get_attributes_for_oid(oid)
    return str(found[0].value) if found else None
