"""The installation's broker secrets, laid out for containers (`egov kafka secrets`).

The secrets file (`Settings.secrets_path`: JSON principal → password, 0600 in a 0700 folder) keeps the
password of every principal: the broker's, its controller's, the super user's (`admin`) and those of the
architecture model (each service's, the vendors', the operator's). They are generated on the first run and
kept afterwards; `egov kafka provision` creates the principals on the broker with them. Containers that must
not see the whole file get their part of it:

- **the broker's folder**: its own password, its controller's, `admin`'s (the storage format writes the SCRAM
  records of `broker` and `admin`; every other principal is created by the admin step) and the cluster id, one
  value per file with no line end, for the broker image's POSIX entry script (infra/docker/
  kafka-entrypoint.sh: that image has no Python and no jq);
- **a services folder**: `<folder>/<service>/secrets/kafka.json` holds only that service's password. In the
  compose file `<folder>/<service>` is the service's own state volume, mounted in its container as the state
  folder, so the file is that container's default secrets file and no container sees another's password.

Run as root (the compose file's first job), `owner` and `broker_owner` give the files and folders to the users
of the containers that read them; nothing is ever printed of a password.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from egov.runtime.credentials import ADMIN, BROKER, CONTROLLER, SecretStore, service_principal
from egov.runtime.settings import Settings
from egov.tools.architecture.acls import principals
from egov.tools.architecture.model import get_model
from egov.tools.localkafka import kafka_cluster_id
from services import SERVICES

#: The broker's folder: file name → the principal whose password it holds.
BROKER_FILES = {
    "broker.password": BROKER,
    "controller.password": CONTROLLER,
    "admin.password": ADMIN,
}
CLUSTER_ID_FILE = "cluster.id"
#: Where a service's own secrets file lies in its state folder (`Settings.secrets_path`'s default).
SERVICE_SECRETS = Path("secrets") / "kafka.json"


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int

    @classmethod
    def parse(cls, text: str) -> Owner:
        """`UID:GID`, or a user's name (with its primary group); ValueError when unknown."""
        user, colon, group = text.partition(":")
        if colon:
            return cls(
                _id(user, lambda n: pwd.getpwnam(n).pw_uid), _id(group, lambda n: grp.getgrnam(n).gr_gid)
            )
        try:
            entry = pwd.getpwnam(text) if not text.isdigit() else pwd.getpwuid(int(text))
        except KeyError as exc:
            raise ValueError(f"no user {text!r} here: give UID:GID") from exc
        return cls(entry.pw_uid, entry.pw_gid)


def _id(text: str, by_name: Callable[[str], int]) -> int:
    if text.isdigit():
        return int(text)
    try:
        return by_name(text)
    except KeyError as exc:
        raise ValueError(f"unknown user or group {text!r}: give numbers") from exc


@dataclass
class LaidOut:
    store: Path
    principals: int
    generated: int
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.principals} principals in {self.store} ({self.generated} passwords generated), "
            f"{len(self.files)} files for the containers"
        )


def lay_out(
    settings: Settings,
    *,
    broker_dir: Path | None = None,
    services_dir: Path | None = None,
    owner: Owner | None = None,
    broker_owner: Owner | None = None,
) -> LaidOut:
    """Ensure every principal's password in the installation's file and write the containers' parts of it
    (see the module's docstring); idempotent: a password and the cluster id, once written, are kept."""
    store = SecretStore(settings.secrets_path)
    prefix = settings.topic_prefix
    services = {name: service_principal(prefix, name) for name in sorted(SERVICES)}
    wanted = list(
        dict.fromkeys([BROKER, CONTROLLER, ADMIN, *principals(get_model(), prefix), *services.values()])
    )
    before = store.read()
    passwords = store.ensure(wanted)
    done = LaidOut(store.path, len(wanted), len([p for p in wanted if p not in before]))
    for path in (store.path.parent, store.path, store.path.with_name(store.path.name + ".lock")):
        _give(path, owner)

    if broker_dir is not None:
        _folder(broker_dir, broker_owner)
        for name, principal in BROKER_FILES.items():
            done.files.append(_value(broker_dir / name, passwords[principal], broker_owner))
        cluster = broker_dir / CLUSTER_ID_FILE
        current = cluster.read_text(encoding="utf-8").strip() if cluster.exists() else ""
        done.files.append(_value(cluster, current or kafka_cluster_id(), broker_owner))

    if services_dir is not None:
        for name, principal in services.items():
            home = services_dir / name
            home.mkdir(parents=True, exist_ok=True)
            _give(home, owner)  # a volume first mounted here is root's; its service writes its state in it
            own = SecretStore(home / SERVICE_SECRETS)
            own.replace({principal: passwords[principal]})
            _give(own.path.parent, owner)
            _give(own.path, owner)
            done.files.append(own.path)
    return done


def _folder(path: Path, owner: Owner | None) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    _give(path, owner)


def _value(path: Path, value: str, owner: Owner | None) -> Path:
    """One value, no line end, 0600, replaced atomically when it changed."""
    if not (path.exists() and path.read_text(encoding="utf-8") == value):
        staged = path.with_name(path.name + ".new")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(value)
        os.replace(staged, path)
    os.chmod(path, 0o600)
    _give(path, owner)
    return path


def _give(path: Path, owner: Owner | None) -> None:
    if owner is not None and path.exists():
        os.chown(path, owner.uid, owner.gid)
