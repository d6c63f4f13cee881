"""Making a detached CMS SignedData (RFC 5652, DER) over a content hash: the signer is sent only the
SHA-256 of the document, never the document, so the structure is built here from its parts (`asn1crypto.cms`
for the structure, `cryptography` for the maths): `cryptography` builds detached CMS only from the content."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from egov.platform.pki.certificates import Identity


def _asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _signed_attributes(sha256_digest: bytes, signing_time: dt.datetime) -> cms.CMSAttributes:
    # DER orders a SET OF by the encodings of its elements; OpenSSL re-encodes the set before checking the
    # signature, so the order signed must be the DER order.
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [sha256_digest]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]}),
    ]
    return cms.CMSAttributes(sorted(attributes, key=lambda attribute: attribute.dump()))


def sign_digest(
    sha256_digest: bytes,
    signer: Identity,
    chain: Sequence[x509.Certificate],
    *,
    signing_time: dt.datetime,
) -> bytes:
    """A detached CMS SignedData (DER) over content of which only the SHA-256 is known.

    The signature is ECDSA with SHA-256 over the signed attributes (content type, message digest, signing
    time) encoded as a SET OF, as RFC 5652 §5.4 requires. The certificates carried are the signer's and then
    `chain` (intermediate CAs; the verifier brings its own root); being a SET OF, DER stores them sorted by
    encoding, which is why verifiers find the signer's by issuer and serial number."""
    if len(sha256_digest) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, not {len(sha256_digest)}")
    if signing_time.tzinfo is None:
        raise ValueError("the signing time must be timezone-aware")
    signing_time = signing_time.astimezone(dt.UTC).replace(microsecond=0)
    attributes = _signed_attributes(sha256_digest, signing_time)
    signature = signer.key.sign(attributes.dump(), ec.ECDSA(hashes.SHA256()))
    certificate = _asn1_certificate(signer.certificate)
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value=cms.IssuerAndSerialNumber(
                    {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
                ),
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attributes,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "data"},
            "certificates": [
                cms.CertificateChoices(name="certificate", value=c)
                for c in [certificate, *(_asn1_certificate(cert) for cert in chain)]
            ],
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
