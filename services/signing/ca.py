"""The test CA on disk: a root, an issuing CA, and the signing identities of officials and agencies' seals,
standing in for the Government Cipher Board's CA (Ban Cơ yếu Chính phủ) and its signing platform.

The CA lives in one directory (the signing service passes `<state dir>/ca`, which git ignores):

    private/                 mode 0700: only the signing service reads it
        root.key, issuing.key          PEM, PKCS#8, unencrypted, mode 0600
        officials/<safe name>.key      one per official
        agencies/<safe name>.key       one per agency's seal
    public/                  anyone may read it: the trust store a verifier loads (`trust_store`)
        root.pem, issuing.pem, crl.pem (the issuing CA's revocation list)
        officials/<safe name>.pem, agencies/<safe name>.pem

Keys are the source of truth: an existing key is never overwritten (keys are created with O_EXCL, so two
processes racing to create one end up with the same key). A certificate missing beside its key is issued
again for that key, so a directory left half-made by a crash is completed, not replaced. An official's or
agency's certificate is issued again, for the same key, when it has expired or no longer names the holder as
the record does (a new position, a renamed agency). A revoked certificate is not replaced automatically:
after a key compromise the operator removes the key file.

File names of officials and agencies come from a SHA-256 prefix of their identifier plus a slug of it, so an
identifier like `../../etc/passwd` cannot name a path outside the directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from egov.platform import pki

ROOT_NAME = "Test Root CA — Chính phủ điện tử (test)"
ISSUING_NAME = "Test Issuing CA — chữ ký số chuyên dùng (test)"
#: How long the CA's certificates are valid, in years, and how often its revocation list is refreshed.
ROOT_YEARS = 20
ISSUING_YEARS = 10
CRL_DAYS = 7
#: Certificates start a day before they are issued, so that clocks a little behind still accept them.
BACKDATE = dt.timedelta(days=1)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_file_name(identifier: str) -> str:
    """A file name for `identifier` that cannot leave its directory: SHA-256 prefix, then a readable slug."""
    prefix = hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:16]
    slug = _UNSAFE.sub("-", identifier).strip("-")[:48]
    return f"{prefix}-{slug}" if slug else prefix


def _years_after(start: dt.datetime, years: int) -> dt.datetime:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _private_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key in `path`, created (mode 0600) if there is none; an existing key is never overwritten."""
    if not path.exists():
        key = pki.new_key()
        # Written whole to a file of this process, then linked in place: a second worker starting at the same
        # moment finds either no key or a complete one, never a half-written file.
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(_private_bytes(key))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it meanwhile: use theirs
        else:
            return key
        finally:
            temporary.unlink()
    return _load_key(path)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return key


def _load_certificate(path: Path) -> x509.Certificate | None:
    return x509.load_pem_x509_certificate(path.read_bytes()) if path.exists() else None


def _same_key(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return certificate.public_key() == key.public_key()


class CertificateAuthority:
    """The test CA kept in `directory`; `ensure(now)` creates or loads it before anything else."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._private = directory / "private"
        self._public = directory / "public"
        self._root: pki.Identity | None = None
        self._issuing: pki.Identity | None = None

    @property
    def public_directory(self) -> Path:
        """The trust store others may read (root, issuing CA, revocation list, holders' certificates)."""
        return self._public

    def ensure(self, now: dt.datetime) -> None:
        """Create the CA on first use (root, issuing CA, empty revocation list); later load it. Idempotent."""
        self._make_directories()
        start = now - BACKDATE
        root = self._identity(
            "root",
            lambda key: pki.root_certificate(
                ROOT_NAME, key, not_before=start, not_after=_years_after(start, ROOT_YEARS)
            ),
        )
        self._root = root
        self._issuing = self._identity(
            "issuing",
            lambda key: pki.issue_certificate(
                root,
                pki.ca_name(ISSUING_NAME),
                key.public_key(),
                not_before=start,
                not_after=_years_after(start, ISSUING_YEARS),
                ca=True,
            ),
        )
        if not (self._public / pki.CRL_FILE).exists():
            self._write_crl([], this_update=now, number=1)

    def _make_directories(self) -> None:
        for directory in (self._private, self._private / "officials", self._private / "agencies"):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            directory.chmod(0o700)
        for directory in (self._public, self._public / "officials", self._public / "agencies"):
            directory.mkdir(parents=True, exist_ok=True)

    def _identity(
        self,
        name: str,
        issue: Callable[[ec.EllipticCurvePrivateKey], x509.Certificate],
        renew: Callable[[x509.Certificate], bool] = lambda _: False,
    ) -> pki.Identity:
        """The key `private/<name>.key` and its certificate `public/<name>.pem`, each created if missing; the
        certificate is issued again (same key) when `renew` says so."""
        key = _load_or_create_key(self._private / f"{name}.key")
        certificate_path = self._public / f"{name}.pem"
        certificate = _load_certificate(certificate_path)
        if certificate is not None and not _same_key(certificate, key):
            raise ValueError(f"{certificate_path} is not the certificate of {self._private / name}.key")
        if certificate is None or renew(certificate):
            certificate = issue(key)
            _write_atomically(certificate_path, certificate.public_bytes(serialization.Encoding.PEM))
        return pki.Identity(key=key, certificate=certificate)

    def _loaded(self) -> tuple[pki.Identity, pki.Identity]:
        if self._root is None or self._issuing is None:
            files = [self._private / "root.key", self._private / "issuing.key"]
            files += [self._public / pki.ROOT_FILE, self._public / "issuing.pem"]
            if not all(path.exists() for path in files):
                raise RuntimeError(f"there is no complete CA in {self.directory}: call ensure(now) first")
            self._root = pki.Identity(
                _load_key(files[0]), x509.load_pem_x509_certificate(files[2].read_bytes())
            )
            self._issuing = pki.Identity(
                _load_key(files[1]), x509.load_pem_x509_certificate(files[3].read_bytes())
            )
        return self._root, self._issuing

    def issuing_identity(self) -> pki.Identity:
        """The issuing CA, which signs holders' certificates and the revocation list."""
        return self._loaded()[1]

    def root_certificate(self) -> x509.Certificate:
        """The root every verifier trusts."""
        return self._loaded()[0].certificate

    def chain(self) -> list[x509.Certificate]:
        """The intermediate certificates a signature carries (the issuing CA; the root is not sent)."""
        return [self.issuing_identity().certificate]

    def official(
        self, official: Mapping[str, Any], now: dt.datetime, *, valid_days: int = 730
    ) -> pki.Identity:
        """The signing identity of an official (a `vn.egov.common.Official` record), created on first use."""
        if not official["official_id"]:
            raise ValueError("an official without an official_id cannot be given a certificate")
        agency = official["agency"]
        subject = pki.official_name(
            str(official["official_id"]),
            str(official["full_name"]),
            str(official["position"]),
            str(agency["code"]),
            str(agency["name"]),
        )
        return self._holder(
            f"officials/{safe_file_name(str(official['official_id']))}", subject, now, valid_days
        )

    def agency(self, agency: Mapping[str, str], now: dt.datetime, *, valid_days: int = 730) -> pki.Identity:
        """The seal of an agency (`{code, name}`), created on first use."""
        if not agency["code"]:
            raise ValueError("an agency without a code cannot be given a seal")
        subject = pki.agency_name(agency["code"], agency["name"])
        return self._holder(f"agencies/{safe_file_name(agency['code'])}", subject, now, valid_days)

    def _holder(self, name: str, subject: x509.Name, now: dt.datetime, valid_days: int) -> pki.Identity:
        issuing = self.issuing_identity()
        self._make_directories()

        def issue(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
            start = now - BACKDATE
            return pki.issue_certificate(
                issuing,
                subject,
                key.public_key(),
                not_before=start,
                not_after=start + dt.timedelta(days=valid_days),
                ca=False,
            )

        def renew(certificate: x509.Certificate) -> bool:
            expired = not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
            return (
                expired or certificate.subject != subject or certificate.issuer != issuing.certificate.subject
            )

        return self._identity(name, issue, renew)

    def crl(self) -> x509.CertificateRevocationList:
        """The issuing CA's current revocation list."""
        path = self._public / pki.CRL_FILE
        if not path.exists():
            raise RuntimeError(f"there is no revocation list in {self._public}: call ensure(now) first")
        return x509.load_pem_x509_crl(path.read_bytes())

    def revoke(self, serial: int, at: dt.datetime) -> None:
        """Revoke the certificate `serial` as of `at` (also the new list's this-update), keeping earlier
        entries; a serial already revoked keeps its first revocation date."""
        previous = self.crl()
        entries = [(entry.serial_number, entry.revocation_date_utc) for entry in previous]
        if all(known != serial for known, _ in entries):
            entries.append((serial, at))
        try:
            number = previous.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
        except x509.ExtensionNotFound:
            number = 1
        self._write_crl(entries, this_update=at, number=number)

    def _write_crl(
        self, entries: list[tuple[int, dt.datetime]], *, this_update: dt.datetime, number: int
    ) -> None:
        crl = pki.revocation_list(
            self.issuing_identity(),
            entries,
            this_update=this_update,
            next_update=this_update + dt.timedelta(days=CRL_DAYS),
            number=number,
        )
        _write_atomically(self._public / pki.CRL_FILE, crl.public_bytes(serialization.Encoding.PEM))
