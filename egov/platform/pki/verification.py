"""The verification every reader of a signed document performs, in order: the signature is there, parses,
covers this content, is mathematically valid, chains to a trusted root, was made while every certificate of
the chain was valid, by a certificate that may sign, and no certificate was revoked at or before the time
that counts. `openssl_files` writes the files for the standard tool's cross-check."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from egov.platform.pki.certificates import pem

#: Signature algorithms of a SignerInfo this module accepts (RFC 5753: ECDSA with SHA-256).
_ECDSA_SHA256 = frozenset({"sha256_ecdsa", "ecdsa"})

#: How many certificates a chain may have, the root included: enough for root → issuing CA → signer and more.
_MAX_CHAIN = 8


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
