"""Who a process is on the broker, and how it proves it.

The secure profile (the default) authenticates every client with SASL/SCRAM-SHA-512 and lets the broker's
StandardAuthorizer decide, from ACLs generated from the architecture model, what each principal may read and
write (docs/adr/0010-broker-principals-and-acls.md). Each service is its own principal, named like its Faust
app id (`<topic prefix>egov-<service>`); the model's external principals (a vendor's case system, an
operator's tools) are `<topic prefix><id>`; `admin` is the broker's super user, for the admin step only.

The passwords of one installation live in one JSON file under the state folder
(`<state dir>/secrets/kafka.json`, mode 0600 in a 0700 folder), generated on first need and never in the
repository. `EGOV_KAFKA_PASSWORD` gives a process its own password instead (a container given only its own).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from egov.contracts.envelope import APP_ID_PREFIX

#: The SASL mechanism of the client listener.
MECHANISM = "SCRAM-SHA-512"
SECURITY_PROTOCOL = "SASL_PLAINTEXT"
#: The broker's super user: creates topics, SCRAM users and ACLs (the admin step), nothing else.
ADMIN = "admin"
#: The principals the broker itself uses: between its listeners (SCRAM) and towards its controller (PLAIN).
BROKER = "broker"
CONTROLLER = "controller"


class CredentialsMissing(RuntimeError):
    """A principal has no password in this installation; the message says how to get one."""


def service_principal(prefix: str, service: str) -> str:
    """A service's broker principal: its Faust app id, so its group and internal topics share its name."""
    return f"{prefix}{APP_ID_PREFIX}{service}"


@dataclass(frozen=True)
class KafkaCredentials:
    """A principal and its password (the password never appears in a repr or a log line)."""

    principal: str
    password: str = field(repr=False)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's clients (security_protocol is required: without it aiokafka stays
        on PLAINTEXT whatever the sasl_* arguments say)."""
        return {
            "security_protocol": SECURITY_PROTOCOL,
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.principal,
            "sasl_plain_password": self.password,
        }

    def java_properties(self, bootstrap: str) -> str:
        """The client properties of a Java client (kafka-clients, Kafka's console tools)."""
        escaped = self.password.replace("\\", "\\\\").replace('"', '\\"')
        return (
            f"bootstrap.servers={bootstrap}\n"
            f"security.protocol={SECURITY_PROTOCOL}\n"
            f"sasl.mechanism={MECHANISM}\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{self.principal}" password="{escaped}";\n'
        )

    def librdkafka(self, bootstrap: str) -> dict[str, str]:
        """The configuration of a librdkafka client (confluent-kafka, kcat, and the clients built on it)."""
        return {
            "bootstrap.servers": bootstrap,
            "security.protocol": SECURITY_PROTOCOL,
            "sasl.mechanism": MECHANISM,
            "sasl.username": self.principal,
            "sasl.password": self.password,
        }


class SecretStore:
    """The passwords of one installation's principals: a JSON object in a file only its owner may read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise CredentialsMissing(f"{self.path} is not a JSON object of principal → password")
        return {str(k): str(v) for k, v in data.items()}

    def password(self, principal: str) -> str | None:
        return self.read().get(principal)

    def ensure(self, principals: Iterable[str]) -> dict[str, str]:
        """The passwords of `principals`, generating (and keeping) the missing ones; a file lock keeps two
        processes from generating different passwords for one principal."""
        wanted = list(principals)
        with self._locked():
            known = self.read()
            missing = [p for p in wanted if p not in known]
            if missing:
                known.update({p: secrets.token_urlsafe(24) for p in missing})
                self._write(known)
        return {p: known[p] for p in wanted}

    def replace(self, passwords: dict[str, str]) -> None:
        """Make the file hold exactly `passwords` (e.g. a container's own password, copied from the
        installation's file); a single writer only, like the job that lays the secrets out."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path.parent, 0o700)
        if self.path.exists() and self.read() == passwords:
            os.chmod(self.path, 0o600)
            return
        self._write(dict(passwords))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path.parent, 0o700)
        lock = self.path.with_name(self.path.name + ".lock")
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, data: dict[str, str]) -> None:
        staged = self.path.with_name(self.path.name + ".new")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
        os.replace(staged, self.path)
