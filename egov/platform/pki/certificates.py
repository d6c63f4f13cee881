"""Certificates and revocation lists of the test CA and of the officials and agencies it certifies, and the
trust store a CA publishes (its root and its revocation list). Pure but for `trust_store`, which reads the
published files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The organisation named in the test CA's own certificates (the real one is the Government Cipher Board).
CA_ORGANISATION = "Ban Cơ yếu Chính phủ (test)"


@dataclass(frozen=True)
class Identity:
    """A key and its certificate: who signs (an official, an agency's seal) or issues (a CA)."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def new_key() -> ec.EllipticCurvePrivateKey:
    """A new EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def ca_name(name: str) -> x509.Name:
    """The subject of one of the test CA's own certificates (root, issuing CA): C=VN, O=…, CN=`name`."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


def agency_name(code: str, name: str) -> x509.Name:
    """The subject of an agency's seal certificate; the agency code is its `organizationIdentifier`."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, code),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


def official_name(
    official_id: str, full_name: str, position: str, agency_code: str, agency_name: str
) -> x509.Name:
    """The subject of an official's certificate: agency (O, and its code as OU), position (title), name (CN),
    and the official's identifier (UID). Strings are UTF8String, so diacritics survive."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency_name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, agency_code),
            x509.NameAttribute(NameOID.TITLE, position),
            x509.NameAttribute(NameOID.COMMON_NAME, full_name),
            x509.NameAttribute(NameOID.USER_ID, official_id),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """A CA signs certificates and revocation lists; a holder signs documents (with non-repudiation)."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def root_certificate(
    name: str, key: ec.EllipticCurvePrivateKey, *, not_before: dt.datetime, not_after: dt.datetime
) -> x509.Certificate:
    """A self-signed root CA certificate for `key`, named CN=`name` in the test CA's organisation."""
    subject = ca_name(name)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def issue_certificate(
    issuer: Identity,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ca: bool,
    serial: int | None = None,
) -> x509.Certificate:
    """A certificate for `public_key` signed by `issuer`: an intermediate CA that issues only end
    certificates (`ca=True`), or a signer's certificate (`ca=False`) for non-repudiable signatures of
    documents. Signers get the e-mail protection extended key usage: it is the purpose `openssl cms -verify`
    checks by default."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_authority_key_identifier(issuer.certificate), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        builder = builder.add_extension(_key_usage(ca=True), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(ca=False), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    return builder.sign(issuer.key, hashes.SHA256())


def revocation_list(
    issuer: Identity,
    revoked: Iterable[tuple[int, dt.datetime]],
    *,
    this_update: dt.datetime,
    next_update: dt.datetime,
    number: int = 1,
) -> x509.CertificateRevocationList:
    """The CRL of `issuer` listing the `(serial, revocation date)` pairs, signed with SHA-256. `number` is the
    CRL number (RFC 5280 requires one, increasing with each list the issuer publishes)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_authority_key_identifier(issuer.certificate), critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(issuer.key, hashes.SHA256())


#: The trust store a CA publishes in its public folder: the root, and the issuing CA's revocation list.
ROOT_FILE = "root.pem"
CRL_FILE = "crl.pem"


def trust_store(
    public_directory: Path,
) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    """What a verifier loads from a CA's public folder: the trusted root (none when the CA has not published
    it yet) and the revocation list if one has been published."""
    root_path = public_directory / ROOT_FILE
    roots = load_pem_chain([root_path.read_text(encoding="ascii")]) if root_path.exists() else []
    crl_path = public_directory / CRL_FILE
    crls = [x509.load_pem_x509_crl(crl_path.read_bytes())] if crl_path.exists() else []
    return roots, crls


def pem(cert: x509.Certificate) -> str:
    """`cert` as PEM text."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_pem_chain(pems: Iterable[str]) -> list[x509.Certificate]:
    """The certificates of PEM texts, in order (a text may hold several)."""
    certificates: list[x509.Certificate] = []
    for text in pems:
        certificates.extend(x509.load_pem_x509_certificates(text.encode("ascii")))
    return certificates
