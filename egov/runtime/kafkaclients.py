"""The Faust app of a service, with what every service needs of its clients on a replicated cluster with
several workers (docs/adr/0016).

- **An idempotent producer.** Faust passes `producer_acks` through but turns aiokafka's idempotence on only
  inside its exactly-once transactions, which this project does not use (docs/adr/0002). An idempotent
  producer numbers its batches, so a batch the broker wrote but whose acknowledgement was lost (a leader that
  died mid-request) is not written a second time when the producer sends it again: with `acks=all` and
  `min.insync.replicas=2`, an acknowledged record is on two brokers, once. Kafka ≥ 2.8 lets a principal with
  WRITE on a topic produce idempotently (KIP-679), so the ACLs of the model are enough.
- **A partition's records handled one after the other, none left out, and no offset committed past a
  record that was not handled.** Around a rebalance Faust's fetch path loses records in several ways: it
  skips the records fetched before (their generation is not the group's any more, or the flow is still
  suspended) and acknowledges them all the same; its commit lets one unacknowledged record at the head of a
  partition through (it compares with `> 1` what must be `> 0`), and reads a partition the group never
  committed as "anything goes"; its fetch loop drops records below its read offset and counts a jump between
  two records as offsets without a record, handled; and its recovery resumes the streams before it seeks them
  back to their committed offsets (seconds, on a loaded cluster). On a three-broker cluster whose workers and
  nodes were killed under load these lost dossiers, notices and timers (docs/adr/0016). Here every partition
  has, in each generation, the offset of the next record its streams may handle: its committed one after the
  seek (the first offset on the broker, where the group committed none or retention deleted the committed
  one), then one more with each record handled. A record at that offset is handled, and only a record
  handed to a handler so counts towards the commit, whatever path of Faust's acknowledges the others; any
  other is passed over, neither handled nor counted: an earlier one was handled before (fetched again),
  and a later one means records were left out on the way, so the partition is fetched again from the one
  expected. Records that reach the streams before the seek are passed over too, and their partitions
  sought again after it. Faust's read offsets and its inferred gaps are disabled (the project's stream
  topics are neither compacted nor transactional: their offsets follow one another). A partition that has
  waited for its next record for two checks 10 s apart, while the broker has records from it on, is fetched
  again too (a last record lost on the way, with none after it to show it).
- **Every acknowledgement through the consumer.** Faust's compiled stream iterator (its Cython extension)
  inlines `Consumer.ack`: it appends each record's offset to the consumer's acknowledged list itself, so
  the records passed over above, and the ones Faust skips in a rebalance, were counted as handled and
  committed (on the cluster plan: timers and deliveries a worker taking over never handled). The runtime
  turns that iterator off (Faust's `NO_CYTHON` switch, set in `faust.streams` once this module is imported):
  its Python iterator acknowledges through `Message.ack`, which calls this consumer's `ack`.
- **Table writes a handling can hold back.** While an event is handled, a table's changelog records are made
  but held (egov.runtime.writes), each with the key's value before it, so the runtime can record them in the
  event's memory entry first and send them after; a write the broker refused is sent again with the key's
  current value.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Mapping
from typing import Any

import faust
import faust.streams
from faust.transport.drivers.aiokafka import Consumer, Producer
from faust.types import TP, ConsumerT, Message, ProducerT
from faust.types.tuples import FutureMessage, ack_lock
from mode import Service
from mode.utils.futures import notify

from egov.runtime import writes

# Faust's compiled stream iterator acknowledges records without calling Consumer.ack (see the docstring).
faust.streams._CStreamIterator = None

#: How often a consumer looks for a partition waiting for its next record while the broker has records from it
#: on, and how many checks in a row must find it so before the partition is fetched again from that record.
STALL_CHECK_SECONDS = 10.0
STALL_CHECKS = 2
#: A partition fetched again from its next record is not sought again for records that come meanwhile (the
#: ones fetched before the seek) unless that record has not come within this time.
REFETCH_AGAIN_SECONDS = 5.0


class IdempotentProducer(Producer):
    """Faust's aiokafka producer with `enable_idempotence` (which requires `acks=all`)."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class HandledOnlyConsumer(Consumer):
    """Faust's aiokafka consumer: each partition's records handled in offset order, none left out, and only
    offsets handled committed (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Partition → the offset of the next record its streams may handle (set when the partition is sought
        #: to its committed offset in a generation; kept through the rebalance that ends it, for the last
        #: commit), and the partitions sought in the current generation.
        self._next: dict[TP, int] = {}
        self._sought: set[TP] = set()
        #: Records handed to a handler (the only ones counted towards the commit), and records passed over.
        self._handed: weakref.WeakSet[Message] = weakref.WeakSet()
        self._uncounted: weakref.WeakSet[Message] = weakref.WeakSet()
        #: Partitions records of which reached the streams before the seek (sought again after it).
        self._early: set[TP] = set()
        #: Partition → when it was last fetched again from its next record (monotonic seconds).
        self._refetched: dict[TP, float] = {}
        self._seeking: set[asyncio.Future[None]] = set()
        #: Partitions a record of which reached the streams since the last stall check; partition → the
        #: checks in a row that found it waiting for its next record with records on the broker from it on.
        self._moved: set[TP] = set()
        self._stalled: dict[TP, int] = {}
        super().__init__(*args, **kwargs)
        self._read_offset = _NoReadOffsets()

    def passes_over(self, message: Message) -> bool:
        """Whether a stream must pass over this record, not handle it: it is not its partition's next record
        in this generation (see the module's docstring). A later record than the next one has its partition
        fetched again from the next one."""
        tp, offset = message.tp, message.offset
        expected = self._next.get(tp) if tp in self._sought else None
        if expected is not None and offset == expected:
            self._next[tp] = offset + 1
            self._refetched.pop(tp, None)
            self._moved.add(tp)
            self._handed.add(message)
            return False
        self._uncounted.add(message)
        if expected is None:  # before the seek of this generation: it comes again after it
            self._early.add(tp)
        elif offset > expected:
            self._refetch(tp, f"record {offset} came before {expected}")
        return True  # an earlier one was handed over before; a later one comes again after the seek

    def _refetch(self, tp: TP, why: str) -> None:
        """Fetch the partition again from its next record (at most once per REFETCH_AGAIN_SECONDS)."""
        if tp not in self.assignment() or tp not in self._sought or tp not in self._next:
            return
        now = time.monotonic()
        last = self._refetched.get(tp)
        if last is not None and now - last < REFETCH_AGAIN_SECONDS:
            return
        self._refetched[tp] = now
        self.log.info("Fetching %r again from %r: %s", tp, self._next[tp], why)
        seeking = asyncio.ensure_future(self.seek(tp, self._next[tp]))
        self._seeking.add(seeking)
        seeking.add_done_callback(self._seeking.discard)

    @Service.timer(STALL_CHECK_SECONDS)
    async def _stalls_checked(self) -> None:
        try:
            self.check_stalled()
        except Exception:  # a safety net must not stop the worker (a timer that raises crashes the consumer)
            self.log.exception("The stall check failed; it runs again in %s s", STALL_CHECK_SECONDS)

    def check_stalled(self) -> None:
        """Fetch again a partition that waited for its next record for STALL_CHECKS checks in a row while the
        broker has records from it on: the record was lost on the way, and no later one came to show it."""
        app: Any = self.app
        if app.rebalancing or not self.flow_active:
            return
        moved, self._moved = self._moved, set()
        assigned = self.assignment()
        for tp, expected in [(tp, self._next[tp]) for tp in self._sought if tp in self._next]:
            try:
                highwater = self.highwater(tp) if tp in assigned else None
            except Exception:  # no fetch answered for it yet in this assignment
                highwater = None
            if tp in moved or highwater is None or highwater <= expected:
                self._stalled.pop(tp, None)
                continue
            self._stalled[tp] = self._stalled.get(tp, 0) + 1
            if self._stalled[tp] >= STALL_CHECKS:
                del self._stalled[tp]
                self._refetch(tp, f"no record came for {STALL_CHECKS} checks while the broker has some")

    def ack(self, message: Message) -> bool:
        app: Any = self.app
        active = message.generation_id == app.consumer_generation_id and app.flow_control.is_active()
        handed = message in self._handed
        self._handed.discard(message)
        if active and handed:
            return bool(super().ack(message))
        # Passed over, skipped by Faust (an earlier generation's, or the flow suspended), or acknowledged by
        # any other path without reaching a handler: done with, not counted. Such a record never was its
        # partition's next one handed over, so the next record (or the stall check) shows it missing.
        if active and not handed and message not in self._uncounted and not message.acked:
            self.log.info(
                "%r offset %r acknowledged without reaching a handler: not counted",
                message.tp,
                message.offset,
            )
        self._uncounted.discard(message)
        with ack_lock:
            if not message.acked:
                message.acked = True
                self._unacked_messages.discard(message)
                notify(self._waiting_for_ack)
        return False

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit: after the first run of handled offsets, if that run starts at the committed
        offset (Faust's own check lets one missing record through)."""
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        expected = self._next.get(tp)
        unhanded = [n for n in acked if expected is None or n >= expected]
        if unhanded:  # never handed to a handler since the partition was sought: no commit passes them
            self.log.warning(
                "%r: %d offset(s) from %r to %r acknowledged but never handed to a handler (next %r, "
                "committed %r): not committed",
                tp,
                len(unhanded),
                min(unhanded),
                max(unhanded),
                expected,
                committed,
            )
            acked[:] = [n for n in acked if expected is not None and n < expected]
            self._acked_index[tp].difference_update(unhanded)
        if acked and committed is not None and min(acked) > committed:
            return None  # the record at the committed offset is not handled yet
        offset: int | None = super()._new_offset(tp)
        return offset

    async def perform_seek(self) -> None:
        """Seek to the committed offsets (Faust); then each partition's next record is its committed one, or
        its first on the broker where the group committed none (the consumer starts there:
        `auto_offset_reset="earliest"`) or retention deleted the committed one. Partitions records of which
        reached the streams before are sought again."""
        await super().perform_seek()
        app: Any = self.app
        streamed = app.topics.acking_topics  # the topics agents read (not the tables' changelogs)
        assigned = {tp for tp in self.assignment() if tp.topic in streamed}
        first = await self.earliest_offsets(*assigned) if assigned else {}
        for gone in set(self._next) - assigned:
            del self._next[gone]
        self._sought &= assigned
        for tp in assigned:
            committed = self._committed_offset.get(tp)
            start = first.get(tp)
            if start is not None and (committed is None or committed < start):
                if committed is not None:
                    self.log.warning(
                        "%r: retention deleted records from %r to %r before the group handled them",
                        tp,
                        committed,
                        start,
                    )
                self._committed_offset[tp] = committed = start
            if committed is None:
                continue
            if tp in self._sought and self._next.get(tp, committed) >= committed:
                continue  # sought again in this generation (Faust seeks twice): what it handed stays handed
            self._next[tp] = committed
            self._sought.add(tp)
        early, self._early = self._early & self._sought, set()
        for tp in early:
            await self.seek(tp, self._next[tp])

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        # A new generation (Faust does not always stop the flow before it): every partition is sought again
        self._reset_generation()
        await super().on_partitions_assigned(assigned, generation_id)

    def _reset_generation(self) -> None:
        self._sought.clear()
        self._early.clear()
        self._refetched.clear()
        self._moved.clear()
        self._stalled.clear()

    def stop_flow(self) -> None:
        # A rebalance: the next generation seeks each partition and sets its next record again
        self._reset_generation()
        super().stop_flow()


class _NoReadOffsets(dict[TP, "int | None"]):
    """Faust's read offsets, kept empty: its fetch loop then hands every record to the streams and counts no
    gap of its own (see the module's docstring)."""

    def __getitem__(self, tp: TP) -> int | None:
        return None

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        pass

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


class ServiceApp(faust.App):
    """A service's Faust app: an idempotent producer, and offsets committed only for records handled."""

    def _new_producer(self) -> ProducerT:
        return IdempotentProducer(self.transport, loop=self.loop, beacon=self.beacon)

    def _new_consumer(self) -> ConsumerT:
        transport: Any = self.transport
        return HandledOnlyConsumer(
            transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=transport.loop,
        )


class DurableTable(faust.Table):
    """A Faust table whose changelog sends a handling can hold back, or note (egov.runtime.writes)."""

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> FutureMessage:
        how = writes.mode()
        if how == "hold":  # the record made (serialised, its partition known) but not handed to the producer
            message: FutureMessage = self.changelog_topic.as_future_message(
                key=key,
                value=value,
                partition=partition,
                key_serializer=key_serializer or self.key_serializer,
                value_serializer=value_serializer or self.value_serializer,
                callback=self._on_changelog_sent,
                eager_partitioning=True,
            )
        else:
            message = super().send_changelog(partition, key, value, key_serializer, value_serializer)
        final = message.message.partition  # known now: the record is partitioned eagerly
        if how is not None and final is not None:
            deleted = value is None and value_serializer == "raw"  # how Faust sends a removal
            before = self.data.get(key, writes.ABSENT)  # the store is updated after this call
            writes.note(writes.Write(self, final, key, value, deleted, message, how == "hold", before))
        return message

    def release(self, message: FutureMessage) -> FutureMessage:
        """Hand a held changelog record to the producer."""
        self.app.producer.send_soon(message)
        return message

    def send_current(self, partition: int, key: Any) -> FutureMessage:
        """Send the changelog record of the key's value now again (a tombstone when it has none)."""
        if key in self.data:
            return self.send_changelog(partition, key, self.data[key])
        return self.send_changelog(partition, key, None, value_serializer="raw")
