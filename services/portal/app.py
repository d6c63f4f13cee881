"""portal wiring: the HTTP API of the public-service portal.

- `POST /api/v1/dossiers`: validate, publish DossierSubmitted, answer 202 with the submission id; by the
  signed-in citizen online, in their own name, or by a one-stop counter officer in person or by post;
- `GET /api/v1/submissions/{id}`: pending, or the dossier code once the one-stop system gave one;
- `GET /api/v1/dossiers/{code}`: status, appointment date and history, for its applicant and its agencies'
  officials;
- `POST /api/v1/dossiers/{code}/supplements`: what the applicant supplies when asked (status 5);
- `GET /api/v1/public/dossiers/{code}`: anyone's look-up by dossier code: status and appointment date only.

Every route but the public look-up and the health check needs a bearer token (egov.runtime.auth): a citizen's
from VNeID, or an official's from the province's single sign-on; who acted travels with the events.

The portal is an access channel: it never reads the one-stop system's stores, only what that system
publishes (the dossiers topic), folded into the portal's own changelog-backed read model. The read model is
partitioned like the topics and the portal runs as several workers: each look-up names its key (a
submission id, a dossier code) and is answered by the worker holding that key's partition, whichever worker
receives it (egov.runtime.routing). So that every look-up needs one key only, what joins a submission to its
dossier is re-keyed through two internal topics (docs/adr/0016): each receipt by its submission id (a
submission's code then sits with the submission), and each received submission by its dossier code (who may
follow a dossier then sits with its status and history).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from egov.contracts.serde import ContractError
from egov.contracts.topics import EventTypes, Topics
from egov.paths import EXAMPLES_DIR
from egov.platform.province import get_province
from egov.regulations.codes import CodeError, parse_dossier_code
from egov.runtime.auth import COUNTER_OFFICER, PUBLIC, citizens_or_officials
from egov.runtime.engine import Engine
from egov.runtime.http import HttpError, HttpRequest, HttpResponse, Operation, Parameter, Reply, refusal
from egov.runtime.routing import by_param
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.settings import Settings
from services import SERVICES
from services.portal.domain import (
    CITIZEN,
    SERVER_SET_FIELDS,
    SUPPLEMENT_SERVER_FIELDS,
    DossierView,
    InvalidSubmission,
    PublicStatus,
    SubmissionAccepted,
    SubmissionStatus,
    SupplementAccepted,
    apply_event,
    may_follow,
    public_status,
    public_view,
    submission_event,
    submission_identity,
    submission_model,
    submitter_problem,
    supplement_model,
    validate_submission,
    validate_supplement,
)

CODE_EXAMPLE = "000.00.04.H11-261124-0001"
SUBMISSION_EXAMPLE = "6f1c2a3e-8d4b-4c1e-9a57-2b8e0c9d4f10"
DOSSIER_CODE = Parameter(
    "dossier_code",
    "path",
    "The dossier code (mã số hồ sơ): <agency code>-<YYMMDD>-<sequence>, Thông tư 03/2025/TT-VPCP Art. 13.",
    {"type": "string", "minLength": 1, "maxLength": 64},
    required=True,
    example=CODE_EXAMPLE,
)
IDEMPOTENCY_KEY = Parameter(
    "Idempotency-Key",
    "header",
    "Makes a retry safe: the same key always gives the same submission, never a second one.",
    {"type": "string", "minLength": 1, "maxLength": 200},
    example="3f1e0c6a-client-retry-1",
)
NO_DOSSIER = refusal("No dossier has that code.", "dossier_code", "exists", "no such dossier")
BAD_CODE = refusal(
    "The code is not a dossier code.", "dossier_code", "dossier_code", "must be <agency code>-<YYMMDD>-<NNNN>"
)
NOT_FOLLOWER = refusal(
    "The dossier is neither the signed-in citizen's nor of the official's agency.",
    "dossier_code",
    "follower",
    "is not a dossier of the signed-in citizen, nor of the official's agency",
)


def _example_body(event_type: str, server_fields: frozenset[str]) -> dict[str, Any]:
    """A contract's golden example as an API body: without the fields the portal sets."""
    body = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    return {k: v for k, v in body.items() if k not in server_fields}


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("portal", default_port=SERVICES["portal"].port, settings=settings, engine=engine)
    province = get_province(settings.province)
    zone = ZoneInfo(province.timezone)
    service.writes(
        Topics.DOSSIER_SUBMISSIONS,
        Topics.SUPPLEMENTS,
        Topics.PORTAL_RECEIPTS,
        Topics.PORTAL_SUBMISSIONS_BY_DOSSIER,
    )
    catalogue = {p.code: p for p in province.procedures}
    status_symbols = service.registry.get("vn.egov.dossier.DossierStatus").schema["symbols"]

    #: Submissions seen on the portal's own topic: submission id → procedure, channel, time, and who may
    #: follow it (the applicant's ID number, the submitter's pseudonymous id): its own table, never shown;
    #: and the submission as it was sent, to re-key it by dossier code once it has one.
    submissions = service.table("submissions", help="Submission id → procedure, channel, time, applicant.")
    #: Submission id → dossier code, once the one-stop system received it (on the submission's partition).
    submission_codes = service.table("submission-codes", help="Submission id → dossier code.")
    #: Dossier code → public view (status, appointment date, history).
    dossiers = service.table("dossiers", help="Dossier code → status, appointment date and history.")
    #: Dossier code → who may follow it (the applicant's ID number, the submitter's pseudonymous id).
    followers = service.table("followers", help="Dossier code → its applicant's ID number and submitter.")
    #: Accepted by this process but not yet read back from the topic (submission id → the applicant's ID
    #: number): closes the gap between the 202 and the table.
    accepted_here: dict[str, str] = {}

    def today() -> dt.date:
        """Today in the province, by the real clock: what 'not in the future' means for a birth date."""
        return dt.datetime.now(zone).date()

    def accepted(submission_id: str) -> HttpResponse:
        body = SubmissionAccepted(
            submission_id=submission_id,
            status="pending",
            links={"self": f"/api/v1/submissions/{submission_id}"},
        )
        return HttpResponse(body.model_dump(), status=202)

    def follower(request: HttpRequest, dossier_code: str) -> dict[str, Any]:
        """The dossier's view, if the person may follow it (403 otherwise, 404 when there is none)."""
        view = dossiers.get(dossier_code)
        if view is None:
            raise HttpError.one(404, "dossier_code", "exists", "no such dossier")
        person = request.person
        if person is not None:
            owner = followers.get(dossier_code)
            if owner is None and person.kind == CITIZEN:
                # The dossier's applicant arrives a moment after its receipt (re-keyed twice).
                raise HttpError.one(404, "dossier_code", "exists", "no such dossier")
            owner = owner or {}
            agencies = {view.get("receiving_agency_code"), view.get("responsible_agency_code")} - {None}
            if not may_follow(
                person.kind,
                id_number=person.id_number,
                agency_code=person.agency_code,
                position=person.position,
                applicant_id_number=owner.get("applicant_id_number"),
                agencies={str(a) for a in agencies},
            ):
                message = "is not a dossier of the signed-in citizen, nor of the official's agency"
                raise HttpError.one(403, "dossier_code", "follower", message)
        return dict(view)

    def idempotency_owner(request: HttpRequest) -> str | None:
        """A retry-safe POST is answered by the worker holding its submission (which knows whether it has
        it); one without a key by whoever receives it, with a new id on a partition of its own."""
        key = request.header("Idempotency-Key")
        if key is None:
            return None
        try:
            return submission_identity(key)[0]
        except ValueError:
            return None  # answered 400 where it is received

    def new_submission_id() -> str:
        placement = service.placement()
        make = lambda: str(uuid.uuid4())  # noqa: E731 - a random submission id
        return placement.new_key(make) if placement is not None else make()

    submitted = Operation(
        summary="Submit a dossier",
        description="A citizen signed in through VNeID submits online, in their own name; a one-stop counter "
        "officer records a dossier handed in at the counter or by post. The body is the DossierSubmitted "
        "contract without the fields the portal sets; its files must cover every required component of "
        "the procedure's dossier in the province's catalogue (each file names its `component`).",
        body=submission_model(),
        body_example=_example_body(EventTypes.DOSSIER_SUBMITTED, SERVER_SET_FIELDS),
        parameters=(IDEMPOTENCY_KEY,),
        publishes=True,
        replies={
            202: Reply(
                "Taken: follow it by its submission id.",
                SubmissionAccepted,
                accepted(SUBMISSION_EXAMPLE).body,
            ),
            400: refusal(
                "The Idempotency-Key header is empty or too long.",
                "Idempotency-Key",
                "header",
                "must be 1 to 200 characters",
            ),
            403: refusal(
                "A citizen submitting for someone else or not online, an officer submitting online.",
                "applicant.id_number",
                "submitter",
                "is not the ID number of the signed-in citizen: a citizen submits only in their own name",
            ),
            422: refusal(
                "The body breaks the contract, a rule, the catalogue or the procedure's dossier components: "
                "one entry per wrong field.",
                "attachments",
                "required_documents",
                "misses the dossier component giay-de-nghi (Giấy đề nghị đăng ký doanh nghiệp): attach it, "
                "naming it as its component",
            ),
        },
    )

    @service.route(
        "POST",
        "/api/v1/dossiers",
        access=citizens_or_officials(COUNTER_OFFICER),
        operation=submitted,
        owner=idempotency_owner,
    )
    async def submit(request: HttpRequest) -> HttpResponse:
        body = request.json()
        now = service.clock.now()
        try:
            submission = validate_submission(body, today=today(), catalogue=catalogue)
        except InvalidSubmission as exc:
            raise HttpError(422, exc.errors) from exc
        person = request.person
        if person is not None:
            problem = submitter_problem(person.kind, person.id_number, submission)
            if problem is not None:
                raise HttpError(403, [problem])
        try:
            submission_id, event_id = submission_identity(request.header("Idempotency-Key"))
        except ValueError as exc:
            raise HttpError.one(400, "Idempotency-Key", "header", str(exc)) from exc
        if event_id is None:
            submission_id = new_submission_id()
        if submissions.get(submission_id) is not None or submission_id in accepted_here:
            return accepted(submission_id)  # a retry of a submission we have
        envelope = service.new_envelope(
            EventTypes.DOSSIER_SUBMITTED, subject=submission_id, time=now, id=event_id
        )
        try:
            await service.publish_for_request(
                Topics.DOSSIER_SUBMISSIONS,
                submission_event(
                    submission,
                    submission_id=submission_id,
                    submitted_at=now,
                    submitted_by=person.actor() if person else None,
                ),
                key=submission_id,
                envelope=envelope,
                unrecorded="the dossier may not have been recorded; send it again with the same "
                "Idempotency-Key header to be sure it is recorded once",
            )
        except ContractError as exc:
            raise HttpError.one(422, "(body)", "contract", str(exc)) from exc
        accepted_here[submission_id] = submission["applicant"]["id_number"]
        service.log.info(
            "submission.accepted",
            submission_id=submission_id,
            event_id=envelope.id,
            procedure_code=submission["procedure_code"],
        )
        return accepted(submission_id)

    followed = Operation(
        summary="Follow a submission",
        description="Pending until the one-stop system received it, then its dossier code.",
        parameters=(
            Parameter(
                "submission_id",
                "path",
                "The submission id the POST answered.",
                {"type": "string", "format": "uuid"},
                required=True,
                example=SUBMISSION_EXAMPLE,
            ),
        ),
        replies={
            200: Reply(
                "Pending or received.",
                SubmissionStatus,
                {
                    "submission_id": SUBMISSION_EXAMPLE,
                    "status": "received",
                    "dossier_code": CODE_EXAMPLE,
                    "links": {"dossier": f"/api/v1/dossiers/{CODE_EXAMPLE}"},
                },
            ),
            400: refusal("The id is not a UUID.", "submission_id", "uuid", "is not a UUID"),
            403: refusal(
                "Another citizen's submission.",
                "submission_id",
                "follower",
                "is not a submission of the signed-in citizen",
            ),
            404: refusal("No submission has that id.", "submission_id", "exists", "no such submission"),
        },
    )

    @service.route(
        "GET",
        "/api/v1/submissions/{submission_id}",
        access=citizens_or_officials(COUNTER_OFFICER),
        operation=followed,
        owner=by_param("submission_id"),
    )
    async def submission_status(request: HttpRequest) -> dict[str, object]:
        submission_id = request.params["submission_id"]
        try:
            uuid.UUID(submission_id)
        except ValueError:
            raise HttpError.one(400, "submission_id", "uuid", "is not a UUID") from None
        known = submissions.get(submission_id)
        applicant = (known or {}).get("applicant_id_number") or accepted_here.get(submission_id)
        person = request.person
        if (
            person is not None
            and applicant is not None
            and person.kind == CITIZEN
            and person.id_number != applicant
        ):
            raise HttpError.one(
                403, "submission_id", "follower", "is not a submission of the signed-in citizen"
            )
        code = submission_codes.get(submission_id)
        if code is not None:
            received = SubmissionStatus(
                submission_id=submission_id,
                status="received",
                dossier_code=code,
                links={"dossier": f"/api/v1/dossiers/{code}"},
            )
            return received.model_dump()
        if submissions.get(submission_id) is not None or submission_id in accepted_here:
            pending = SubmissionStatus(submission_id=submission_id, status="pending", dossier_code=None)
            return pending.model_dump(exclude_unset=True)
        raise HttpError.one(404, "submission_id", "exists", "no such submission")

    def parsed_code(request: HttpRequest) -> str:
        dossier_code = request.params["dossier_code"]
        try:
            parse_dossier_code(dossier_code)
        except CodeError as exc:
            raise HttpError.one(400, "dossier_code", "dossier_code", str(exc)) from exc
        return dossier_code

    #: A dossier's look-ups are answered by the worker holding the dossier code's partition.
    by_dossier = by_param("dossier_code")

    view_example = {
        "dossier_code": CODE_EXAMPLE,
        "submission_id": SUBMISSION_EXAMPLE,
        "procedure_code": "1.001612.000.00.00.H11",
        "procedure_name": "Đăng ký thành lập doanh nghiệp tư nhân",
        "receiving_agency_code": "000.00.04.H11",
        "responsible_agency_code": "000.00.04.H11",
        "channel": "ONLINE",
        "received_at": "2026-11-24T02:00:05+00:00",
        "appointment_date": "2026-11-27",
        "status": "NEWLY_REGISTERED",
        "status_code": 1,
        "history": [
            {
                "status": "NEWLY_REGISTERED",
                "status_code": 1,
                "at": "2026-11-24T02:00:05+00:00",
                "event_id": "1c7f3b2e-4a5d-4e6f-8a9b-0c1d2e3f4a5b",
            }
        ],
    }
    viewed = Operation(
        summary="A dossier's status, appointment date and history",
        description="For its applicant, officials of its agencies and the one-stop counter officers.",
        parameters=(DOSSIER_CODE,),
        replies={
            200: Reply("The dossier as the one-stop system published it.", DossierView, view_example),
            400: BAD_CODE,
            403: NOT_FOLLOWER,
            404: NO_DOSSIER,
        },
    )

    @service.route(
        "GET",
        "/api/v1/dossiers/{dossier_code}",
        access=citizens_or_officials(),
        operation=viewed,
        owner=by_dossier,
    )
    async def dossier(request: HttpRequest) -> dict[str, object]:
        return public_view(follower(request, parsed_code(request)))

    looked_up = Operation(
        summary="Look a dossier up by its code (anyone)",
        description="Status and appointment date only, no personal data, as provincial portals show them.",
        parameters=(DOSSIER_CODE,),
        replies={
            200: Reply(
                "Its status.",
                PublicStatus,
                {
                    "dossier_code": CODE_EXAMPLE,
                    "status": "ACCEPTED",
                    "status_code": 2,
                    "appointment_date": "2026-11-27",
                },
            ),
            400: BAD_CODE,
            404: NO_DOSSIER,
        },
    )

    @service.route(
        "GET", "/api/v1/public/dossiers/{dossier_code}", access=PUBLIC, operation=looked_up, owner=by_dossier
    )
    async def public_dossier(request: HttpRequest) -> dict[str, object]:
        view = dossiers.get(parsed_code(request))
        if view is None:
            raise HttpError.one(404, "dossier_code", "exists", "no such dossier")
        return public_status(view)

    supplied = Operation(
        summary="Supply what the agency asked for",
        description="When the dossier waits for a supplement (status 5, SUPPLEMENT_REQUESTED): the files "
        "and a note. The body is the SupplementSupplied contract without the fields the portal sets.",
        body=supplement_model(),
        body_example=_example_body(EventTypes.SUPPLEMENT_SUPPLIED, SUPPLEMENT_SERVER_FIELDS),
        parameters=(DOSSIER_CODE, IDEMPOTENCY_KEY),
        publishes=True,
        replies={
            202: Reply(
                "Taken.",
                SupplementAccepted,
                {
                    "dossier_code": CODE_EXAMPLE,
                    "status": "supplied",
                    "event_id": "0b8e3f52-7c1a-5d2e-9f3b-4a6c8d0e2f14",
                },
            ),
            400: BAD_CODE,
            403: NOT_FOLLOWER,
            404: NO_DOSSIER,
            409: refusal(
                "The dossier does not wait for a supplement.",
                "dossier_code",
                "status",
                "is not waiting for a supplement (status IN_PROGRESS)",
            ),
            422: refusal(
                "The body breaks the contract or a rule.",
                "attachments",
                "non_empty",
                "must list at least one file supplied",
            ),
        },
    )

    @service.route(
        "POST",
        "/api/v1/dossiers/{dossier_code}/supplements",
        access=citizens_or_officials(),
        operation=supplied,
        owner=by_dossier,
    )
    async def supplement(request: HttpRequest) -> HttpResponse:
        dossier_code = parsed_code(request)
        view = follower(request, dossier_code)
        if view.get("status") != "SUPPLEMENT_REQUESTED":
            message = f"is not waiting for a supplement (status {view.get('status')})"
            raise HttpError.one(409, "dossier_code", "status", message)
        body = request.json()
        try:
            supplied = validate_supplement(body, today=today())
        except InvalidSubmission as exc:
            raise HttpError(422, exc.errors) from exc
        now = service.clock.now()
        key = request.header("Idempotency-Key")
        event_id = (
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:egov:portal:supplement:{dossier_code}:{key}"))
            if key
            else None
        )
        envelope = service.new_envelope(
            EventTypes.SUPPLEMENT_SUPPLIED, subject=dossier_code, time=now, id=event_id
        )
        person = request.person
        record = {
            **supplied,
            "dossier_code": dossier_code,
            "supplied_at": now,
            "supplied_by": person.actor() if person else None,
        }
        await service.publish_for_request(
            Topics.SUPPLEMENTS,
            record,
            key=dossier_code,
            envelope=envelope,
            unrecorded="the supplement may not have been recorded; send it again with the same "
            "Idempotency-Key",
        )
        service.log.info("supplement.accepted", dossier_code=dossier_code, event_id=envelope.id)
        answer = SupplementAccepted(dossier_code=dossier_code, status="supplied", event_id=envelope.id)
        return HttpResponse(answer.model_dump(), status=202)

    async def forward_submission(submission_id: str) -> None:
        """Once a submission and its receipt have both been seen (in either order, on the submission's
        partition), send the submission on to its dossier's partition, unchanged (same bytes, same id)."""
        known = submissions.get(submission_id)
        code = submission_codes.get(submission_id)
        if known is None or code is None or "raw_value" not in known:
            return
        await service.send_raw(
            Topics.PORTAL_SUBMISSIONS_BY_DOSSIER,
            key=code,
            value=base64.b64decode(known["raw_value"]),
            headers=[(k, base64.b64decode(v)) for k, v in known["raw_headers"]],
        )

    async def record_submission(event: IncomingEvent) -> None:
        record = event.record
        submission_id = record["submission_id"]
        submissions[submission_id] = {
            "procedure_code": record["procedure_code"],
            "channel": record["channel"],
            "submitted_at": record["submitted_at"].isoformat(),
            # who may follow the dossier: kept in the portal's own table only, never logged or published
            "applicant_id_number": record["applicant"]["id_number"],
            "submitted_by": (record.get("submitted_by") or {}).get("id"),
            "raw_value": base64.b64encode(event.raw_value).decode(),
            "raw_headers": [(k, base64.b64encode(v).decode()) for k, v in event.raw_headers],
        }
        accepted_here.pop(submission_id, None)
        await forward_submission(submission_id)

    async def record_receipt(event: IncomingEvent) -> None:
        submission_id = event.record["submission_id"]
        submission_codes[submission_id] = event.record["dossier_code"]
        await forward_submission(submission_id)

    async def record_followers(event: IncomingEvent) -> None:
        if event.key is None:
            raise RejectedEvent("a submission re-keyed by dossier code came without its key")
        record = event.record
        followers[event.key] = {
            "applicant_id_number": record["applicant"]["id_number"],
            "submitted_by": (record.get("submitted_by") or {}).get("id"),
        }

    async def follow_dossier(event: IncomingEvent) -> None:
        record = event.record
        if event.type == EventTypes.DOSSIER_RECEIVED:
            await service.send_raw(
                Topics.PORTAL_RECEIPTS,
                key=record["submission_id"],
                value=event.raw_value,
                headers=event.raw_headers,
            )
        view = apply_event(
            dossiers.get(record["dossier_code"]),
            event.type,
            record,
            event_id=event.envelope.id,
            symbols=status_symbols,
        )
        if view is not None:
            dossiers[record["dossier_code"]] = view

    service.consume(Topics.DOSSIER_SUBMISSIONS, record_submission, name="record-submission")
    service.consume(Topics.DOSSIERS, follow_dossier, name="follow-dossier")
    service.consume(Topics.PORTAL_RECEIPTS, record_receipt, name="record-receipt")
    service.consume(Topics.PORTAL_SUBMISSIONS_BY_DOSSIER, record_followers, name="record-followers")
    return service
