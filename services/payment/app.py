"""payment wiring: settle the fees the one-stop system requests, once per payment reference."""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from egov.runtime.engine import Engine
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.settings import Settings
from services import SERVICES
from services.payment.domain import PaymentRefused, settle


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("payment", default_port=SERVICES["payment"].port, settings=settings, engine=engine)
    service.writes(Topics.SETTLEMENTS)
    #: Dossier code → the payment references settled for it.
    ledgers = service.table("ledgers", help="Dossier code → payment references settled.")

    async def fee_requested(event: IncomingEvent) -> None:
        code = event.record["dossier_code"]
        now = event.handled_at
        try:
            ledger, settlement = settle(
                ledgers.get(code),
                event.record,
                now=now,
                seed=settings.seed,
                online_share=settings.payment_online_share,
            )
        except PaymentRefused as exc:
            raise RejectedEvent(str(exc)) from exc
        if settlement is None:
            service.log.info("payment.already_settled", payment_reference=event.record["payment_reference"])
            return
        envelope = service.new_envelope(EventTypes.FEE_SETTLED, subject=code, time=now, caused_by=event)
        await service.publish(Topics.SETTLEMENTS, settlement, key=code, envelope=envelope)
        ledgers[code] = ledger
        service.log.info("payment.settled", payment_reference=settlement["payment_reference"])

    service.consume(Topics.DOSSIERS, {EventTypes.FEE_REQUESTED: fee_requested}, name="fee-requests")
    return service
