"""The architecture enforced on the broker (secure profile): each service's principal may do what the model
gives it and nothing else, an anonymous client or a wrong password gets nowhere, a vendor's principal for the
agency role reads its deliveries and writes case events only, Kafka's own console producer is refused a
foreign topic, and `egov arch acls` names an ACL added by hand. No service runs here: the services doing their
jobs under these ACLs is what every other integration module shows."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from click.testing import CliRunner

from egov.contracts.topics import Topics
from egov.runtime.credentials import SECURITY_PROTOCOL, service_principal
from egov.runtime.settings import Settings, get_settings
from egov.tools.architecture.acls import Acl, external_principal
from egov.tools.architecture.cli import arch
from egov.tools.architecture.model import get_model
from egov.tools.cli import main as egov
from egov.tools.localkafka import LocalBroker
from egov.tools.provision import admin_client, create_acls, delete_acls
from services import SERVICES
from tests.integration.conftest import new_settings

pytestmark = pytest.mark.integration
MODEL = get_model()


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    chosen = new_settings(kafka_bootstrap, tmp_path_factory.mktemp("acls") / "state")
    if chosen.kafka_security != "sasl":
        if os.environ.get("CI"):
            pytest.fail("the session broker must run the secure profile in CI")
        pytest.skip("the session broker runs the plaintext profile (testcontainers): nothing is enforced")
    yield chosen


def as_principal(settings: Settings, principal: str) -> dict[str, object]:
    credentials = settings.kafka_credentials(principal)
    assert credentials is not None
    return credentials.aiokafka()


async def write(settings: Settings, principal: str, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        request_timeout_ms=15000,
        **as_principal(settings, principal),
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=b"k", value=b"acl check")
    finally:
        await producer.stop()


async def read(settings: Settings, principal: str, topic: str, group: str | None = None) -> None:
    """Subscribe to the topic as a member of `group` (default: the principal's own, as a service's app id),
    and fetch."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group or principal,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **as_principal(settings, principal),
    )
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=3000)
    finally:
        await consumer.stop()


def foreign_topics(service: str, prefix: str) -> tuple[str, str]:
    """A modelled topic the service does not own (to write), and one it may not read: a topic the model does
    not let it read or, for a service that reads every topic (the audit log), another service's changelog."""
    not_owned = next(t.name for t in MODEL.topics if t.owner != service)
    unreadable = next((t.name for t in MODEL.topics if service not in t.readers and t.owner != service), None)
    other = "portal" if service != "portal" else "onestop"
    readable = (
        f"{prefix}{unreadable}" if unreadable else f"{service_principal(prefix, other)}-dossiers-changelog"
    )
    return f"{prefix}{not_owned}", readable


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_services_principal_may_write_its_own_topics_and_nothing_else(
    settings: Settings, service: str
) -> None:
    prefix = settings.topic_prefix
    principal = service_principal(prefix, service)
    foreign_write, foreign_read = foreign_topics(service, prefix)
    # What it owns, it may write (its dead letters: every service owns its own).
    asyncio.run(write(settings, principal, f"{prefix}egov.{service}.dead-letters.v1"))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(write(settings, principal, foreign_write))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(read(settings, principal, foreign_read))


def test_an_anonymous_client_and_a_wrong_password_are_refused(settings: Settings) -> None:
    async def connect(**options: object) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, **options)
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect())  # no SASL at all
    wrong = as_principal(settings, service_principal(settings.topic_prefix, "lgsp")) | {
        "sasl_plain_password": "not-the-password"
    }
    with pytest.raises(KafkaConnectionError):
        asyncio.run(connect(**wrong))
    assert wrong["security_protocol"] == SECURITY_PROTOCOL


def test_a_vendors_agency_system_reads_its_deliveries_and_writes_case_events_only(settings: Settings) -> None:
    prefix = settings.topic_prefix
    vendor = external_principal(prefix, "vendor-agency")
    deliveries, case_events = Topics.LGSP_TO_AGENCIES.full_name(prefix), Topics.CASE_EVENTS.full_name(prefix)
    # its deliveries, under a consumer group of its own name; its case events
    asyncio.run(read(settings, vendor, deliveries, group=f"{vendor}-case-system"))
    asyncio.run(write(settings, vendor, case_events))
    # nothing else: not the dossiers (with the citizens' contacts), not the LGSP's deliveries to onestop, not
    # the stand-in's consumer group
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(read(settings, vendor, Topics.DOSSIERS.full_name(prefix), group=f"{vendor}-case-system"))
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(write(settings, vendor, Topics.LGSP_TO_ONESTOP.full_name(prefix)))
    with pytest.raises(GroupAuthorizationFailedError):
        asyncio.run(read(settings, vendor, deliveries, group=service_principal(prefix, "agency")))


def cli(command: object, args: list[str], settings: Settings) -> object:
    env = {
        "EGOV_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "EGOV_TOPIC_PREFIX": settings.topic_prefix,
        "EGOV_STATE_DIR": str(settings.state_dir),
        "EGOV_KAFKA_SECRETS_FILE": str(settings.secrets_path),
    }
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(command, args, env=env)  # type: ignore[arg-type]
    finally:
        get_settings.cache_clear()


def test_kafkas_own_console_producer_with_a_services_credentials_is_refused_a_foreign_topic(
    settings: Settings, tmp_path: Path
) -> None:
    # The client's properties as `egov kafka client-config` prints them for a vendor or an operator.
    result = cli(egov, ["kafka", "client-config", "--principal", "notify", "--format", "java"], settings)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    properties = tmp_path / "notify.properties"
    properties.write_text(result.output)  # type: ignore[attr-defined]
    properties.chmod(0o600)
    assert f'username="{service_principal(settings.topic_prefix, "notify")}"' in properties.read_text()

    def console_producer(topic: str) -> subprocess.CompletedProcess[str]:
        libs = LocalBroker(home=tmp_path).libs_dir
        return subprocess.run(
            [
                "java",
                "-cp",
                f"{libs}/*",
                "org.apache.kafka.tools.ConsoleProducer",
                "--bootstrap-server",
                settings.kafka_bootstrap_servers,
                "--topic",
                topic,
                "--command-config",
                str(properties),
                "--sync",
            ],
            input="a message\n",
            capture_output=True,
            text=True,
            timeout=120,
        )

    own = console_producer(Topics.NOTIFICATIONS.full_name(settings.topic_prefix))
    assert own.returncode == 0, own.stderr
    foreign = console_producer(Topics.DOSSIERS.full_name(settings.topic_prefix))
    assert foreign.returncode != 0
    assert "TopicAuthorizationException" in foreign.stderr + foreign.stdout


def test_arch_acls_names_an_acl_added_by_hand_and_one_taken_away(settings: Settings) -> None:
    prefix = settings.topic_prefix
    client = admin_client(settings)
    # the portal is an access channel: the model does not let it read onestop's journeys (ID numbers)
    added = Acl(
        service_principal(prefix, "portal"), "TOPIC", "LITERAL", Topics.JOURNEYS.full_name(prefix), "READ"
    )
    removed = Acl(
        service_principal(prefix, "payment"),
        "TOPIC",
        "LITERAL",
        Topics.SETTLEMENTS.full_name(prefix),
        "WRITE",
    )
    create_acls(client, [added])
    delete_acls(client, [removed])

    def check() -> object:
        return cli(arch, ["acls", "--check"], settings)

    result = check()
    for _ in range(50):  # the broker shows a change a moment after it accepted it
        if f"not in the model: {added}" in result.output and f"missing: {removed}" in result.output:  # type: ignore[attr-defined]
            break
        result = check()
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert f"not in the model: {added}" in result.output  # type: ignore[attr-defined]
    assert f"missing: {removed}" in result.output  # type: ignore[attr-defined]

    applied = cli(arch, ["acls", "--apply"], settings)
    assert applied.exit_code == 0, applied.output  # type: ignore[attr-defined]
    assert "are those of the model" in applied.output  # type: ignore[attr-defined]
