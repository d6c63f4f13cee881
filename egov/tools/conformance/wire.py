"""The kit on the broker: a producer for the counterparts' topics, a reader of the vendor's topics, and the
log of every record either way (the transcripts of the report).

The reader assigns itself every partition of the topics the role writes (and of its dead letters, when the
principal may read them), moves to their ends and waits until it holds a position on each before the kit sends
anything: what the vendor writes in answer can then not be missed, and what it wrote before the run is not
read. No consumer group is joined, so nothing is committed and no group right is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from egov.contracts.envelope import Envelope, decode_headers
from egov.contracts.serde import ContractError, get_registry
from egov.runtime.clock import Clock
from egov.runtime.settings import Settings

Direction = Literal["sent", "received"]


@dataclass
class Observed:
    """One record the kit sent or read, as it was on the wire and as the kit understood it."""

    direction: Direction
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    raw_headers: tuple[tuple[str, bytes], ...]
    #: Business time when the kit sent it or read it.
    at: dt.datetime
    #: What the kit meant by it (sent), e.g. "poison: bad bytes".
    note: str = ""
    contract: str | None = None
    record: dict[str, Any] | None = None
    #: Why the value does not decode (None when it does).
    problem: str | None = None
    fingerprint: str | None = None
    #: Position in the run's log, both directions together.
    sequence: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ce_id(self) -> str | None:
        return self.headers.get("ce_id")

    def field(self, name: str) -> Any:
        return (self.record or {}).get(name)


class Exchange:
    """The kit's clients and the log of the run."""

    def __init__(self, settings: Settings, *, principal: str, clock: Clock) -> None:
        self.settings = settings
        self.principal = principal
        self.clock = clock
        self.registry = get_registry()
        self.log: list[Observed] = []
        self._changed = asyncio.Condition()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._partitions: dict[str, list[int]] = {}
        self.unreadable: list[str] = []

    def full(self, topic: str) -> str:
        return f"{self.settings.topic_prefix}{topic}"

    def logical(self, topic: str) -> str:
        return topic.removeprefix(self.settings.topic_prefix)

    # -- starting and stopping -------------------------------------------------------------------------
    async def start(self, read: Sequence[str], write: Sequence[str], *, optional: Iterable[str] = ()) -> None:
        """Connect, and hold a position at the end of every partition of `read` (`optional` topics are read
        when the principal may, else listed in `unreadable`) before returning."""
        options = self.settings.kafka_options(self.principal)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            acks="all",
            client_id=f"{self.principal}-kit",
            **options,
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"{self.principal}-kit",
            **options,
        )
        await self._producer.start()
        await self._consumer.start()
        # A consumer's metadata covers only its subscriptions, and aiokafka has no public call for another
        # topic's partitions: ask the cluster (as egov.runtime.admin.read_to_end does).
        cluster = await self._consumer._client.fetch_all_metadata()
        optional = set(optional)
        assigned: list[TopicPartition] = []
        for topic in [*write, *read]:
            found = sorted(cluster.partitions_for_topic(self.full(topic)) or ())
            if not found:
                if topic in optional:
                    self.unreadable.append(topic)
                    continue
                raise LookupError(
                    f"topic {self.full(topic)} is not on the broker, or {self.principal} may not use it: "
                    "`egov kafka provision` creates the topics and the conformance principal's ACLs"
                )
            self._partitions[topic] = found
            if topic in read:
                assigned += [TopicPartition(self.full(topic), p) for p in found]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        for partition in assigned:  # the position is fetched now: nothing written from here on is missed
            await self._consumer.position(partition)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, KafkaError):
                await self._reader
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def __aenter__(self) -> Exchange:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- sending ---------------------------------------------------------------------------------------
    def partition_of(self, topic: str, key: str) -> int:
        """The partition a key lands on (the Java client's and aiokafka's default partitioner)."""
        partitions = self._partitions[topic]
        return int(DefaultPartitioner()(key.encode(), partitions, partitions))

    async def send(
        self,
        topic: str,
        *,
        key: str | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        note: str,
    ) -> Observed:
        """Send a record as it is and wait for the broker's acknowledgement."""
        assert self._producer is not None, "start() first"
        meta = await self._producer.send_and_wait(
            self.full(topic),
            key=key.encode() if key is not None else None,
            value=value,
            headers=list(headers),
        )
        seen = self._observe("sent", topic, meta.partition, meta.offset, key, value, tuple(headers), note)
        return seen

    async def send_event(
        self,
        topic: str,
        event_type: str,
        record: dict[str, Any],
        *,
        key: str,
        source: str,
        writer: str,
        note: str,
        envelope: Envelope | None = None,
    ) -> Observed:
        """Encode and send an event as its counterpart would, with its CloudEvents headers."""
        envelope = envelope or Envelope.new(
            source=source, type=event_type, subject=key, time=self.clock.now()
        )
        headers = [*envelope.to_headers(), ("egov_writer", writer.encode())]
        return await self.send(
            topic, key=key, value=self.registry.encode(event_type, record), headers=headers, note=note
        )

    # -- reading ---------------------------------------------------------------------------------------
    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            if not batches:
                continue
            for messages in batches.values():
                for m in messages:
                    key = m.key.decode("utf-8", errors="replace") if m.key is not None else None
                    self._observe(
                        "received",
                        self.logical(m.topic),
                        m.partition,
                        m.offset,
                        key,
                        m.value,
                        tuple(m.headers),
                    )
            async with self._changed:
                self._changed.notify_all()

    def _observe(
        self,
        direction: Direction,
        topic: str,
        partition: int,
        offset: int,
        key: str | None,
        value: bytes | None,
        headers: tuple[tuple[str, bytes], ...],
        note: str = "",
    ) -> Observed:
        seen = Observed(
            direction=direction,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            raw_headers=headers,
            at=self.clock.now(),
            note=note,
            sequence=len(self.log),
            headers=decode_headers(headers),
        )
        if value is not None and len(value) >= 10:
            seen.fingerprint = bytes(value[2:10]).hex()
        try:
            contract, record = self.registry.decode(value)
            seen.contract, seen.record = contract.name, record
        except ContractError as exc:
            seen.problem = str(exc)
        self.log.append(seen)
        return seen

    def received(self, topic: str | None = None) -> list[Observed]:
        return [o for o in self.log if o.direction == "received" and (topic is None or o.topic == topic)]

    async def wait_for(self, condition: Callable[[], Any], timeout: float) -> Any:
        """`condition()` once it holds (checked again as records arrive, and every second), or None after
        `timeout` real seconds."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                found = condition()
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                # checked again after a second without records too: a condition may depend on the time
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
