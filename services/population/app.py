"""population wiring: answer the LGSP's look-ups from the synthetic register.

The stand-in answers every look-up at once, except for the register's silent records, for which it stays
silent (as a national system that does not answer): that is how the LGSP's time-out path is played. The
answer goes back under the request's key, to the partition that holds the LGSP's pending request.
"""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from egov.runtime.engine import Engine
from egov.runtime.service import IncomingEvent, Service
from egov.runtime.settings import Settings
from services import SERVICES
from services.population.domain import get_register


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service(
        "population", default_port=SERVICES["population"].port, settings=settings, engine=engine
    )
    register = get_register()
    service.writes(Topics.POPULATION_ANSWERS)

    async def look_up(event: IncomingEvent) -> None:
        request = event.record
        citizen = request["citizen"]
        person = register.find(citizen["id_number"])
        if person is not None and not person.answers:
            service.log.warning("population.no_answer", reason="simulated outage for this record")
            return
        verdict = register.verify(citizen)
        now = event.handled_at
        answer = {
            "correlation_id": request["correlation_id"],
            "outcome": verdict.outcome,
            "mismatched_fields": list(verdict.mismatched_fields),
            "answered_at": now,
        }
        envelope = service.new_envelope(
            EventTypes.POPULATION_LOOKUP_ANSWERED,
            subject=request["correlation_id"],
            time=now,
            caused_by=event,
        )
        await service.publish(Topics.POPULATION_ANSWERS, answer, key=event.key or "", envelope=envelope)
        service.log.info("population.answered", outcome=verdict.outcome, attempt=request["attempt"])

    service.consume(Topics.POPULATION_REQUESTS, look_up, name="look-up")
    return service
