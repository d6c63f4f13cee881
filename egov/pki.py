"""Digital signatures of the province's documents: certificates, detached CMS signatures over a content hash,
revocation lists, and the verification every reader of a signed document performs.

Shared by the signing service, which signs, and the document-management service, which verifies. Pure: no
file I/O and no clock reads (times are arguments), except `openssl_files`, which writes the files for the
standard tool's cross-check.

A signature is a detached CMS SignedData (RFC 5652, DER), the format of the government CA's signing platform
and of `openssl cms`: the signer is sent only the SHA-256 of the document, never the document, so the
signature is built here from its parts (`asn1crypto.cms` for the structure, `cryptography` for the maths):
`cryptography` can build detached CMS only from the content itself.

Keys are EC P-256 and signatures ECDSA with SHA-256. Verification checks, in this order, that the signature
is there, parses, covers this content, is mathematically valid, chains to a trusted root, was made while
every certificate of the chain was valid, and that no certificate was revoked at or before signing time
(RFC 5280 revocation lists; a certificate no supplied list names is taken as not revoked). The time checked
is the signing time the signer states in the signed attributes: there is no timestamp authority here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The organisation named in the test CA's own certificates (the real one is the Government Cipher Board).
CA_ORGANISATION = "Ban Cơ yếu Chính phủ (test)"

#: Signature algorithms of a SignerInfo this module accepts (RFC 5753: ECDSA with SHA-256).
_ECDSA_SHA256 = frozenset({"sha256_ecdsa", "ecdsa"})

#: How many certificates a chain may have, the root included: enough for root → issuing CA → signer and more.
_MAX_CHAIN = 8


@dataclass(frozen=True)
class Identity:
    """A key and its certificate: who signs (an official, an agency's seal) or issues (a CA)."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


class SignatureInvalid(ValueError):
    """A signature that does not prove what it should; `kind` says which check failed.

    Kinds: `unsigned`, `malformed`, `content_changed`, `bad_signature`, `untrusted`, `expired`, `revoked`.
    """

    KINDS = frozenset(
        {"unsigned", "malformed", "content_changed", "bad_signature", "untrusted", "expired", "revoked"}
    )

    def __init__(self, kind: str, message: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown kind of invalid signature: {kind!r}")
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Verified:
    """A valid signature: who signed, the chain that proves it (signer … root), and when it was signed."""

    signer: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    signing_time: dt.datetime


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


def _who(name: x509.Name) -> str:
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        return f"CN={common_names[0].value!s}"
    return name.rfc4514_string() or "(empty name)"


def _instant(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class _Parsed:
    message_digest: bytes
    signing_time: dt.datetime
    signed_bytes: bytes
    signature: bytes
    signer: x509.Certificate
    certificates: tuple[x509.Certificate, ...]


def _malformed(message: str) -> SignatureInvalid:
    return SignatureInvalid("malformed", f"malformed signature: {message}")


def _one_attribute(attributes: cms.CMSAttributes, name: str) -> object:
    found = [attribute for attribute in attributes if attribute["type"].native == name]
    if len(found) != 1 or len(found[0]["values"]) != 1:
        raise _malformed(f"the signed attributes must hold exactly one {name}")
    return found[0]["values"][0].native


def _parse(signature: bytes) -> _Parsed:
    """The parts of a detached CMS SignedData that verification needs, or `malformed`."""
    try:
        info = cms.ContentInfo.load(signature, strict=True)
        if info["content_type"].native != "signed_data":
            raise _malformed(f"a {info['content_type'].native} CMS structure, not signed data")
        signed_data = info["content"]
        encapsulated = signed_data["encap_content_info"]
        if encapsulated["content_type"].native != "data":
            raise _malformed(f"the signed content type is {encapsulated['content_type'].native}, not data")
        if encapsulated["content"].native is not None:
            raise _malformed("the content is enclosed: a detached signature is expected")
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise _malformed(f"{len(signer_infos)} signer infos, not one")
        signer_info = signer_infos[0]
        if signer_info["digest_algorithm"]["algorithm"].native != "sha256":
            raise _malformed(
                f"digest algorithm {signer_info['digest_algorithm']['algorithm'].native}, not SHA-256"
            )
        algorithm = signer_info["signature_algorithm"]["algorithm"].native
        if algorithm not in _ECDSA_SHA256:
            raise _malformed(f"signature algorithm {algorithm}, not ECDSA with SHA-256")
        attributes = signer_info["signed_attrs"]
        if not attributes:
            raise _malformed("no signed attributes")
        if _one_attribute(attributes, "content_type") != "data":
            raise _malformed("the content-type attribute is not data")
        message_digest = _one_attribute(attributes, "message_digest")
        signing_time = _one_attribute(attributes, "signing_time")
        if not isinstance(message_digest, bytes) or not isinstance(signing_time, dt.datetime):
            raise _malformed("the message digest or the signing time cannot be read")
        # The signature covers the attributes' SET OF encoding: the [0] IMPLICIT tag replaced by SET (0x31).
        signed_bytes = b"\x31" + attributes.dump()[1:]
        sid = signer_info["sid"]
        if sid.name != "issuer_and_serial_number":
            raise _malformed("the signer is not identified by issuer and serial number")
        issuer, serial = sid.chosen["issuer"], sid.chosen["serial_number"].native
        certificates: list[x509.Certificate] = []
        signer: x509.Certificate | None = None
        for choice in signed_data["certificates"] or []:
            if choice.name != "certificate":
                continue
            certificate = x509.load_der_x509_certificate(choice.chosen.dump())
            certificates.append(certificate)
            if choice.chosen.serial_number == serial and choice.chosen.issuer == issuer:
                signer = signer or certificate
        raw_signature = signer_info["signature"].native
    except SignatureInvalid:
        raise
    except Exception as error:  # asn1crypto and cryptography raise several kinds on bad encodings
        raise _malformed(f"not a DER CMS SignedData ({type(error).__name__}: {error})") from error
    if signer is None:
        raise _malformed(f"the signer's certificate (serial {serial:#x}) is not in the signature")
    return _Parsed(
        message_digest=message_digest,
        signing_time=signing_time.astimezone(dt.UTC),
        signed_bytes=signed_bytes,
        signature=raw_signature,
        signer=signer,
        certificates=tuple(certificates),
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject or not _is_ca(issuer):
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _chain(
    signer: x509.Certificate, carried: Sequence[x509.Certificate], trusted_roots: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """Signer … trusted root, through the certificates the signature carries, or `untrusted`."""
    chain = [signer]
    while len(chain) <= _MAX_CHAIN:
        current = chain[-1]
        if current in trusted_roots:
            return tuple(chain)
        root = next((root for root in trusted_roots if _issued_by(current, root)), None)
        if root is not None:
            return (*chain, root)
        issuer = next((c for c in carried if c not in chain and _issued_by(current, c)), None)
        if issuer is None:
            break
        chain.append(issuer)
    raise SignatureInvalid(
        "untrusted",
        f"signer {_who(signer.subject)} is not issued by a trusted root "
        f"(its chain ends at {_who(chain[-1].subject)}, issued by {_who(chain[-1].issuer)})",
    )


def _check_validity(chain: Sequence[x509.Certificate], signing_time: dt.datetime) -> None:
    for cert in chain:
        if not cert.not_valid_before_utc <= signing_time <= cert.not_valid_after_utc:
            raise SignatureInvalid(
                "expired",
                f"certificate {_who(cert.subject)} was not valid at signing time {_instant(signing_time)}: "
                f"valid from {_instant(cert.not_valid_before_utc)} to {_instant(cert.not_valid_after_utc)}",
            )


def _check_revocation(
    chain: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    revoked_by: dt.datetime,
) -> None:
    """Refuse a certificate its issuer's revocation list revoked at or before `revoked_by`."""
    signing_time = revoked_by
    for cert, issuer in itertools.pairwise(chain):
        for crl in crls:
            if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None and entry.revocation_date_utc <= signing_time:
                raise SignatureInvalid(
                    "revoked",
                    f"certificate {_who(cert.subject)} (serial {cert.serial_number:#x}) was revoked on "
                    f"{_instant(entry.revocation_date_utc)} by {_who(issuer.subject)}'s revocation list, "
                    f"not later than {_instant(signing_time)}",
                )


#: How far a stated signing time may lie after the verifier's clock (clocks drift; business time runs fast).
SIGNING_TIME_SKEW = dt.timedelta(hours=1)


def _check_signer_kind(signer: x509.Certificate) -> None:
    """The signer must be an end entity allowed to sign documents, not a CA (openssl refuses those too)."""
    try:
        constraints = signer.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
        may_sign = usage.digital_signature or usage.content_commitment
    except x509.ExtensionNotFound:
        may_sign = False
    if is_ca or not may_sign:
        raise SignatureInvalid(
            "untrusted",
            f"certificate {_who(signer.subject)} may not sign documents "
            f"({'a CA certificate' if is_ca else 'no digital-signature key usage'})",
        )


def verify(
    signature: bytes,
    content: bytes,
    *,
    trusted_roots: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList] = (),
    at: dt.datetime | None = None,
) -> Verified:
    """Check a detached CMS signature over `content`; return who signed and when, or raise `SignatureInvalid`
    for the first check that fails (see the module's docstring for the order).

    `at` is the verifier's own time (e.g. when the document arrived). The signing time is the signer's word:
    with `at`, a signing time after it is refused, and a revocation dated at or before `at` counts, so a
    backdated signature cannot escape a revocation (without a timestamp authority, nothing proves when a
    signature was really made)."""
    if not signature:
        raise SignatureInvalid("unsigned", "the document is not signed: the signature is empty")
    parsed = _parse(signature)
    actual = hashlib.sha256(content).digest()
    if actual != parsed.message_digest:
        raise SignatureInvalid(
            "content_changed",
            f"content changed after signing: SHA-256 of the content is {actual.hex()}, "
            f"the signature covers {parsed.message_digest.hex()}",
        )
    public_key = parsed.signer.public_key()
    try:
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise InvalidSignature
        public_key.verify(parsed.signature, parsed.signed_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureInvalid(
            "bad_signature",
            f"the signature does not verify with the public key of {_who(parsed.signer.subject)} "
            f"(serial {parsed.signer.serial_number:#x})",
        ) from None
    _check_signer_kind(parsed.signer)
    chain = _chain(parsed.signer, parsed.certificates, trusted_roots)
    if at is not None and parsed.signing_time > at + SIGNING_TIME_SKEW:
        raise SignatureInvalid(
            "expired",
            f"signing time {_instant(parsed.signing_time)} is after the verification time {_instant(at)}",
        )
    _check_validity(chain, parsed.signing_time)
    _check_revocation(chain, crls, parsed.signing_time if at is None else max(at, parsed.signing_time))
    return Verified(signer=parsed.signer, chain=chain, signing_time=parsed.signing_time)


def openssl_files(directory: Path, *, content: bytes, signature: bytes, root: x509.Certificate) -> list[str]:
    """The one function here that does I/O: writes `content.bin`, `signature.der` and `root.pem` into
    `directory` and returns the argv of `openssl cms -verify` over them, so that tests and vendors can check
    that the standard tool agrees with `verify` (exit status 0: the signature is valid)."""
    content_file = directory / "content.bin"
    signature_file = directory / "signature.der"
    root_file = directory / "root.pem"
    content_file.write_bytes(content)
    signature_file.write_bytes(signature)
    root_file.write_text(pem(root), encoding="ascii")
    return [
        "openssl",
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(signature_file),
        "-content",
        str(content_file),
        "-CAfile",
        str(root_file),
        "-out",
        os.devnull,
    ]
