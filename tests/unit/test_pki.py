"""Digital signatures: detached CMS over a content hash, each way verification fails, and `openssl` agrees."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from egov.platform import pki

NOW = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CONTENT = "Quyết định số 12/QĐ-UBND: cấp giấy chứng nhận đăng ký doanh nghiệp".encode()
OFFICIAL = pki.official_name(
    "CB-000.00.04.H11-0007", "Nguyễn Thị Ánh Tuyết", "Phó Giám đốc", "000.00.04.H11", "Sở Kế hoạch và Đầu tư"
)


class CA:
    """A root, an issuing CA under it, and a way to issue signers, all valid around `now`."""

    def __init__(self, name: str = "Root", now: dt.datetime = NOW) -> None:
        key = pki.new_key()
        self.root = pki.Identity(
            key, pki.root_certificate(name, key, not_before=now - DAY, not_after=now + 3650 * DAY)
        )
        issuing_key = pki.new_key()
        self.issuing = pki.Identity(
            issuing_key,
            pki.issue_certificate(
                self.root,
                pki.ca_name(f"{name} issuing"),
                issuing_key.public_key(),
                not_before=now - DAY,
                not_after=now + 1000 * DAY,
                ca=True,
            ),
        )
        self.now = now

    def signer(
        self, subject: x509.Name = OFFICIAL, *, not_before: dt.datetime | None = None, days: int = 730
    ) -> pki.Identity:
        key = pki.new_key()
        start = not_before or self.now - DAY
        certificate = pki.issue_certificate(
            self.issuing, subject, key.public_key(), not_before=start, not_after=start + days * DAY, ca=False
        )
        return pki.Identity(key, certificate)

    def sign(self, signer: pki.Identity, content: bytes = CONTENT, at: dt.datetime | None = None) -> bytes:
        digest = hashlib.sha256(content).digest()
        return pki.sign_digest(digest, signer, [self.issuing.certificate], signing_time=at or self.now)


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA()


def _invalid(kind: str, signature: bytes, ca: CA, **kwargs: object) -> str:
    content = kwargs.pop("content", CONTENT)
    with pytest.raises(pki.SignatureInvalid) as caught:
        pki.verify(signature, content, trusted_roots=[ca.root.certificate], **kwargs)  # type: ignore[arg-type]
    assert caught.value.kind == kind, str(caught.value)
    return str(caught.value)


def test_a_signature_over_the_digest_verifies_with_its_chain_and_time(ca: CA) -> None:
    signer = ca.signer()
    verified = pki.verify(ca.sign(signer), CONTENT, trusted_roots=[ca.root.certificate])
    assert verified.signer == signer.certificate
    assert verified.chain == (signer.certificate, ca.issuing.certificate, ca.root.certificate)
    assert verified.signing_time == NOW


def test_the_signature_is_detached_cms_signed_data(ca: CA) -> None:
    from asn1crypto import cms

    info = cms.ContentInfo.load(ca.sign(ca.signer()))
    assert info["content_type"].native == "signed_data"
    signed_data = info["content"]
    assert signed_data["encap_content_info"]["content"].native is None
    # A SET OF: DER orders it by encoding, so the signer's certificate is found by issuer and serial number.
    assert sorted(c.chosen.subject.native["common_name"] for c in signed_data["certificates"]) == [
        "Nguyễn Thị Ánh Tuyết",
        "Root issuing",
    ]
    signer_info = signed_data["signer_infos"][0]
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    attributes = {a["type"].native: a["values"][0].native for a in signer_info["signed_attrs"]}
    assert attributes["message_digest"] == hashlib.sha256(CONTENT).digest()
    assert attributes["content_type"] == "data"


def test_only_a_sha256_digest_is_signed(ca: CA) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        pki.sign_digest(b"\x00" * 20, ca.signer(), [], signing_time=NOW)


def test_changed_content_is_reported_with_both_digests(ca: CA) -> None:
    message = _invalid("content_changed", ca.sign(ca.signer()), ca, content=CONTENT + b" ")
    assert hashlib.sha256(CONTENT + b" ").hexdigest() in message
    assert hashlib.sha256(CONTENT).hexdigest() in message
    assert message.startswith("content changed after signing")


def test_flipped_signature_bytes_do_not_verify(ca: CA) -> None:
    signature = bytearray(ca.sign(ca.signer()))
    signature[-1] ^= 0x01  # the last byte of the ECDSA value, which ends the structure
    message = _invalid("bad_signature", bytes(signature), ca)
    assert "Nguyễn Thị Ánh Tuyết" in message


def test_a_signer_from_another_root_is_untrusted(ca: CA) -> None:
    other = CA("Other root")
    message = _invalid("untrusted", other.sign(other.signer()), ca)
    assert message.startswith("signer CN=Nguyễn Thị Ánh Tuyết is not issued by a trusted root")


def test_a_certificate_expired_at_signing_time_is_refused(ca: CA) -> None:
    old = ca.signer(not_before=NOW - 800 * DAY, days=730)
    message = _invalid("expired", ca.sign(old), ca)
    assert "CN=Nguyễn Thị Ánh Tuyết was not valid at signing time 2026-11-24T08:00:00Z" in message
    assert f"valid from {(NOW - 800 * DAY).isoformat().replace('+00:00', 'Z')}" in message


def test_a_certificate_revoked_before_signing_is_refused(ca: CA) -> None:
    signer = ca.signer()
    crl = pki.revocation_list(
        ca.issuing,
        [(signer.certificate.serial_number, NOW - DAY)],
        this_update=NOW - DAY,
        next_update=NOW + DAY,
    )
    message = _invalid("revoked", ca.sign(signer), ca, crls=[crl])
    assert f"(serial {signer.certificate.serial_number:#x}) was revoked on 2026-11-23T08:00:00Z" in message
    assert "by CN=Root issuing's revocation list" in message


def test_a_revocation_after_signing_does_not_invalidate_the_signature(ca: CA) -> None:
    signer = ca.signer()
    crl = pki.revocation_list(
        ca.issuing,
        [(signer.certificate.serial_number, NOW + DAY)],
        this_update=NOW + DAY,
        next_update=NOW + 8 * DAY,
    )
    verified = pki.verify(ca.sign(signer), CONTENT, trusted_roots=[ca.root.certificate], crls=[crl])
    assert verified.signer == signer.certificate


def test_a_revocation_list_not_signed_by_the_issuer_is_ignored(ca: CA) -> None:
    signer = ca.signer()
    forger = pki.Identity(pki.new_key(), ca.issuing.certificate)  # same name, wrong key
    crl = pki.revocation_list(
        forger, [(signer.certificate.serial_number, NOW - DAY)], this_update=NOW - DAY, next_update=NOW + DAY
    )
    pki.verify(ca.sign(signer), CONTENT, trusted_roots=[ca.root.certificate], crls=[crl])


def test_empty_and_unparseable_signatures(ca: CA) -> None:
    assert "not signed" in _invalid("unsigned", b"", ca)
    assert _invalid("malformed", b"junk", ca).startswith("malformed signature")
    assert _invalid("malformed", ca.sign(ca.signer()) + b"\x00", ca).startswith("malformed signature")


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        pki.SignatureInvalid("forged", "?")


def test_vietnamese_names_survive_certificates_and_signatures(ca: CA) -> None:
    signer = ca.signer()
    reloaded = pki.load_pem_chain([pki.pem(signer.certificate) + pki.pem(ca.issuing.certificate)])
    assert reloaded == [signer.certificate, ca.issuing.certificate]
    subject = reloaded[0].subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Thị Ánh Tuyết"
    assert subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "Phó Giám đốc"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Sở Kế hoạch và Đầu tư"
    assert subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == "CB-000.00.04.H11-0007"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "000.00.04.H11"
    assert "Nguyễn Thị Ánh Tuyết".encode() in signer.certificate.public_bytes(serialization.Encoding.DER)
    seal = pki.agency_name("000.00.04.H11", "Sở Kế hoạch và Đầu tư")
    assert seal.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "000.00.04.H11"
    verified = pki.verify(ca.sign(ca.signer(seal)), CONTENT, trusted_roots=[ca.root.certificate])
    assert verified.signer.subject == seal
    assert ca.root.certificate.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Ban Cơ yếu Chính phủ (test)"
    )


def test_certificates_have_the_extensions_of_their_role(ca: CA) -> None:
    root, issuing, leaf = ca.root.certificate, ca.issuing.certificate, ca.signer().certificate
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).critical
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        pytest.fail(
            "the `openssl` command is needed to check signatures with the standard tool: install OpenSSL"
        )
    return found


def test_openssl_agrees_a_good_signature_verifies_and_changed_content_does_not(tmp_path: Path) -> None:
    _openssl()
    now = dt.datetime.now(dt.UTC)  # openssl checks certificates at the wall-clock time
    ca = CA(now=now)
    signature = ca.sign(ca.signer(), at=now)
    good = subprocess.run(
        pki.openssl_files(tmp_path, content=CONTENT, signature=signature, root=ca.root.certificate),
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert "Verification successful" in good.stderr
    tampered = subprocess.run(
        pki.openssl_files(tmp_path, content=CONTENT + b"!", signature=signature, root=ca.root.certificate),
        capture_output=True,
        text=True,
        check=False,
    )
    assert tampered.returncode != 0
    assert "content verify error" in tampered.stderr


def test_a_ca_certificate_may_not_sign_a_document(ca: CA) -> None:
    digest = hashlib.sha256(CONTENT).digest()
    signature = pki.sign_digest(digest, ca.issuing, [], signing_time=ca.now)
    assert "may not sign documents (a CA certificate)" in _invalid("untrusted", signature, ca)


def test_with_the_verifiers_time_a_backdated_signature_cannot_escape_a_revocation(ca: CA) -> None:
    signer = ca.signer()
    revoked_on = ca.now + 10 * DAY
    crl = pki.revocation_list(
        ca.issuing,
        [(signer.certificate.serial_number, revoked_on)],
        this_update=revoked_on,
        next_update=revoked_on + 7 * DAY,
    )
    backdated = ca.sign(signer, at=ca.now)  # signed after the revocation, dated before it
    pki.verify(backdated, CONTENT, trusted_roots=[ca.root.certificate], crls=[crl])  # the signer's word alone
    _invalid("revoked", backdated, ca, crls=[crl], at=revoked_on + DAY)
    # … and a signing time after the verifier's clock is refused.
    future = ca.sign(signer, at=ca.now + 5 * DAY)
    assert "after the verification time" in _invalid("expired", future, ca, at=ca.now)


def test_a_trust_store_not_yet_published_is_empty_not_an_error(tmp_path: Path) -> None:
    # The document system then waits for the signing platform instead of refusing what arrives.
    assert pki.trust_store(tmp_path) == ([], [])
