"""signing wiring: sign the content hashes the document system sends, with the official's certificate.

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


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("signing", default_port=SERVICES["signing"].port, settings=settings, engine=engine)
    ca = CertificateAuthority(settings.ca_directory)
    service.writes(Topics.SIGNATURES)

    async def create_the_ca() -> None:
        """On first start, create the test CA (root, issuing CA, revocation list); later starts load it."""
        ca.ensure(service.clock.now())
        service.log.info("ca.ready", trust_store=str(ca.public_directory))

    async def sign(event: IncomingEvent) -> None:
        request = event.record
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
        Topics.OUTGOING_DOCUMENTS, {EventTypes.SIGNATURE_REQUESTED: sign}, name="signature-requests"
    )
    return service
