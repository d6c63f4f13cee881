"""The audit log across a topic reset on the real broker: a topic deleted and created again while the audit's
state is kept (as with a new broker under a kept volume) numbers its records from 0 again; the audit logs
them in a new segment instead of skipping them as logged before, and `egov audit verify` compares the log
with the broker and names what the audit passed without logging."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from click.testing import CliRunner, Result
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from egov.contracts.envelope import APP_ID_PREFIX, Envelope
from egov.contracts.topics import EventTypes, Topics
from egov.runtime.admin import ensure_topics
from egov.runtime.credentials import ADMIN
from egov.runtime.settings import Settings, get_settings
from egov.tools.cli import main
from tests.integration.conftest import new_settings, run_stack, wait_until
from tests.integration.kafka_helpers import admin_options, produce, wait_committed_past

pytestmark = pytest.mark.integration

SPEC = Topics.NOTIFICATIONS
KEY = b"000.00.04.H11-261201-0001"  # one key: every record on one partition


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Settings]:
    yield new_settings(kafka_bootstrap, tmp_path / "state")


def write(settings: Settings, text: str) -> tuple[int, int]:
    """One record on the topic, as a producer would write it; (partition, offset)."""
    envelope = Envelope.new(
        source="/egov/notify",
        type=EventTypes.NOTIFICATION_SENT,
        subject=KEY.decode(),
        time=dt.datetime.now(dt.UTC),
    )
    return produce(
        settings.kafka_bootstrap_servers,
        SPEC.full_name(settings.topic_prefix),
        KEY,
        text.encode(),
        envelope.to_headers(),
    )


def audit_group(settings: Settings) -> str:
    return f"{settings.topic_prefix}{APP_ID_PREFIX}audit"


def create_again(settings: Settings) -> None:
    """Delete the topic and create it again (a new topic id, offsets from 0), as the admin step would."""
    name = SPEC.full_name(settings.topic_prefix)

    async def delete() -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            **admin_options(settings.kafka_bootstrap_servers),
        )
        await admin.start()
        try:
            await admin.delete_topics([name])
        finally:
            await admin.close()

    async def listed() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            **admin_options(settings.kafka_bootstrap_servers),
        )
        await admin.start()
        try:
            return name in await admin.list_topics()
        finally:
            await admin.close()

    asyncio.run(delete())
    wait_until(lambda: not asyncio.run(listed()), f"{name} still listed after its deletion", 60)

    def created() -> bool:
        try:
            asyncio.run(ensure_topics(settings, [SPEC]))
        except RuntimeError:  # the deletion is not finished on the broker yet
            return False
        return True

    wait_until(created, f"{name} could not be created again", 60)


def move_committed_offset(settings: Settings, partition: int, offset: int) -> None:
    """Commit `offset` for the (stopped) audit's group, as an audit that skipped the records before it did."""
    credentials = Settings(kafka_bootstrap_servers=settings.kafka_bootstrap_servers).kafka_credentials(ADMIN)
    config = (
        credentials.librdkafka(settings.kafka_bootstrap_servers)
        if credentials
        else {"bootstrap.servers": settings.kafka_bootstrap_servers}
    )
    admin = AdminClient({**config, "log_level": 3})
    moved = ConsumerGroupTopicPartitions(
        audit_group(settings), [TopicPartition(SPEC.full_name(settings.topic_prefix), partition, offset)]
    )

    def done() -> bool:
        try:
            result = admin.alter_consumer_group_offsets([moved])[audit_group(settings)].result(timeout=10)
        except KafkaException:  # the stopped worker's membership has not expired yet
            return False
        # the broker may refuse it per partition instead: a static member stays until its session ends
        return all(tp.error is None for tp in result.topic_partitions)

    wait_until(done, "the audit's group offset could not be moved", 60)


def audit_verify(settings: Settings) -> Result:
    """`egov audit verify` as a user of this slice of the stack runs it."""
    env = {
        "EGOV_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "EGOV_TOPIC_PREFIX": settings.topic_prefix,
        "EGOV_STATE_DIR": str(settings.state_dir),
        "EGOV_KAFKA_SECURITY": settings.kafka_security,
        "EGOV_KAFKA_SECRETS_FILE": str(settings.secrets_path),
    }
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(main, ["audit", "verify"], env=env)
    finally:
        get_settings.cache_clear()


def segment_lines(settings: Settings, partition: int) -> list[dict[str, object]]:
    path = settings.state_dir / "audit" / SPEC.name / f"{partition}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if '"segment"' in line]


def signed(settings: Settings, partition: int) -> tuple[int, int] | None:
    """The segment and offset of the partition's last signed checkpoint."""
    path = settings.state_dir / "audit" / SPEC.name / f"{partition}.checkpoints.jsonl"
    found = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return (json.loads(found[-1])["segment"], json.loads(found[-1])["offset"]) if found else None


def test_a_topic_created_again_is_logged_in_a_new_segment_and_verify_names_what_is_missing(
    settings: Settings,
) -> None:
    bootstrap, topic = settings.kafka_bootstrap_servers, SPEC.full_name(settings.topic_prefix)
    # Given the audit has logged five records of the topic
    with run_stack(settings, ("audit",)):
        for n in range(5):
            partition, offset = write(settings, f"before {n}")
        wait_committed_past(bootstrap, audit_group(settings), topic, partition, offset)
    assert offset == 4
    # When the topic is deleted and created again, the audit's state kept, and three records are written
    create_again(settings)
    for n in range(3):
        again, offset = write(settings, f"after {n}")
    assert (again, offset) == (partition, 2)  # the same partition, its offsets from 0 again
    with run_stack(settings, ("audit",)) as stack:
        wait_committed_past(bootstrap, audit_group(settings), topic, partition, offset)
        # Then the three are logged in a second segment naming the new topic id, and the log verifies
        wait_until(lambda: signed(settings, partition) == (1, 2), "no checkpoint of segment 1", 30)
        [before, after] = segment_lines(settings, partition)
        assert before["topic_id"] != after["topic_id"] and before["cluster_id"] == after["cluster_id"]
        assert after["segment"] == 1 and "created again" in str(after["reason"])
        checked = audit_verify(settings)
        assert checked.exit_code == 0, checked.output
        assert f"{SPEC.name}[{partition}] segment 1" in checked.output and "offsets 0–2" in checked.output
        assert "that the audit passed is in the log" in checked.output
        assert stack.services["audit"].url
    # When records are written while the audit is stopped and its group is moved past them (what the audit
    # did before segments: it committed records it skipped as logged before), and one more is written
    for n in range(2):
        write(settings, f"skipped {n}")
    move_committed_offset(settings, partition, 5)
    write(settings, "not read yet")
    # Then verify fails naming the two records the audit passed, and lists the one it has not read yet
    checked = audit_verify(settings)
    assert checked.exit_code == 1, checked.output
    assert f"{SPEC.name}[{partition}] offsets 3–4: unlogged: on the broker" in checked.output
    assert f"{SPEC.name}[{partition}] offset 5: behind" in checked.output
