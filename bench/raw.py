"""The ceilings: what a bare aiokafka client does on this broker, with messages of the project's size.

- the raw producer: records sent as fast as the client batches them, acknowledged by the broker (acks=all);
- the raw consume → produce loop: read a topic, write one record per record read, commit the input offsets
  once the outputs are acknowledged (at-least-once, as the services): the most a stream service can do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.environment import Bench, Outbound, example, outbound, produce_all
from egov.contracts.topics import EventTypes, Topics


@dataclass
class Ceilings:
    message_bytes: int
    producer_per_s: float
    loop_per_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "message_bytes": self.message_bytes,
            "raw_producer_per_s": round(self.producer_per_s),
            "raw_consume_produce_per_s": round(self.loop_per_s),
        }


def submissions(count: int) -> list[Outbound]:
    """DossierSubmitted events as the portal writes them, each a new submission."""
    records = []
    for _ in range(count):
        record = example(EventTypes.DOSSIER_SUBMITTED, submission_id=str(uuid.uuid4()))
        records.append(
            outbound(Topics.DOSSIER_SUBMISSIONS, EventTypes.DOSSIER_SUBMITTED, record, source="portal")
        )
    return records


async def _create(bench: Bench, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bench.broker.bootstrap, **bench.admin())
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=bench.base.partitions, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()


async def _loop(bench: Bench, source: str, target: str, count: int, batch_ms: int = 10) -> float:
    """Consume `count` records of `source` and write one to `target` for each; seconds from the first
    record read to the last output acknowledged and its input committed."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bench.broker.bootstrap,
        group_id=f"bench-loop-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **bench.admin(),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bench.broker.bootstrap, acks="all", linger_ms=1, **bench.admin()
    )
    await consumer.start()
    await producer.start()
    try:
        done = 0
        started: float | None = None
        while done < count:
            batch = await consumer.getmany(timeout_ms=batch_ms, max_records=2000)
            if not batch:
                continue
            if started is None:
                started = time.perf_counter()
            futures = []
            for messages in batch.values():
                for m in messages:
                    futures.append(
                        await producer.send(target, value=m.value, key=m.key, headers=list(m.headers))
                    )
            await asyncio.gather(*futures)
            await consumer.commit()
            done += len(futures)
        assert started is not None
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()


async def ceilings(bench: Bench, count: int) -> Ceilings:
    tag = uuid.uuid4().hex[:6]
    source, target = f"bench-raw-{tag}-in", f"bench-raw-{tag}-out"
    await _create(bench, source, target)
    records = submissions(count)
    produced = await produce_all(bench.broker.bootstrap, bench.admin(), source, records)
    looped = await _loop(bench, source, target, count)
    return Ceilings(
        message_bytes=round(sum(len(r.value) for r in records) / len(records)),
        producer_per_s=count / produced,
        loop_per_s=count / looped,
    )
