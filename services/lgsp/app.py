"""lgsp wiring: the mediation between provincial systems, the national population database and the
departments' case systems.

- Requests arrive on the callers' own topics (the one-stop system's requests, the case systems' events);
  each is authorised against the access policy (architecture/lgsp-access-policy.yaml) before anything is
  forwarded. A refused request goes to the dead letters with its LGSP code; a refused identity check is
  also answered REJECTED, so the dossier does not wait for an answer that will never come.
- Identity checks go to the population database under a correlation id, keyed by the caller's key so the
  answer comes back to the partition that holds the pending request; a durable timer per attempt gives the
  time-out, retries follow with back-off, and TIMEOUT is answered when every attempt went unanswered.
- Deliveries between the one-stop system and the departments are relayed unchanged (bytes and headers) once
  the agency code they name is checked; so are official documents, recalls and status packets between
  agencies, routed by agency code (106 AGENCY_ID_INCORRECT for a code the province does not have).
- The LGSP remembers the agency each dossier was assigned to (the last DossierAssigned it relayed, in a
  table keyed by dossier code). A case event naming another agency, or a dossier never assigned, is refused
  with 106 AGENCY_ID_INCORRECT; one dated ahead of the LGSP's business clock by more than the allowed skew
  (`EGOV_LGSP_CLOCK_SKEW`, business seconds) with 500 DATA_INCORRECT. The assignments topic and the case
  events are both keyed by dossier code with the same partition count, so a dossier's assignment and its
  case events are on the same partition number, which Faust gives to one worker with its table partition.

Every message in is decoded and checked against its contract by the runtime; what fails is dead-lettered
with 500 DATA_INCORRECT: the caller's data is wrong. A letter without a code is the LGSP's own failure.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from egov.contracts.topics import EventTypes, Topics, TopicSpec
from egov.platform.province import get_province
from egov.runtime.engine import Engine
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.settings import Settings
from egov.runtime.timers import Timers
from services import SERVICES
from services.lgsp.domain import (
    DATA_INCORRECT,
    DELIVER_CASE_EVENT,
    DELIVER_DOSSIER,
    ERROR_NAMES,
    EXCHANGE_DOCUMENTS,
    VERIFY_IDENTITY,
    AccessPolicy,
    GiveUp,
    LgspError,
    Retry,
    after_deadline,
    agencies_named,
    check_agency,
    check_assigned,
    check_not_ahead,
    closed,
    identity_answer,
    lookup_request,
    open_request,
)

#: Timer purposes: an attempt's time-out, and the next attempt after a back-off.
DEADLINE, RETRY = "deadline", "retry"


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service(
        "lgsp",
        default_port=SERVICES["lgsp"].port,
        settings=settings,
        engine=engine,
        rejection_code=DATA_INCORRECT,
        error_names=ERROR_NAMES,
    )
    policy = AccessPolicy.load(settings.lgsp_policy)
    agency_codes = frozenset(a.code for a in get_province(settings.province).agencies)
    service.writes(
        Topics.POPULATION_REQUESTS, Topics.LGSP_TO_ONESTOP, Topics.LGSP_TO_AGENCIES, Topics.LGSP_DOCUMENTS
    )
    timers = Timers(service)

    skew = dt.timedelta(seconds=settings.lgsp_clock_skew)

    #: Caller's key → {correlation id: the mediated request (waiting, answered, timed-out)}.
    requests = service.table(
        "mediated-requests", help="Requests forwarded to national systems, by caller key."
    )
    #: Dossier code → the code of the agency it was last assigned to (the DossierAssigned relayed).
    assignments = service.table(
        "dossier-assignments", help="The agency each dossier was last assigned to, by dossier code."
    )

    def refused(exc: LgspError) -> RejectedEvent:
        return RejectedEvent(exc.reason, code=exc.code)

    def authorise(event: IncomingEvent, spec: TopicSpec, operation: str) -> None:
        try:
            policy.authorise(topic_owner=spec.owner, source=event.envelope.source, operation=operation)
        except LgspError as exc:
            raise refused(exc) from exc

    async def verify_identity(event: IncomingEvent) -> None:
        """Forward an identity check to the national population database, or answer REJECTED."""
        key = event.key or event.record["dossier_code"]
        try:
            policy.authorise(
                topic_owner=Topics.ONESTOP_TO_LGSP.owner,
                source=event.envelope.source,
                operation=VERIFY_IDENTITY,
            )
        except LgspError as exc:
            if exc.code != 100:  # an authenticated caller gets an answer; an impostor does not
                pending = open_request(Topics.ONESTOP_TO_LGSP.owner, event.record)
                answer = identity_answer(
                    pending, outcome="REJECTED", now=event.handled_at, error_code=exc.code
                )
                await reply(event, key, answer, purpose="rejected")
            raise refused(exc) from exc
        pending = open_request(Topics.ONESTOP_TO_LGSP.owner, event.record)
        known = dict(requests.get(key) or {})
        if pending["correlation_id"] in known:
            return  # the caller sent the same request again: it is already being mediated
        await send_attempt(event, key, pending)
        requests[key] = {**known, pending["correlation_id"]: pending}

    async def send_attempt(cause: IncomingEvent, key: str, pending: dict[str, Any]) -> None:
        now = cause.handled_at
        deadline = service.clock.after(settings.lgsp_timeout)
        record = lookup_request(pending, now=now, deadline=deadline)
        envelope = service.new_envelope(
            EventTypes.POPULATION_LOOKUP_REQUESTED,
            subject=pending["correlation_id"],
            time=now,
            caused_by=cause,
            purpose=f"lookup/{pending['attempt']}",
        )
        await service.publish(Topics.POPULATION_REQUESTS, record, key=key, envelope=envelope)
        timers.set(key, f"{DEADLINE}:{pending['correlation_id']}", deadline)
        service.log.info(
            "lgsp.forwarded",
            correlation_id=pending["correlation_id"],
            attempt=pending["attempt"],
            operation=VERIFY_IDENTITY,
        )

    async def reply(cause: IncomingEvent, key: str, answer: dict[str, Any], *, purpose: str) -> None:
        envelope = service.new_envelope(
            EventTypes.IDENTITY_VERIFICATION_ANSWERED,
            subject=answer["dossier_code"],
            time=answer["answered_at"],
            caused_by=cause,
            purpose=purpose,
        )
        await service.publish(Topics.LGSP_TO_ONESTOP, answer, key=key, envelope=envelope)
        service.log.info("lgsp.answered", outcome=answer["outcome"], error_code=answer["error_code"])

    async def population_answered(event: IncomingEvent) -> None:
        """The national database answered: pass the verdict to the caller, once."""
        key = event.key or ""
        correlation = event.record["correlation_id"]
        known = dict(requests.get(key) or {})
        pending = known.get(correlation)
        if pending is None:
            raise RejectedEvent(
                f"answer to correlation id {correlation}, which the LGSP never sent", code=DATA_INCORRECT
            )
        if pending["state"] != "waiting":
            service.log.info("lgsp.late_answer_ignored", correlation_id=correlation, state=pending["state"])
            return
        record = event.record
        answer = identity_answer(
            pending,
            outcome=record["outcome"],
            now=event.handled_at,
            mismatched_fields=record["mismatched_fields"],
        )
        await reply(event, key, answer, purpose="answer")
        requests[key] = {**known, correlation: closed(pending, "answered")}
        timers.cancel(key, f"{DEADLINE}:{correlation}")
        timers.cancel(key, f"{RETRY}:{correlation}")

    async def deadline_passed(key: str, event: IncomingEvent) -> None:
        """An attempt's time-out passed: try again after a back-off, or answer TIMEOUT."""
        correlation = event.record["purpose"].split(":", 1)[1]
        known = dict(requests.get(key) or {})
        pending = known.get(correlation)
        if pending is None:
            return
        action = after_deadline(pending, settings.lgsp_attempts)
        if isinstance(action, Retry):
            timers.set(key, f"{RETRY}:{correlation}", service.clock.after(action.delay))
            service.log.warning(
                "lgsp.no_answer_retrying", correlation_id=correlation, attempt=pending["attempt"]
            )
        elif isinstance(action, GiveUp):
            answer = identity_answer(pending, outcome="TIMEOUT", now=event.handled_at)
            await reply(event, key, answer, purpose="timeout")
            requests[key] = {**known, correlation: closed(pending, "timed-out")}
            service.log.warning("lgsp.timed_out", correlation_id=correlation, attempts=pending["attempt"])

    async def retry(key: str, event: IncomingEvent) -> None:
        correlation = event.record["purpose"].split(":", 1)[1]
        known = dict(requests.get(key) or {})
        pending = known.get(correlation)
        if pending is None or pending["state"] != "waiting":
            return
        pending = {**pending, "attempt": int(pending["attempt"]) + 1}
        await send_attempt(event, key, pending)
        requests[key] = {**known, correlation: pending}

    async def deliver_dossier(event: IncomingEvent) -> None:
        """Relay a dossier assignment to the departments' case systems, and remember it (after relaying it:
        a crash in between relays it again)."""
        authorise(event, Topics.ONESTOP_TO_LGSP, DELIVER_DOSSIER)
        agency_code = event.record["agency"]["code"]
        await relay(event, agency_code, Topics.LGSP_TO_AGENCIES)
        assignments[event.record["dossier_code"]] = agency_code

    async def deliver_case_event(event: IncomingEvent) -> None:
        """Relay a case system's supplement request or decision to the one-stop system, if it comes from the
        agency the dossier is assigned to and tells of nothing later than now."""
        authorise(event, Topics.CASE_EVENTS, DELIVER_CASE_EVENT)
        record = event.record
        named = agencies_named(record)
        code = record["dossier_code"]
        try:
            for _, agency_code in named:
                check_agency(agency_code, agency_codes)
            check_assigned(code, named, assignments.get(code))
            check_not_ahead(record, now=event.handled_at, skew=skew)
        except LgspError as exc:
            raise refused(exc) from exc
        await relay(event, [agency_code for _, agency_code in named], Topics.LGSP_TO_ONESTOP)

    async def relay(event: IncomingEvent, agency_code: str | list[str], spec: TopicSpec) -> None:
        """Forward an event unchanged once every agency code it names is one of the province's (else 106)."""
        codes = [agency_code] if isinstance(agency_code, str) else agency_code
        try:
            for code in codes:
                check_agency(code, agency_codes)
        except LgspError as exc:
            raise refused(exc) from exc
        await service.send_raw(spec, key=event.key, value=event.raw_value, headers=event.raw_headers)
        service.log.info("lgsp.relayed", to=spec.name, agency_codes=codes)

    async def route_document(event: IncomingEvent) -> None:
        """An issued document or a recall goes to its recipients by agency code; each delivery is recorded."""
        authorise(event, Topics.OUTGOING_DOCUMENTS, EXCHANGE_DOCUMENTS)
        record = event.record
        sender = record.get("issuing_agency") or record["sender"]
        await relay(
            event, [sender["code"], *(r["code"] for r in record["recipients"])], Topics.LGSP_DOCUMENTS
        )
        if event.type != EventTypes.DOCUMENT_ISSUED:
            return
        for recipient in record["recipients"]:
            delivered = {
                "document_id": record["document_id"],
                "recipient": recipient,
                "delivered_at": event.handled_at,
            }
            envelope = service.new_envelope(
                EventTypes.DOCUMENT_DELIVERED,
                subject=record["document_id"],
                time=event.handled_at,
                caused_by=event,
                purpose=f"delivered/{recipient['code']}",
            )
            await service.publish(
                Topics.LGSP_DOCUMENTS, delivered, key=record["document_id"], envelope=envelope
            )

    async def route_status(event: IncomingEvent) -> None:
        """A recipient's status packet goes back to the document's sender."""
        authorise(event, Topics.DOCUMENT_STATUS, EXCHANGE_DOCUMENTS)
        record = event.record
        await relay(
            event, [record["sender"]["code"], record["response_for"]["organ_id"]], Topics.LGSP_DOCUMENTS
        )

    timers.on(DEADLINE, deadline_passed)
    timers.on(RETRY, retry)
    service.consume(
        Topics.ONESTOP_TO_LGSP,
        {
            EventTypes.IDENTITY_VERIFICATION_REQUESTED: verify_identity,
            EventTypes.DOSSIER_ASSIGNED: deliver_dossier,
        },
        name="from-onestop",
    )
    service.consume(Topics.CASE_EVENTS, deliver_case_event, name="from-agencies")
    service.consume(Topics.POPULATION_ANSWERS, population_answered, name="population-answers")
    service.consume(
        Topics.OUTGOING_DOCUMENTS,
        {EventTypes.DOCUMENT_ISSUED: route_document, EventTypes.DOCUMENT_RECALL_REQUESTED: route_document},
        name="outgoing-documents",
    )
    service.consume(Topics.DOCUMENT_STATUS, route_status, name="status-packets")
    return service
