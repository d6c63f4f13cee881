"""The admin step: what the broker must hold before any service starts, created as its super user.

`provision` makes, idempotently, for the settings' topic prefix:
- the SCRAM credentials of every principal of the model (egov.tools.architecture.acls.principals), with
  passwords generated into the installation's secrets file (0600) on first need and kept afterwards;
- every topic of the registry and every table changelog of the services' wiring (the services create none);
- the ACLs the model gives each principal; with `prune`, it also removes the bindings of this prefix that the
  model does not give (an ACL added by hand).

SCRAM users and ACLs go through confluent-kafka's AdminClient (aiokafka has no API for either); the topics
through aiokafka like the rest of the project. Under the plaintext profile only the topics are created.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from egov.runtime.admin import ensure_topics
from egov.runtime.credentials import ADMIN, SecretStore
from egov.runtime.settings import Settings
from egov.tools.architecture.acls import Acl, AclDifferences, compare, expected_acls, principals
from egov.tools.architecture.model import ArchitectureModel, get_model
from services import all_topics, load_services

#: Seconds allowed for each admin request.
REQUEST_TIMEOUT = 30.0
#: Seconds allowed for the broker to apply new credentials and ACLs.
APPLY_TIMEOUT = 60.0
#: PBKDF2 iterations of the SCRAM credentials (the broker's default minimum is 4096).
SCRAM_ITERATIONS = 8192


class ProvisionError(RuntimeError):
    """The broker refused part of the admin step; the message says what."""


@dataclass
class Provisioned:
    users_created: list[str] = field(default_factory=list)
    topics_created: list[str] = field(default_factory=list)
    acls_created: list[Acl] = field(default_factory=list)
    acls_removed: list[Acl] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.users_created)} principals, {len(self.topics_created)} topics and "
            f"{len(self.acls_created)} ACLs created"
            + (f", {len(self.acls_removed)} ACLs removed" if self.acls_removed else "")
        )


def changelogs(settings: Settings) -> list[str]:
    """The changelog topics of every service's tables, as their wiring names them."""
    return sorted(
        {name for svc in load_services(settings).values() for name in svc.engine.changelog_topics()}
    )


def admin_client(settings: Settings) -> AdminClient:
    credentials = settings.kafka_credentials(ADMIN)
    if credentials is None:
        raise ProvisionError("the plaintext profile has no principals or ACLs to provision")
    config: dict[str, str | int | float | bool] = {
        **credentials.librdkafka(settings.kafka_bootstrap_servers),
        "client.id": "egov-provision",
        "log_level": 3,  # librdkafka's own log: errors only (a closed idle connection is not one)
    }
    return AdminClient(config)


def provision(
    settings: Settings, *, model: ArchitectureModel | None = None, prune: bool = False
) -> Provisioned:
    """The admin step for the settings' topic prefix (see the module's docstring)."""
    chosen = model or get_model()
    done = Provisioned()
    done.topics_created = asyncio.run(ensure_topics(settings, all_topics(), changelogs=changelogs(settings)))
    if settings.kafka_security == "plaintext":
        return done
    client = admin_client(settings)
    wanted = list(principals(chosen, settings.topic_prefix))
    done.users_created = ensure_users(client, settings, wanted)
    differences = compare(chosen, settings.topic_prefix, broker_acls(client))
    create_acls(client, differences.missing)
    done.acls_created = differences.missing
    if prune and differences.extra:
        delete_acls(client, differences.extra)
        done.acls_removed = differences.extra
    # The broker applies new credentials and ACLs a moment after it accepted them (seconds, on a loaded
    # machine); a service started before would be refused. Return once the broker shows them.
    _until(lambda: set(wanted) <= _scram_users(client), "the principals' credentials")

    def applied() -> bool:
        now = compare(chosen, settings.topic_prefix, broker_acls(client))
        return not now.missing and not set(done.acls_removed) & set(now.extra)

    _until(applied, "the ACLs")
    return done


def _until(check: Callable[[], bool], what: str, timeout: float = APPLY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ProvisionError(f"the broker did not apply {what} within {timeout:.0f}s")
        time.sleep(0.2)  # polling interval of the condition above, bounded by the deadline


def check_acls(settings: Settings, model: ArchitectureModel | None = None) -> AclDifferences:
    """The broker's ACLs against the model's, for the settings' topic prefix."""
    return compare(model or get_model(), settings.topic_prefix, broker_acls(admin_client(settings)))


# -- SCRAM users -------------------------------------------------------------------------------------------
def ensure_users(client: AdminClient, settings: Settings, wanted: list[str]) -> list[str]:
    """Create the SCRAM credentials of the principals that have none on the broker; returns their names.
    Passwords come from the secrets file (generated there on first need): a principal keeps its password."""
    passwords = SecretStore(settings.secrets_path).ensure(wanted)
    existing = _scram_users(client)
    missing = [p for p in wanted if p not in existing]
    if not missing:
        return []
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    futures = client.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, passwords[user].encode()) for user in missing],
        request_timeout=REQUEST_TIMEOUT,
    )
    for user, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            raise ProvisionError(f"the broker refused the credentials of {user}: {exc}") from exc
    return missing


def _scram_users(client: AdminClient) -> set[str]:
    try:
        pending: Any = client.describe_user_scram_credentials(request_timeout=REQUEST_TIMEOUT)
        described = pending.result()  # one future for every user when none is named
    except KafkaException as exc:
        raise ProvisionError(f"cannot list the broker's SCRAM users: {exc}") from exc
    return set(described)


# -- ACLs --------------------------------------------------------------------------------------------------
_RESOURCES = {"TOPIC": ResourceType.TOPIC, "GROUP": ResourceType.GROUP}
_PATTERNS = {"LITERAL": ResourcePatternType.LITERAL, "PREFIXED": ResourcePatternType.PREFIXED}


def _binding(acl: Acl) -> AclBinding:
    return AclBinding(
        _RESOURCES[acl.resource],
        acl.name,
        _PATTERNS[acl.pattern],
        f"User:{acl.principal}",
        "*",
        AclOperation[acl.operation],
        AclPermissionType.ALLOW,
    )


def broker_acls(client: AdminClient) -> list[Acl]:
    """Every ALLOW binding for any host on the broker, as `Acl`s (anything else is reported as it is)."""
    anything: Any = None  # a filter's "any name, any principal, any host"
    everything = AclBindingFilter(
        ResourceType.ANY,
        anything,
        ResourcePatternType.ANY,
        anything,
        anything,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    try:
        bindings = client.describe_acls(everything, request_timeout=REQUEST_TIMEOUT).result()
    except KafkaException as exc:
        raise ProvisionError(f"cannot list the broker's ACLs: {exc}") from exc
    return [
        Acl(
            principal=b.principal.removeprefix("User:"),
            resource=b.restype.name,
            pattern=b.resource_pattern_type.name,
            name=b.name,
            operation=b.operation.name
            + ("" if b.permission_type == AclPermissionType.ALLOW else f" ({b.permission_type.name})")
            + ("" if b.host == "*" else f" from {b.host}"),
        )
        for b in bindings
    ]


def create_acls(client: AdminClient, acls: list[Acl]) -> None:
    if not acls:
        return
    futures = client.create_acls([_binding(acl) for acl in acls], request_timeout=REQUEST_TIMEOUT)
    failed = []
    for binding, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            failed.append(f"{binding}: {exc}")
    if failed:
        raise ProvisionError("the broker refused ACLs: " + "; ".join(failed))


def delete_acls(client: AdminClient, acls: list[Acl]) -> None:
    filters = [
        AclBindingFilter(
            _RESOURCES.get(acl.resource, ResourceType.ANY),
            acl.name,
            _PATTERNS.get(acl.pattern, ResourcePatternType.ANY),
            f"User:{acl.principal}",
            "*",
            AclOperation[acl.operation.split(" ")[0]],
            AclPermissionType.ANY,
        )
        for acl in acls
    ]
    for acl_filter, future in client.delete_acls(filters, request_timeout=REQUEST_TIMEOUT).items():
        try:
            future.result()
        except KafkaException as exc:
            raise ProvisionError(f"the broker refused to delete {acl_filter}: {exc}") from exc


__all__ = ["ProvisionError", "Provisioned", "check_acls", "expected_acls", "provision"]
