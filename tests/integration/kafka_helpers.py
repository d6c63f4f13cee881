"""Reading and writing topics directly in tests, with time-outs instead of sleeps.

The helpers connect as the broker's super user (`admin`, under the secure profile): a test reads and writes
what it needs to check, whatever the services may; what a service may do is the services' own business
(test_broker_acls.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from egov.contracts.envelope import decode_headers
from egov.contracts.serde import get_registry
from egov.runtime.admin import read_to_end
from egov.runtime.credentials import ADMIN
from egov.runtime.settings import Settings


def admin_options(bootstrap: str) -> dict[str, Any]:
    """aiokafka's keywords for the super user of the session's broker."""
    return Settings(kafka_bootstrap_servers=bootstrap).kafka_options(ADMIN)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    raw_headers: tuple[tuple[str, bytes], ...] = ()

    def decoded(self) -> dict[str, Any]:
        return get_registry().decode(self.value)[1]


async def _collect(
    bootstrap: str, topic: str, until: Callable[[list[Record]], bool], timeout: float
) -> list[Record]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        **admin_options(bootstrap),
    )
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout
        while not until(records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{topic}: condition not met within {timeout}s; saw {len(records)} records"
                )
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for messages in batch.values():
                records.extend(
                    Record(
                        m.topic,
                        m.partition,
                        m.offset,
                        m.key,
                        m.value,
                        decode_headers(m.headers),
                        tuple(m.headers),
                    )
                    for m in messages
                )
        return records
    finally:
        await consumer.stop()


def collect(
    bootstrap: str, topic: str, until: Callable[[list[Record]], bool], timeout: float = 60.0
) -> list[Record]:
    """Read `topic` from the beginning until `until(records)` holds; TimeoutError otherwise."""
    return asyncio.run(_collect(bootstrap, topic, until, timeout))


async def _produce(
    bootstrap: str,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]],
    partition: int | None,
) -> tuple[int, int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **admin_options(bootstrap))
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            topic, key=key, value=value, headers=list(headers), partition=partition
        )
        return meta.partition, meta.offset
    finally:
        await producer.stop()


def produce(
    bootstrap: str,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] = (),
    *,
    partition: int | None = None,
) -> tuple[int, int]:
    """Write one record as an outside client would (to `partition`, or the key's); returns (partition,
    offset)."""
    return asyncio.run(_produce(bootstrap, topic, key, value, headers, partition))


async def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **admin_options(bootstrap)
    )
    await consumer.start()
    try:
        committing = {TopicPartition(t, p): offset for (t, p), offset in offsets.items()}
        consumer.assign(list(committing))  # assigned, not subscribed: a commit outside any generation
        await consumer.commit(committing)
    finally:
        await consumer.stop()


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for `group` as one of its members would ((topic, partition) → the next to read)."""
    asyncio.run(_commit(bootstrap, group, offsets))


async def _committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **admin_options(bootstrap))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


def wait_committed_past(
    bootstrap: str, group: str, topic: str, partition: int, offset: int, timeout: float = 60.0
) -> None:
    """Wait until `group` has committed an offset beyond `offset` on the partition: it handled that record."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(_committed(bootstrap, group)).get((topic, partition), -1) > offset:
            return
        time.sleep(0.25)
    raise TimeoutError(f"group {group} did not commit past {topic}[{partition}]@{offset} within {timeout}s")


def read_all(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every record of `topic` up to its current end."""
    return [
        Record(m.topic, m.partition, m.offset, m.key, m.value, decode_headers(m.headers), tuple(m.headers))
        for m in asyncio.run(
            read_to_end(Settings(kafka_bootstrap_servers=bootstrap), [topic], timeout, principal=ADMIN)
        )
    ]
