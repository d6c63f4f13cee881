"""signing wiring: sign the content hashes the document system sends, with the official's certificate, and
only those its signer approved, signed in (services/signing/domain.py).

The private keys stay in the CA's `private/` folder, which only this service reads; what leaves is the
detached CMS signature and the certificate chain (no key, in no event and no log). The CA is created on
first start (services/signing/ca.py); its `public/` folder (root certificate and revocation list) is the
trust store verifiers read.
"""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from egov.platform.pki import pem, sign_digest
from egov.runtime.engine import Engine
from egov.runtime.service import IncomingEvent, RejectedEvent, Service
from egov.runtime.settings import Settings
from services import SERVICES
from services.signing.ca import CertificateAuthority
from services.signing.domain import approval_of, signature_refusal


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("signing", default_port=SERVICES["signing"].port, settings=settings, engine=engine)
    ca = CertificateAuthority(settings.ca_directory)
    service.writes(Topics.SIGNATURES)

    async def create_the_ca() -> None:
        """On first start, create the test CA (root, issuing CA, revocation list); later starts load it."""
        ca.ensure(service.clock.now())
        service.log.info("ca.ready", trust_store=str(ca.public_directory))

    #: Document id → its signer's approval, as the document system recorded it (egov.runtime.auth: the signer
    #: as they signed in); a signature request without it is refused.
    approvals = service.table("approvals", help="Document id → who approved it for signature, signed in.")

    async def approved(event: IncomingEvent) -> None:
        approvals[event.record["document_id"]] = approval_of(event.record)

    async def sign(event: IncomingEvent) -> None:
        request = event.record
        refusal = signature_refusal(approvals.get(request["document_id"]), request)
        if refusal is not None:
            service.log.warning("signature.refused", document_id=request["document_id"], reason=refusal)
            raise RejectedEvent(refusal)
        now = event.handled_at
        ca.ensure(now)
        try:
            digest = bytes.fromhex(request["content_sha256"])
        except ValueError as exc:
            raise RejectedEvent(f"content_sha256 is not hexadecimal: {exc}") from exc
        identity = ca.official(request["signer"], now)
        chain = ca.chain()
        signature = sign_digest(digest, identity, chain, signing_time=now)
        body = {
            "document_id": request["document_id"],
            "content_sha256": request["content_sha256"],
            "signature": signature,
            "certificate_chain": [pem(identity.certificate), *(pem(c) for c in chain)],
            "signer": request["signer"],
            "signed_at": now,
        }
        envelope = service.new_envelope(
            EventTypes.SIGNATURE_COMPLETED, subject=request["document_id"], time=now, caused_by=event
        )
        await service.publish(Topics.SIGNATURES, body, key=request["document_id"], envelope=envelope)
        service.log.info(
            "document.signed", document_id=request["document_id"], signer=request["signer"]["official_id"]
        )

    service.on_start(create_the_ca)
    service.consume(
        Topics.OUTGOING_DOCUMENTS,
        {EventTypes.DOCUMENT_APPROVED: approved, EventTypes.SIGNATURE_REQUESTED: sign},
        name="signature-requests",
    )
    return service
