"""agency wiring: the department case-system stand-in.

It takes the dossiers the LGSP delivers to the agencies it serves, keeps a case file per dossier, and when a
durable timer says the department's working days have passed, writes a supplement request or its decision
to its own topic, for the LGSP to deliver to the one-stop system. It uses only the public contracts.
"""

from __future__ import annotations

from egov.province import get_province
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.timers import Timers
from egov.runtime.topics import EventTypes, Topics
from services import SERVICES
from services.agency.domain import DECIDE, SUPPLEMENT, CaseDesk, Profile, official_of

service = Service("agency", default_port=SERVICES["agency"])
app = service.app
settings = service.settings
province = get_province(settings.province)
served = frozenset(c.strip() for c in settings.agency_codes.split(",") if c.strip()) or frozenset(
    a.code for a in province.agencies
)
desk = CaseDesk(Profile.load(settings.agency_profile), seed=settings.seed, timezone=province.timezone)
service.writes(Topics.CASE_EVENTS)
timers = Timers(service)
ACT = "act"

#: Dossier code → the department's case file (its plan, what it does next).
cases = service.table("cases", help="Dossier code → the department's case file.")


async def assigned(event: IncomingEvent) -> None:
    record = event.record
    if record["agency"]["code"] not in served:
        return  # another department's dossier
    code = record["dossier_code"]
    case, action, at = desk.assigned(cases.get(code), record, event.handled_at)
    cases[code] = case
    timers.set(code, ACT, at)
    service.log.info("case.opened", dossier_code=code, next=action, at=at.isoformat())


async def act(code: str, event: IncomingEvent) -> None:
    case = cases.get(code)
    if case is None:
        raise RejectedEvent(f"no case file for {code}")
    now = event.handled_at
    if case["next"] == SUPPLEMENT:
        case, record = desk.supplement_request(case, now)
        event_type = EventTypes.SUPPLEMENT_REQUESTED
    elif case["next"] == DECIDE:
        case, record = desk.decision(case, now, official_of(case["agency"]))
        event_type = EventTypes.AGENCY_DECISION_MADE
    else:
        return
    envelope = service.new_envelope(event_type, subject=code, time=now, caused_by=event)
    await service.publish(Topics.CASE_EVENTS, record, key=code, envelope=envelope)
    cases[code] = case
    service.log.info("case.acted", dossier_code=code, event_type=event_type)


timers.on(ACT, act)
service.consume(Topics.LGSP_TO_AGENCIES, assigned, name="assignments")


def main() -> None:
    service.run()
