"""Topic administration: create the registry's topics before any service reads or writes them.

The broker refuses to create topics on first use (`auto.create.topics.enable=false`), so a typo can never
create a stray topic; this module creates exactly the registry's topics, idempotently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from egov.contracts.topics import TopicSpec
from egov.runtime.credentials import ADMIN
from egov.runtime.settings import Settings


class BrokerUnavailable(RuntimeError):
    """No broker answers at the configured address."""


def unavailable(settings: Settings, principal: str | None) -> BrokerUnavailable:
    """What to tell a user whose client could not connect: no broker, or credentials it refused (aiokafka
    reports both as a connection that closed)."""
    who = f" as {principal}" if principal else ""
    return BrokerUnavailable(
        f"No Kafka broker accepts a connection{who} at {settings.kafka_bootstrap_servers} "
        f"(security profile {settings.kafka_security}). Start one with `egov kafka start` (or `make "
        "kafka-start`), or set EGOV_KAFKA_BOOTSTRAP_SERVERS; if it runs, check that this principal was "
        "provisioned (`egov kafka provision`) and that EGOV_KAFKA_SECURITY matches the broker's profile."
    )


@asynccontextmanager
async def admin_client(
    settings: Settings,
    *,
    principal: str | None = None,
    timeout: float | None = None,
    client_id: str = "egov-admin",
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client connected as `principal` (default: the process's own), closed on the way out;
    BrokerUnavailable when no broker accepts it."""
    options = settings.kafka_options(principal)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id=client_id, **options
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (KafkaConnectionError, TimeoutError) as exc:
        await admin.close()
        raise unavailable(settings, options.get("sasl_plain_username")) from exc
    try:
        yield admin
    finally:
        await admin.close()


#: Topic configuration of table changelogs: only the latest value of each key matters.
COMPACTED = {"cleanup.policy": "compact"}


async def ensure_topics(
    settings: Settings,
    specs: Iterable[TopicSpec],
    *,
    changelogs: Iterable[str] = (),
) -> list[str]:
    """As the broker's super user (the admin step), create the topics of `specs` that do not exist yet
    (`services.all_topics()` is every topic) and the named table changelogs (compacted), each with the
    settings' partitions, replication factor and min.insync.replicas; returns the names created. The services
    create no topic: they wait until theirs exist (`wait_for_topics`)."""
    wanted = {s.full_name(settings.topic_prefix) for s in specs}
    compacted = set(changelogs)
    # acks=all waits for this many replicas: on a cluster, an acknowledged record survives a broker's loss.
    durability = {"min.insync.replicas": str(settings.insync_replicas)}
    async with admin_client(settings, principal=ADMIN) as admin:
        existing = set(await admin.list_topics())
        missing = sorted((wanted | compacted) - existing)
        if missing:
            try:
                response = await admin.create_topics(
                    [
                        NewTopic(
                            n,
                            settings.partitions,
                            settings.replicas,
                            topic_configs={**durability, **(COMPACTED if n in compacted else {})},
                        )
                        for n in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile: the goal is reached
            else:
                failed = [
                    f"{err[0]}: error {err[1]} {err[2] if len(err) > 2 else ''}".strip()
                    for err in response.topic_errors
                    if err[1] not in (0, TopicAlreadyExistsError.errno)
                ]
                if failed:
                    raise RuntimeError("The broker refused to create topics: " + "; ".join(failed))
        # A created topic reaches the broker's metadata a moment later; a worker that subscribed before
        # that would be assigned none of its partitions until its next metadata refresh (minutes).
        await _until_listed(admin, wanted | compacted, timeout=METADATA_TIMEOUT)
        await _same_partitions(admin, sorted(wanted | compacted), settings.partitions)
        return missing


async def _same_partitions(admin: AIOKafkaAdminClient, names: list[str], partitions: int) -> None:
    """Every topic has `partitions` partitions: a key's events and state must sit on the same partition
    number in every topic of a service, or its workers would hold a key's events apart from its state."""
    counts = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)}
    other = sorted(f"{name} ({count})" for name, count in counts.items() if count != partitions)
    if other:
        raise RuntimeError(
            f"topics with another partition count than EGOV_PARTITIONS={partitions}: {', '.join(other)}. "
            "Every topic of the project needs the same count; set EGOV_PARTITIONS to theirs, or start over "
            "with a new topic prefix or broker (`make clean`: the records go with it)"
        )


#: Seconds to wait for created topics to appear in the broker's metadata.
METADATA_TIMEOUT = 30.0
#: Seconds a service waits for its topics to be created by the admin step.
TOPICS_TIMEOUT = 60.0


async def wait_for_topics(
    settings: Settings, names: Iterable[str], *, principal: str, timeout: float = TOPICS_TIMEOUT
) -> None:
    """Wait until every topic of `names` is on the broker and visible to `principal` (a principal sees only
    the topics it may read or write); a clear error after `timeout`."""
    wanted = set(names)
    async with admin_client(settings, principal=principal, client_id=f"{principal}-startup") as admin:
        try:
            await _until_listed(admin, wanted, timeout=timeout)
        except RuntimeError as exc:
            raise RuntimeError(
                f"{exc}: they are created by the admin step (`egov kafka provision`, run by `egov up`, `egov "
                f"demo` and the tests), and {principal} must be allowed to read or write each of them"
            ) from None


async def _until_listed(admin: AIOKafkaAdminClient, names: set[str], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        absent = names - set(await admin.list_topics())
        if not absent:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"topics still absent from the broker's metadata after {timeout:.0f}s: {sorted(absent)}"
            )
        await asyncio.sleep(0.1)  # polling interval of the condition above, bounded by the deadline


async def read_to_end(
    settings: Settings, topics: Iterable[str], timeout: float = 60.0, *, principal: str | None = None
) -> list[Any]:
    """Every record of `topics` from the beginning up to their ends as they are now (aiokafka
    ConsumerRecords, per partition in offset order), without joining a consumer group or committing: as the
    process's principal (the operator, for the tools), which needs READ on each topic and nothing else."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        **settings.kafka_options(principal),
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # release what the failed start opened
        raise
    try:
        # A consumer's metadata covers only what it subscribed to, and aiokafka has no public call for the
        # partitions of another topic: ask the cluster.
        cluster = await consumer._client.fetch_all_metadata()
        partitions = []
        for topic in topics:
            found = sorted(cluster.partitions_for_topic(topic) or ())
            if not found:
                raise LookupError(f"no topic {topic} on the broker")
            partitions += [TopicPartition(topic, p) for p in found]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"could not read {', '.join(sorted(set(topics)))} to the end within {timeout:.0f}s"
                )
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(m for m in batch if m.offset < ends[TopicPartition(m.topic, m.partition)])
        return records
    finally:
        await consumer.stop()
