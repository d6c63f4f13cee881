"""portal wiring: the HTTP API of the public-service portal.

- `POST /api/v1/dossiers`: validate, publish DossierSubmitted, answer 202 with the submission id;
- `GET /api/v1/submissions/{id}`: pending, or the dossier code once the one-stop system gave one;
- `GET /api/v1/dossiers/{code}`: status, appointment date and history;
- `POST /api/v1/dossiers/{code}/supplements`: what the citizen supplies when asked (status 5).

The portal is an access channel: it never reads the one-stop system's stores, only what that system
publishes (the dossiers topic), folded into the portal's own changelog-backed read model. The read model is
partitioned like the topics, so the portal runs as one worker; scaling it out would route look-ups by key.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from aiokafka.errors import KafkaError

from egov.contracts.serde import ContractError
from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import get_province
from egov.regulations.codes import CodeError, parse_dossier_code
from egov.runtime.engine import Engine
from egov.runtime.http import HttpError, HttpRequest, HttpResponse
from egov.runtime.service import IncomingEvent, Service, is_retryable
from egov.runtime.settings import Settings
from services import SERVICES
from services.portal.domain import (
    InvalidSubmission,
    apply_event,
    public_view,
    submission_event,
    submission_identity,
    validate_submission,
    validate_supplement,
)


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("portal", default_port=SERVICES["portal"].port, settings=settings, engine=engine)
    province = get_province(settings.province)
    zone = ZoneInfo(province.timezone)
    service.writes(Topics.DOSSIER_SUBMISSIONS, Topics.SUPPLEMENTS)
    catalogue = [p.code for p in province.procedures]
    status_symbols = service.registry.get("vn.egov.dossier.DossierStatus").schema["symbols"]

    #: Submissions seen on the portal's own topic: submission id → what the citizen sent (no personal data).
    submissions = service.table("submissions", help="Submission id → procedure, channel, time.")
    #: Submission id → dossier code, once the one-stop system received it.
    submission_codes = service.table("submission-codes", help="Submission id → dossier code.")
    #: Dossier code → public view (status, appointment date, history).
    dossiers = service.table("dossiers", help="Dossier code → status, appointment date and history.")
    #: Accepted by this process but not yet read back from the topic: closes the gap between the 202 and
    #: the table.
    accepted_here: dict[str, str] = {}

    def today() -> dt.date:
        """Today in the province, by the real clock: what 'not in the future' means for a birth date."""
        return dt.datetime.now(zone).date()

    def accepted(submission_id: str) -> HttpResponse:
        body = {
            "submission_id": submission_id,
            "status": "pending",
            "links": {"self": f"/api/v1/submissions/{submission_id}"},
        }
        return HttpResponse(body, status=202)

    @service.route("POST", "/api/v1/dossiers")
    async def submit(request: HttpRequest) -> HttpResponse:
        body = request.json()
        now = service.clock.now()
        try:
            submission = validate_submission(body, today=today(), catalogue=catalogue)
        except InvalidSubmission as exc:
            raise HttpError(422, exc.errors) from exc
        try:
            submission_id, event_id = submission_identity(request.header("Idempotency-Key"))
        except ValueError as exc:
            raise HttpError.one(400, "Idempotency-Key", "header", str(exc)) from exc
        if submissions.get(submission_id) is not None or submission_id in accepted_here:
            return accepted(submission_id)  # a retry of a submission we have
        envelope = service.new_envelope(
            EventTypes.DOSSIER_SUBMITTED, subject=submission_id, time=now, id=event_id
        )
        try:
            await service.publish(
                Topics.DOSSIER_SUBMISSIONS,
                submission_event(submission, submission_id=submission_id, submitted_at=now),
                key=submission_id,
                envelope=envelope,
            )
        except ContractError as exc:
            raise HttpError.one(422, "(body)", "contract", str(exc)) from exc
        except KafkaError as exc:
            service.log.error("submission.not_recorded", submission_id=submission_id, error=repr(exc))
            if not is_retryable(exc):
                raise HttpError.one(413, "(body)", "size", f"is refused by the broker: {exc}") from exc
            message = (
                "the dossier may not have been recorded; send it again with the same Idempotency-Key header "
                "to be sure it is recorded once"
            )
            raise HttpError.one(503, "(service)", "unavailable", message) from exc
        accepted_here[submission_id] = submission["procedure_code"]
        service.log.info(
            "submission.accepted",
            submission_id=submission_id,
            event_id=envelope.id,
            procedure_code=submission["procedure_code"],
        )
        return accepted(submission_id)

    @service.route("GET", "/api/v1/submissions/{submission_id}")
    async def submission_status(request: HttpRequest) -> dict[str, object]:
        submission_id = request.params["submission_id"]
        try:
            uuid.UUID(submission_id)
        except ValueError:
            raise HttpError.one(400, "submission_id", "uuid", "is not a UUID") from None
        code = submission_codes.get(submission_id)
        if code is not None:
            return {
                "submission_id": submission_id,
                "status": "received",
                "dossier_code": code,
                "links": {"dossier": f"/api/v1/dossiers/{code}"},
            }
        if submissions.get(submission_id) is not None or submission_id in accepted_here:
            return {"submission_id": submission_id, "status": "pending", "dossier_code": None}
        raise HttpError.one(404, "submission_id", "exists", "no such submission")

    @service.route("GET", "/api/v1/dossiers/{dossier_code}")
    async def dossier(request: HttpRequest) -> dict[str, object]:
        dossier_code = request.params["dossier_code"]
        try:
            parse_dossier_code(dossier_code)
        except CodeError as exc:
            raise HttpError.one(400, "dossier_code", "dossier_code", str(exc)) from exc
        view = dossiers.get(dossier_code)
        if view is None:
            raise HttpError.one(404, "dossier_code", "exists", "no such dossier")
        return public_view(view)

    @service.route("POST", "/api/v1/dossiers/{dossier_code}/supplements")
    async def supplement(request: HttpRequest) -> HttpResponse:
        dossier_code = request.params["dossier_code"]
        view = dossiers.get(dossier_code)
        if view is None:
            raise HttpError.one(404, "dossier_code", "exists", "no such dossier")
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
        record = {**supplied, "dossier_code": dossier_code, "supplied_at": now}
        try:
            await service.publish(Topics.SUPPLEMENTS, record, key=dossier_code, envelope=envelope)
        except KafkaError as exc:
            service.log.error("supplement.not_recorded", dossier_code=dossier_code, error=repr(exc))
            message = "the supplement may not have been recorded; send it again with the same Idempotency-Key"
            raise HttpError.one(503, "(service)", "unavailable", message) from exc
        service.log.info("supplement.accepted", dossier_code=dossier_code, event_id=envelope.id)
        body = {"dossier_code": dossier_code, "status": "supplied", "event_id": envelope.id}
        return HttpResponse(body, status=202)

    async def record_submission(event: IncomingEvent) -> None:
        record = event.record
        submissions[record["submission_id"]] = {
            "procedure_code": record["procedure_code"],
            "channel": record["channel"],
            "submitted_at": record["submitted_at"].isoformat(),
        }
        accepted_here.pop(record["submission_id"], None)

    async def follow_dossier(event: IncomingEvent) -> None:
        record = event.record
        if event.type == EventTypes.DOSSIER_RECEIVED:
            submission_codes[record["submission_id"]] = record["dossier_code"]
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
    return service
