"""The signing service's test CA on disk: created once, reloaded, private keys kept private, revocation."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from egov.platform import pki
from egov.platform.pki import trust_store
from services.signing import ca as ca_module
from services.signing.ca import CertificateAuthority

NOW = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
AGENCY = {"code": "000.00.04.H11", "name": "Sở Kế hoạch và Đầu tư"}
OFFICIAL = {
    "official_id": "CB-0007",
    "full_name": "Trần Văn Đức",
    "position": "Giám đốc",
    "agency": AGENCY,
}
CONTENT = "Giấy chứng nhận đăng ký doanh nghiệp".encode()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_bytes(identity: pki.Identity) -> bytes:
    return _der(identity.key)


def _der(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _sign(authority: CertificateAuthority, signer: pki.Identity, at: dt.datetime = NOW) -> bytes:
    return pki.sign_digest(hashlib.sha256(CONTENT).digest(), signer, authority.chain(), signing_time=at)


def test_ensure_creates_the_ca_once_and_keeps_keys_private(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path / "ca")
    authority.ensure(NOW)
    root = authority.root_certificate()
    issuing_key = _key_bytes(authority.issuing_identity())
    again = CertificateAuthority(tmp_path / "ca")
    again.ensure(NOW + 30 * DAY)
    assert again.root_certificate().serial_number == root.serial_number
    assert _key_bytes(again.issuing_identity()) == issuing_key
    private = tmp_path / "ca" / "private"
    assert _mode(private) == 0o700
    for name in ("root.key", "issuing.key"):
        assert _mode(private / name) == 0o600
        assert (private / name).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    public = authority.public_directory
    assert {p.name for p in public.iterdir() if p.is_file()} == {"root.pem", "issuing.pem", "crl.pem"}
    assert root.not_valid_before_utc == NOW - DAY
    assert root.not_valid_after_utc == (NOW - DAY).replace(year=2046)
    assert "Chính phủ điện tử" in root.subject.rfc4514_string()
    assert authority.crl().next_update_utc == NOW + 7 * DAY
    assert len(authority.crl()) == 0


def test_a_missing_certificate_is_reissued_for_the_existing_key(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path)
    authority.ensure(NOW)
    issuing_key = _key_bytes(authority.issuing_identity())
    (authority.public_directory / "issuing.pem").unlink()
    again = CertificateAuthority(tmp_path)
    again.ensure(NOW)
    assert _key_bytes(again.issuing_identity()) == issuing_key
    again.issuing_identity().certificate.verify_directly_issued_by(again.root_certificate())


def test_the_chain_is_the_issuing_ca_under_the_root(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path)
    authority.ensure(NOW)
    [issuing] = authority.chain()
    assert issuing == authority.issuing_identity().certificate
    assert "chữ ký số chuyên dùng" in issuing.subject.rfc4514_string()
    issuing.verify_directly_issued_by(authority.root_certificate())


def test_an_official_identity_is_created_once_then_reloaded(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path)
    authority.ensure(NOW)
    first = authority.official(OFFICIAL, NOW)
    reloaded = CertificateAuthority(tmp_path)
    reloaded.ensure(NOW + DAY)
    second = reloaded.official(OFFICIAL, NOW + DAY)
    assert second.certificate == first.certificate
    assert _key_bytes(second) == _key_bytes(first)
    [key_file] = (tmp_path / "private" / "officials").iterdir()
    assert _mode(key_file) == 0o600
    assert first.certificate.not_valid_after_utc == NOW - DAY + 730 * DAY
    roots, crls = trust_store(authority.public_directory)
    verified = pki.verify(_sign(authority, first), CONTENT, trusted_roots=roots, crls=crls)
    assert verified.chain[1:] == (authority.issuing_identity().certificate, authority.root_certificate())
    assert "Trần Văn Đức" in verified.signer.subject.rfc4514_string()


def test_two_officials_and_an_agency_get_their_own_certificates(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path)
    authority.ensure(NOW)
    one = authority.official(OFFICIAL, NOW)
    other = authority.official({**OFFICIAL, "official_id": "CB-0008", "full_name": "Lê Thị Hoa"}, NOW)
    seal = authority.agency(AGENCY, NOW)
    serials = {one.certificate.serial_number, other.certificate.serial_number, seal.certificate.serial_number}
    assert len(serials) == 3
    assert one.certificate.public_key() != other.certificate.public_key()
    assert seal.certificate.subject == pki.agency_name(AGENCY["code"], AGENCY["name"])
    assert authority.agency(AGENCY, NOW).certificate == seal.certificate


def test_an_expired_or_outdated_certificate_is_reissued_for_the_same_key(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path)
    authority.ensure(NOW)
    first = authority.official(OFFICIAL, NOW, valid_days=30)
    later = authority.official(OFFICIAL, NOW + 60 * DAY, valid_days=30)
    assert later.certificate != first.certificate
    assert _key_bytes(later) == _key_bytes(first)
    promoted = authority.official({**OFFICIAL, "position": "Chủ tịch"}, NOW + 60 * DAY)
    assert "Chủ tịch" in promoted.certificate.subject.rfc4514_string()


def test_revoke_lists_the_serial_and_verification_then_says_revoked(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path)
    authority.ensure(NOW)
    signer = authority.official(OFFICIAL, NOW)
    other = authority.agency(AGENCY, NOW)
    authority.revoke(other.certificate.serial_number, NOW)
    authority.revoke(signer.certificate.serial_number, NOW + DAY)
    crl_text = (authority.public_directory / "crl.pem").read_text()
    crl = trust_store(authority.public_directory)[1][0]
    assert crl_text.startswith("-----BEGIN X509 CRL-----")
    assert {entry.serial_number for entry in crl} == {
        signer.certificate.serial_number,
        other.certificate.serial_number,
    }
    assert crl.is_signature_valid(authority.issuing_identity().certificate.public_key())  # type: ignore[arg-type]
    roots, crls = trust_store(authority.public_directory)
    with pytest.raises(pki.SignatureInvalid) as caught:
        pki.verify(_sign(authority, signer, NOW + 2 * DAY), CONTENT, trusted_roots=roots, crls=crls)
    assert caught.value.kind == "revoked"
    assert "Trần Văn Đức" in str(caught.value)
    # What was signed before the revocation stays valid.
    pki.verify(_sign(authority, signer, NOW), CONTENT, trusted_roots=roots, crls=crls)


def test_path_traversal_in_an_official_id_cannot_escape_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    authority = CertificateAuthority(directory)
    authority.ensure(NOW)
    for hostile in ("../../escaped", "/etc/passwd", "..", "a/../../b", "C:\\x\\..\\y", ".hidden"):
        name = ca_module.safe_file_name(hostile)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        authority.official({**OFFICIAL, "official_id": hostile}, NOW)
    outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(directory)}
    assert outside == set()
    assert len(list((directory / "private" / "officials").iterdir())) == 6
    assert len(list((directory / "public" / "officials").iterdir())) == 6


def test_methods_before_ensure_say_so_and_an_empty_identifier_is_refused(tmp_path: Path) -> None:
    authority = CertificateAuthority(tmp_path)
    with pytest.raises(RuntimeError, match="ensure"):
        authority.chain()
    authority.ensure(NOW)
    with pytest.raises(ValueError, match="official_id"):
        authority.official({**OFFICIAL, "official_id": ""}, NOW)


def test_workers_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    """Two signing workers on one state directory: each finds no key or a whole one, and both end up with the
    same key (it is linked in place once written, never read half-written)."""
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "issuing.key"
    with ProcessPoolExecutor(max_workers=4) as pool:
        keys = list(pool.map(_key_in, [path] * 8))
    assert len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["issuing.key"]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _key_in(path: Path) -> bytes:
    """(In a worker process) the key at `path`, loaded or created."""
    return _der(ca_module._load_or_create_key(path))
