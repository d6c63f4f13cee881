"""onestop wiring: receive submitted dossiers, number them, and publish DossierReceived.

Two steps, because a dossier's sequence number is counted per receiving agency per day and must have one
writer: submissions (keyed by submission id) are first re-keyed by receiving agency onto the internal
intake topic; the numbering agent then sees every submission of an agency on one partition, in order, and
keeps the daily counters in a changelog-backed table, so a restart continues the sequence and never
reuses a number (docs/adr/0002).
"""

from __future__ import annotations

from egov.province import get_province
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.topics import EventTypes, Topics
from services import SERVICES
from services.onestop.domain import Reception, UnknownProcedure, allocate, sequence_key

service = Service("onestop", default_port=SERVICES["onestop"])
app = service.app
reception = Reception(get_province(service.settings.province))
service.writes(Topics.ONESTOP_INTAKE, Topics.DOSSIERS)

#: By `<receiving agency>/<receipt day>`: the last number issued and each submission's number (one value,
#: so one changelog write records both).
sequences = service.table("dossier-sequences", help="Dossier numbers issued per agency per day.")


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
    sequence, state = allocate(sequences.get(counter), submission_id)
    receipt = reception.receive(procedure.code, received_at, sequence)
    if state != sequences.get(counter):
        sequences[counter] = state
    envelope = service.new_envelope(
        EventTypes.DOSSIER_RECEIVED, subject=receipt.dossier_code, time=received_at, caused_by=event
    )
    await service.publish(
        Topics.DOSSIERS, receipt.as_event(submission), key=receipt.dossier_code, envelope=envelope
    )
    service.log.info(
        "dossier.received",
        dossier_code=receipt.dossier_code,
        appointment_date=receipt.appointment_date.isoformat(),
    )


service.consume(Topics.DOSSIER_SUBMISSIONS, route_to_agency, name="route-to-agency")
service.consume(Topics.ONESTOP_INTAKE, receive, name="receive")


def main() -> None:
    service.run()
