"""notify wiring: follow each dossier on the one-stop system's stream and tell the citizen what they must
know, on the channel they chose, once.

"Sending" is publishing the NotificationSent event: it is the record of the message (with the recipient
masked) that an SMS, e-mail or Zalo gateway would deliver. A notice is sent at most once per change: its id
is derived from the dossier, the template and what makes the change one change (not from the event id), and
remembered per dossier in a changelog-backed table, so neither a redelivered event, nor the same change
published again under another id, nor a restart sends it again.
"""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from egov.runtime.engine import Engine
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.settings import Settings
from services import SERVICES
from services.notify.domain import (
    DossierFacts,
    facts_from_received,
    notice_for,
    notification_event,
    notification_id,
    remember,
    with_new_appointment,
)


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("notify", default_port=SERVICES["notify"].port, settings=settings, engine=engine)
    service.writes(Topics.NOTIFICATIONS)
    #: Dossier code → what a notice needs (procedure name, appointment date, contact).
    facts_table = service.table("dossier-facts", help="Dossier code → procedure, appointment date, contact.")
    #: Dossier code → ids of the notices already sent.
    sent_table = service.table("notices-sent", help="Dossier code → notices already sent (never twice).")

    async def follow(event: IncomingEvent) -> None:
        record = event.record
        code = record["dossier_code"]
        if event.type == EventTypes.DOSSIER_RECEIVED:
            try:
                facts_table[code] = facts_from_received(record).as_dict()
            except ValueError as exc:
                raise RejectedEvent(str(exc)) from exc
            return
        stored = facts_table.get(code)
        if stored is None:
            raise RejectedEvent(f"{event.type} for {code}, whose receipt (with the contact) notify never saw")
        facts = DossierFacts.from_dict(stored)
        notice = notice_for(event.type, record, facts)
        if event.type == EventTypes.DOSSIER_OVERDUE:
            facts_table[code] = with_new_appointment(facts, record["new_appointment_date"]).as_dict()
        if notice is None:
            return
        nid = notification_id(code, notice.template, notice.occasion)
        already, sent = remember(sent_table.get(code), nid)
        if already:
            service.log.info("notice.already_sent", notification_id=nid, template=notice.template)
            return
        now = event.handled_at
        body = notification_event(facts, notice, event.envelope.id, now)
        envelope = service.new_envelope(EventTypes.NOTIFICATION_SENT, subject=code, time=now, caused_by=event)
        await service.publish(Topics.NOTIFICATIONS, body, key=code, envelope=envelope)
        sent_table[code] = sent
        service.log.info(
            "notice.sent", notification_id=nid, template=notice.template, channel=body["channel"]
        )

    service.consume(Topics.DOSSIERS, follow, name="follow-dossiers")
    return service
