"""onestop wiring: receive submitted dossiers, number them, and carry each through its journey.

Receipt takes two steps, because a dossier's sequence number is counted per receiving agency per day and
must have one writer: submissions (keyed by submission id) are first re-keyed by receiving agency onto the
internal intake topic; the numbering agent then sees every submission of an agency on one partition, in
order, and keeps the daily counters in a changelog-backed table, so a restart continues the sequence and
never reuses a number (docs/adr/0002).

From DossierReceived on, everything is keyed by dossier code. onestop reads its own internal journeys
topic (DossierReceived with the applicant, whose ID number the dossiers topic leaves out) to start the
journey, then the LGSP's deliveries (identity answers, supplement requests, decisions), the portal's
supplements and the payment platform's settlements, all on the dossier's partition, where the dossier's state
and its overdue timer live (services/onestop/journey.py has the rules).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from egov.contracts.topics import EventTypes, Topics, TopicSpec
from egov.platform.province import get_province
from egov.runtime.engine import Engine
from egov.runtime.service import Handler, IncomingEvent, Publication, RejectedEvent, Service
from egov.runtime.settings import Settings
from egov.runtime.timers import Timers
from services import SERVICES
from services.onestop.domain import Reception, UnknownProcedure, allocate, issued_key, sequence_key
from services.onestop.journey import (
    DOSSIERS,
    LGSP,
    OVERDUE_TIMER,
    DossierState,
    InvalidTransition,
    Journey,
    Step,
)

#: Where the journey's emitted events go.
DESTINATIONS: dict[str, TopicSpec] = {DOSSIERS: Topics.DOSSIERS, LGSP: Topics.ONESTOP_TO_LGSP}


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("onestop", default_port=SERVICES["onestop"].port, settings=settings, engine=engine)
    province = get_province(settings.province)
    reception = Reception(province)
    journey = Journey(province, reception.calendar)
    service.writes(Topics.ONESTOP_INTAKE, Topics.DOSSIERS, Topics.JOURNEYS, Topics.ONESTOP_TO_LGSP)
    timers = Timers(service)

    #: By `<receiving agency>/<receipt day>`: the last number issued and each submission's number (one value,
    #: so one changelog write records both).
    sequences = service.table("dossier-sequences", help="Dossier numbers issued per agency per day.")
    #: Dossier code → the dossier's state in its journey (status, dates, pending request, payment).
    dossiers = service.table(
        "dossiers", help="Dossier code → status, deadline and what the dossier waits for."
    )

    async def route_to_agency(event: IncomingEvent) -> None:
        """Re-key a submission by its receiving agency (unchanged bytes and headers)."""
        try:
            procedure = reception.procedure(event.record["procedure_code"])
        except UnknownProcedure as exc:
            raise RejectedEvent(str(exc)) from exc
        await service.send_raw(
            Topics.ONESTOP_INTAKE,
            key=procedure.receiving_agency,
            value=event.raw_value,
            headers=event.raw_headers,
        )

    async def receive(event: IncomingEvent) -> None:
        """Give the dossier its code and appointment date, and publish DossierReceived."""
        submission = event.record
        submission_id = submission["submission_id"]
        received_at = submission["submitted_at"]
        try:
            procedure = reception.procedure(submission["procedure_code"])
        except UnknownProcedure as exc:
            raise RejectedEvent(str(exc)) from exc
        counter = sequence_key(procedure.receiving_agency, reception.receipt_date(received_at))
        # A submission redelivered after a crash gets its number back: the very same receipt is rebuilt.
        mine = issued_key(counter, submission_id)
        allocation = allocate(sequences.get(counter), sequences.get(mine), submission_id)
        receipt = reception.receive(procedure.code, received_at, allocation.number)
        if allocation.counter is not None:
            sequences[counter] = allocation.counter
        if allocation.issued is not None:
            sequences[mine] = allocation.issued
        received = receipt.as_event(submission)
        code = receipt.dossier_code
        # The dossiers topic is read by other services: the applicant's ID number stays on the internal topic.
        public = service.new_envelope(
            EventTypes.DOSSIER_RECEIVED, subject=code, time=received_at, caused_by=event
        )
        internal = service.new_envelope(
            EventTypes.DOSSIER_RECEIVED, subject=code, time=received_at, caused_by=event, purpose="journey"
        )
        await service.publish_all(
            [
                Publication(Topics.DOSSIERS, {**received, "applicant": None}, code, public),
                Publication(Topics.JOURNEYS, received, code, internal),
            ]
        )
        service.log.info(
            "dossier.received",
            dossier_code=receipt.dossier_code,
            appointment_date=receipt.appointment_date.isoformat(),
        )

    async def advance(
        event: IncomingEvent, code: str, decide: Callable[[DossierState | None], Step | None]
    ) -> None:
        """Apply one step of the journey: publish what it emits, then keep the new state and the overdue
        timer. An invalid transition is refused (dead-lettered with the reason) and changes nothing."""
        stored = dossiers.get(code)
        try:
            step = decide(DossierState.from_dict(stored) if stored is not None else None)
        except InvalidTransition as exc:
            service.log.warning("dossier.transition_refused", dossier_code=code, reason=str(exc))
            raise RejectedEvent(f"invalid transition: {exc}") from exc
        if step is None:
            return
        now = event.handled_at
        publications = []
        for index, emit in enumerate(step.emits):
            envelope = service.new_envelope(
                emit.event_type, subject=code, time=now, caused_by=event, purpose=f"{index}/{emit.event_type}"
            )
            publications += [Publication(DESTINATIONS[d], emit.record, code, envelope) for d in emit.topics]
        await service.publish_all(publications)
        dossiers[code] = step.state.as_dict()
        if step.overdue_at is None:
            timers.cancel(code, OVERDUE_TIMER)
        else:
            timers.set(code, OVERDUE_TIMER, step.overdue_at)
        service.log.info("dossier.status", dossier_code=code, status=step.state.status)

    async def start_journey(event: IncomingEvent) -> None:
        await advance(event, event.record["dossier_code"], lambda state: journey.start(state, event.record))

    def step(apply: Callable[[DossierState | None, Mapping[str, Any], dt.datetime], Step]) -> Handler:
        """A handler applying one step of the journey to the event's dossier, at the business time now."""

        async def handle(event: IncomingEvent) -> None:
            now = event.handled_at
            await advance(event, event.record["dossier_code"], lambda state: apply(state, event.record, now))

        return handle

    async def overdue(code: str, event: IncomingEvent) -> None:
        now = event.handled_at
        await advance(event, code, lambda s: journey.overdue(s, now))

    timers.on(OVERDUE_TIMER, overdue)
    service.consume(Topics.DOSSIER_SUBMISSIONS, route_to_agency, name="route-to-agency")
    # The numbering is serial per agency: the next submission is numbered while this one's are acknowledged.
    service.consume(Topics.ONESTOP_INTAKE, receive, name="receive", release_key_before_acks=True)
    service.consume(Topics.JOURNEYS, start_journey, name="start-journey")
    service.consume(
        Topics.LGSP_TO_ONESTOP,
        {
            EventTypes.IDENTITY_VERIFICATION_ANSWERED: step(journey.identity_answered),
            EventTypes.SUPPLEMENT_REQUESTED: step(journey.supplement_requested),
            EventTypes.AGENCY_DECISION_MADE: step(journey.decided),
        },
        name="from-lgsp",
    )
    service.consume(Topics.SUPPLEMENTS, step(journey.supplement_supplied), name="supplements")
    service.consume(Topics.SETTLEMENTS, step(journey.fee_settled), name="settlements")
    return service
