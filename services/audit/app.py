"""audit wiring: append every record of every topic of the registry to the hash-chained audit log.

The records are read as they are (bytes and headers, valid or not: a malformed record is evidence too), in
partition order, one agent per topic. Each is placed by services/audit/domain.py: by the topic instance it
comes from (the cluster and topic ids the broker reports, asked again whenever a record's place is in doubt
and at every checkpoint round), then by its offset; a record of another instance (the topic created again,
another broker) opens a new segment of the partition's log instead of being skipped as logged before, and a
redelivered record is skipped. Every few seconds, each partition with new lines gets a signed checkpoint,
after its file is forced to disk. `egov audit verify` checks the log, and compares it with the broker
(egov/platform/audit_verify.py).
"""

from __future__ import annotations

import asyncio
import time

from egov.platform.audit import AuditLog, TopicIdentity, checkpoint_key, new_entry, same_record
from egov.runtime.brokerview import Identify, broker_identities
from egov.runtime.engine import Engine
from egov.runtime.events import Message
from egov.runtime.service import Service
from egov.runtime.settings import Settings
from services import SERVICES, all_topics
from services.audit.domain import OpenSegment, Skip, in_doubt, place

#: Seconds between two rounds of signed checkpoints (and of the topics' identities asked again).
CHECKPOINT_EVERY = 5.0
#: Longest back-off, in seconds, before trying a record again that could not be logged.
MAX_BACKOFF = 30.0


class IdentityUnknown(RuntimeError):
    """The broker did not say which instance of a topic a record comes from (yet)."""


class Identities:
    """The identity of each topic the audit reads (by full name), as the broker last gave it: asked again
    when a record's place is in doubt, unless it was asked within `fresh_for` seconds, since a restart
    brings a burst of such records."""

    def __init__(self, identify: Identify, names: list[str], *, fresh_for: float = CHECKPOINT_EVERY) -> None:
        self.identify = identify
        self.names = names
        self.fresh_for = fresh_for
        self.known: dict[str, TopicIdentity] = {}
        self.asked_at = float("-inf")
        self._asking = asyncio.Lock()

    def _fresh(self) -> bool:
        return time.monotonic() - self.asked_at <= self.fresh_for

    async def of(self, name: str, *, check: bool, force: bool = False) -> TopicIdentity:
        """The topic's identity; asked of the broker if not known, or if `check` and not fresh, or if
        `force`."""
        if name in self.known and not force and (not check or self._fresh()):
            return self.known[name]
        asked = self.asked_at
        async with self._asking:
            if name not in self.known or (self.asked_at == asked and (force or not self._fresh())):
                await self._ask()  # (unless another record had it asked while this one waited)
        if name not in self.known:
            raise IdentityUnknown(f"the broker does not describe topic {name}")
        return self.known[name]

    async def refresh(self) -> None:
        """Ask the broker again for every topic's identity."""
        async with self._asking:
            await self._ask()

    async def _ask(self) -> None:
        try:
            found = await self.identify(self.names)
        except Exception as exc:  # any failure to learn it: the caller tries again after a back-off
            raise IdentityUnknown(f"the topics' identities could not be asked: {exc}") from exc
        self.known |= dict(found)
        self.asked_at = time.monotonic()


def build(settings: Settings, *, engine: Engine | None = None, identify: Identify | None = None) -> Service:
    """The audit service; `identify` tells the identity of topics (default: the broker, asked as the
    audit's principal; the handler tests give a fake)."""
    service = Service("audit", default_port=SERVICES["audit"].port, settings=settings, engine=engine)
    directory = settings.state_dir / "audit"
    log = AuditLog(directory)
    identities = Identities(
        identify or broker_identities(settings, principal=service.principal),
        [service.full_name(spec) for spec in all_topics()],
    )
    #: Partitions with lines since their last checkpoint.
    unsigned: set[tuple[str, int]] = set()

    async def record(message: Message) -> None:
        topic = str(message.topic).removeprefix(settings.topic_prefix)
        partition, offset = message.partition, message.offset
        position = log.last(topic, partition)
        identity = await identities.of(str(message.topic), check=in_doubt(position, offset))
        headers = dict(message.headers or [])

        def entry(prev: str) -> dict[str, object]:
            return new_entry(
                topic=topic,
                partition=partition,
                offset=offset,
                timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
                key=message.key,
                value=message.value,
                headers={k: v if isinstance(v, bytes) else str(v).encode() for k, v in headers.items()},
                prev=prev,
            )

        same = None
        if offset <= position.offset:
            logged = log.entry_at(topic, partition, offset)
            same = logged is not None and same_record(logged, entry(position.hash))
        step = place(position, identity, offset, same)
        if isinstance(step, OpenSegment) and identity == position.identity:
            # The same instance, with another history: make sure the broker did not just create it again.
            identity = await identities.of(str(message.topic), check=True, force=True)
            step = place(position, identity, offset, same)
        if isinstance(step, Skip):
            return  # logged before (a redelivery)
        if isinstance(step, OpenSegment):
            position = log.open_segment(
                topic,
                partition,
                identity,
                reason=step.reason,
                continues=step.continues,
                opened_at=service.clock.now().isoformat(),
            )
            unsigned.add((topic, partition))
            service.log.warning(
                "audit.segment_opened",
                topic=topic,
                partition=partition,
                segment=position.segment,
                offset=offset,
                reason=step.reason,
            )
            if step.then_skip:
                return
        log.append(entry(position.hash))
        unsigned.add((topic, partition))

    async def keep(message: Message) -> None:
        # Never let an error escape (Faust would acknowledge the record unlogged): a failed write (disk full),
        # a broker that does not say which topic instance the record is of, or any other failure is logged
        # and the same record tried again, with a growing back-off, until it is logged.
        delay = 0.5
        while True:
            try:
                await record(message)
                return
            except Exception as exc:
                service.log.error(
                    "audit.record_not_logged",
                    error=repr(exc),
                    retry_in_s=delay,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                )
                await asyncio.sleep(delay)  # back-off before logging the same record again
                delay = min(delay * 2, MAX_BACKOFF)

    async def checkpoints() -> None:
        key = checkpoint_key(directory)
        signed_at = service.clock.now().isoformat()
        for topic, partition in sorted(unsigned):
            log.checkpoint(key, topic, partition, signed_at)
        unsigned.clear()
        try:  # a topic created again while the audit runs is noticed within a round
            await identities.refresh()
        except IdentityUnknown as exc:
            service.log.warning("audit.identities_not_refreshed", error=str(exc))

    async def signing_key() -> None:  # the log's folder and its key exist from the start (what verify reads)
        checkpoint_key(directory)

    service.on_start(signing_key)
    for spec in all_topics():
        service.consume_raw(spec, keep, name=spec.name)
    service.every(CHECKPOINT_EVERY, checkpoints, name="checkpoints")
    return service
