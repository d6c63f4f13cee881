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
import json
import uuid
from zoneinfo import ZoneInfo

from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from egov.contracts.validation import FieldError, error_body
from egov.province import get_province
from egov.regulations.codes import CodeError, parse_dossier_code
from egov.runtime.serde import ContractError
from egov.runtime.service import IncomingEvent, Service, is_retryable
from egov.runtime.topics import EventTypes, Topics
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

service = Service("portal", default_port=SERVICES["portal"])
app = service.app
province = get_province(service.settings.province)
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
#: Accepted by this process but not yet read back from the topic: closes the gap between 202 and the table.
accepted_here: dict[str, str] = {}


def _error(view: View, status: int, errors: list[FieldError]) -> Response:
    return view.json(error_body(errors), status=status)


@app.page("/api/v1/dossiers")
class DossierIntake(View):
    async def post(self, request: Request) -> Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(self, 400, [FieldError("(body)", "json", f"is not valid JSON: {exc}")])
        now = service.clock.now()
        try:
            submission = validate_submission(body, today=_today(), catalogue=catalogue)
        except InvalidSubmission as exc:
            return _error(self, 422, exc.errors)
        try:
            submission_id, event_id = submission_identity(request.headers.get("Idempotency-Key"))
        except ValueError as exc:
            return _error(self, 400, [FieldError("Idempotency-Key", "header", str(exc))])
        if submissions.get(submission_id) is not None or submission_id in accepted_here:
            return self.json(_accepted(submission_id), status=202)  # a retry of a submission we have
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
            return _error(self, 422, [FieldError("(body)", "contract", str(exc))])
        except KafkaError as exc:
            service.log.error("submission.not_recorded", submission_id=submission_id, error=repr(exc))
            if not is_retryable(exc):
                return _error(self, 413, [FieldError("(body)", "size", f"is refused by the broker: {exc}")])
            message = (
                "the dossier may not have been recorded; send it again with the same Idempotency-Key header "
                "to be sure it is recorded once"
            )
            return _error(self, 503, [FieldError("(service)", "unavailable", message)])
        accepted_here[submission_id] = submission["procedure_code"]
        service.log.info(
            "submission.accepted",
            submission_id=submission_id,
            event_id=envelope.id,
            procedure_code=submission["procedure_code"],
        )
        return self.json(_accepted(submission_id), status=202)


def _today() -> dt.date:
    """Today in the province, by the real clock: what 'not in the future' means for a birth date."""
    return dt.datetime.now(zone).date()


def _accepted(submission_id: str) -> dict[str, object]:
    return {
        "submission_id": submission_id,
        "status": "pending",
        "links": {"self": f"/api/v1/submissions/{submission_id}"},
    }


@app.page("/api/v1/submissions/{submission_id}")
class SubmissionLookup(View):
    async def get(self, request: Request, submission_id: str) -> Response:
        try:
            uuid.UUID(submission_id)
        except ValueError:
            return _error(self, 400, [FieldError("submission_id", "uuid", "is not a UUID")])
        code = submission_codes.get(submission_id)
        if code is not None:
            return self.json(
                {
                    "submission_id": submission_id,
                    "status": "received",
                    "dossier_code": code,
                    "links": {"dossier": f"/api/v1/dossiers/{code}"},
                }
            )
        if submissions.get(submission_id) is not None or submission_id in accepted_here:
            return self.json({"submission_id": submission_id, "status": "pending", "dossier_code": None})
        return _error(self, 404, [FieldError("submission_id", "exists", "no such submission")])


@app.page("/api/v1/dossiers/{dossier_code}")
class DossierLookup(View):
    async def get(self, request: Request, dossier_code: str) -> Response:
        try:
            parse_dossier_code(dossier_code)
        except CodeError as exc:
            return _error(self, 400, [FieldError("dossier_code", "dossier_code", str(exc))])
        view = dossiers.get(dossier_code)
        if view is None:
            return _error(self, 404, [FieldError("dossier_code", "exists", "no such dossier")])
        return self.json(public_view(view))


@app.page("/api/v1/dossiers/{dossier_code}/supplements")
class SupplementIntake(View):
    async def post(self, request: Request, dossier_code: str) -> Response:
        view = dossiers.get(dossier_code)
        if view is None:
            return _error(self, 404, [FieldError("dossier_code", "exists", "no such dossier")])
        if view.get("status") != "SUPPLEMENT_REQUESTED":
            message = f"is not waiting for a supplement (status {view.get('status')})"
            return _error(self, 409, [FieldError("dossier_code", "status", message)])
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(self, 400, [FieldError("(body)", "json", f"is not valid JSON: {exc}")])
        try:
            supplement = validate_supplement(body, today=_today())
        except InvalidSubmission as exc:
            return _error(self, 422, exc.errors)
        now = service.clock.now()
        key = request.headers.get("Idempotency-Key")
        event_id = (
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:egov:portal:supplement:{dossier_code}:{key}"))
            if key
            else None
        )
        envelope = service.new_envelope(
            EventTypes.SUPPLEMENT_SUPPLIED, subject=dossier_code, time=now, id=event_id
        )
        record = {**supplement, "dossier_code": dossier_code, "supplied_at": now}
        try:
            await service.publish(Topics.SUPPLEMENTS, record, key=dossier_code, envelope=envelope)
        except KafkaError as exc:
            service.log.error("supplement.not_recorded", dossier_code=dossier_code, error=repr(exc))
            message = "the supplement may not have been recorded; send it again with the same Idempotency-Key"
            return _error(self, 503, [FieldError("(service)", "unavailable", message)])
        service.log.info("supplement.accepted", dossier_code=dossier_code, event_id=envelope.id)
        return self.json(
            {"dossier_code": dossier_code, "status": "supplied", "event_id": envelope.id}, status=202
        )


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


def main() -> None:
    service.run()
