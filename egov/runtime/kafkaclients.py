"""The Faust app of a service, with what every service needs of its clients on a replicated cluster with
several workers (docs/adr/0016).

- **An idempotent producer.** Faust passes `producer_acks` through but turns aiokafka's idempotence on only
  inside its exactly-once transactions, which this project does not use (docs/adr/0002). An idempotent
  producer numbers its batches, so a batch the broker wrote but whose acknowledgement was lost (a leader that
  died mid-request) is not written a second time when the producer sends it again: with `acks=all` and
  `min.insync.replicas=2`, an acknowledged record is on two brokers, once. Kafka ≥ 2.8 lets a principal with
  WRITE on a topic produce idempotently (KIP-679), so the ACLs of the model are enough.
- **No offset committed past a record that was not handled.** When the consumer group rebalances, Faust
  skips the records it fetched before (their generation is not the group's any more, or the flow is still
  suspended) and acknowledges them all the same; and its commit lets one unacknowledged record at the head of
  a partition through (it compares with `> 1` what must be `> 0`). Together they lost runs of dossiers on a
  three-broker cluster whose group coordinator died (a record skipped just after the seek, the next one
  handled, the commit past both). Here a skipped record is marked done without counting towards the commit,
  the commit never passes the first offset not handled (on a partition the group never committed, its first
  offset: Faust keeps no committed offset there, which its commit reads as "anything goes", so the first
  record still being handled when a worker dies was lost), and a partition whose record was skipped is fetched
  again from that record: the records after it that reach the streams meanwhile are passed over, not
  handled (they come again after it), so a partition's records are handled in order (a notice's dossier
  facts before its status changes) and a record handled before is handled once (consumers are idempotent).
- **Every fetched record reaches the streams, and only true gaps count as handled.** Faust's fetch loop drops
  a record below its partition's read offset, and counts a jump between the read offset and the next record
  as offsets with no record (compaction, transaction markers), handled, the record at the jump included.
  Both assume the read offset follows the records handed to the streams; a recovery breaks that, for Faust
  resumes the streams before it seeks them back to their committed offsets (seconds, on a loaded cluster).
  On the cluster plan notify never handled the receipts written in that window while it handled the events
  after them (14 dossiers, each of their notices dead-lettered). Here the consumer keeps no read offset (a
  record handed twice is a duplicate, which every consumer drops), and an offset counts as one without a
  record only when it falls between two records fetched one after the other, with no seek between them.
- **A committed record that never reached the streams is fetched again.** The commit never passes a record
  not handled, but one fetched and lost on its way to the streams (on the cluster plan, a settlement
  written while a restarted worker sought its partitions) would hold its partition's commit until the next
  rebalance and never be handled before it. Every 10 s the consumer looks, partition by partition, for a
  committed offset that did not reach the streams in this generation while later ones did; found twice in
  a row, the partition is fetched again from it, the records after it passed over as above.
- **Table writes a handling can hold back.** While an event is handled, a table's changelog records are made
  but held (egov.runtime.writes), each with the key's value before it, so the runtime can record them in the
  event's memory entry first and send them after; a write the broker refused is sent again with the key's
  current value.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers.aiokafka import Consumer, Producer
from faust.types import TP, ConsumerT, Message, ProducerT
from faust.types.tuples import FutureMessage, ack_lock
from mode import Service
from mode.utils.futures import notify

from egov.runtime import writes

#: How often a consumer looks for a committed record that never reached its streams while later ones did, and
#: how many checks in a row must find it so before the partition is fetched again from it.
MISSED_CHECK_SECONDS = 10.0
MISSED_CHECKS = 2


class IdempotentProducer(Producer):
    """Faust's aiokafka producer with `enable_idempotence` (which requires `acks=all`)."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class HandledOnlyConsumer(Consumer):
    """Faust's aiokafka consumer, committing only offsets its streams handled (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Partition → the first offset skipped since (fetched again; the records after it passed over).
        self._skipped: dict[TP, int] = {}
        #: Partitions being fetched again from their skipped offset, and the records passed over meanwhile.
        self._refetching: set[TP] = set()
        self._passed: set[tuple[TP, int]] = set()
        self._seeking: set[asyncio.Future[None]] = set()
        #: Partition → the offset of the last record fetched since the partition was last sought.
        self._fetched: dict[TP, int] = {}
        #: Partition → the offsets that reached its streams in this generation, from its committed one on;
        #: and a committed offset found missing among them while later ones were there (checks in a row).
        self._reached: defaultdict[TP, set[int]] = defaultdict(set)
        self._missed: dict[TP, tuple[int, int]] = {}
        #: Partitions sought to their committed offsets in this generation (their records reach the streams).
        self._sought: set[TP] = set()
        self._early: set[tuple[TP, int]] = set()
        self._early_tps: set[TP] = set()
        super().__init__(*args, **kwargs)
        self._read_offset = _NoReadOffsets()

    def passes_over(self, message: Message) -> bool:
        """Whether a stream must pass over this record, not handle it:
        - its partition is not yet sought to its committed offset in this generation (Faust resumes the
          streams before it seeks them): the record comes again, for the partition is sought once more
          when the streams may take its records (`perform_seek`);
        - a record before it of its partition was skipped, or is the committed one and did not reach the
          streams first in this generation. The partition is then fetched again from that record (once);
          the record at that offset, when it comes, ends the passing over."""
        tp, offset = message.tp, message.offset
        if tp not in self._sought:
            self._early.add((tp, offset))
            self._early_tps.add(tp)
            return True
        reached = self._reached[tp]
        committed = self._committed_offset.get(tp)
        if not reached and committed is not None and offset > committed and tp not in self._skipped:
            self._skipped[tp] = committed  # the first record to come after the seek must be the committed one
        reached.add(offset)
        skipped = self._skipped.get(tp)
        if skipped is None:
            return False
        if offset <= skipped:
            del self._skipped[tp]
            self._refetching.discard(tp)
            return False
        self._passed.add((tp, offset))
        if tp not in self._refetching:
            self._refetch(tp, "a record before it was skipped or did not come")
        return True

    def _refetch(self, tp: TP, why: str) -> None:
        """Fetch the partition again from its skipped offset; until that record comes, the records after it
        are passed over (`passes_over`)."""
        if tp not in self.assignment():
            return
        self._refetching.add(tp)
        self.log.info("Fetching %r again from %r, %s", tp, self._skipped[tp], why)
        seeking = asyncio.ensure_future(self.seek(tp, self._skipped[tp]))
        self._seeking.add(seeking)
        seeking.add_done_callback(self._seeking.discard)

    @Service.timer(MISSED_CHECK_SECONDS)
    async def _missed_checked(self) -> None:
        self.check_missed()

    def check_missed(self) -> None:
        """Fetch again a partition whose committed record never reached its stream in this generation while
        records after it did, two checks in a row: fetched and lost on the way (see the module's
        docstring). Its commit would wait for it until the next rebalance, the records after it handled
        first."""
        app: Any = self.app
        if app.rebalancing or not self.flow_active:
            return
        for tp, reached in self._reached.items():
            committed = self._committed_offset.get(tp)
            if committed is None or tp in self._skipped:
                self._missed.pop(tp, None)
                continue
            reached.difference_update([n for n in reached if n < committed])  # handled, and committed
            if not reached or committed in reached:
                self._missed.pop(tp, None)
                continue
            checks = self._missed.get(tp, (committed, 0))
            found = (committed, checks[1] + 1 if checks[0] == committed else 1)
            self._missed[tp] = found
            if found[1] >= MISSED_CHECKS:
                del self._missed[tp]
                self._skipped[tp] = committed
                self._refetch(tp, "its committed record never reached the streams, records after it did")

    def ack(self, message: Message) -> bool:
        app: Any = self.app
        tp, offset = message.tp, message.offset
        if (tp, offset) in self._early:  # comes again after the seek: neither counted nor skipped
            self._early.discard((tp, offset))
            self._done_uncounted(message, skipped=False)
            return False
        passed = (tp, offset) in self._passed
        self._passed.discard((tp, offset))
        active = message.generation_id == app.consumer_generation_id and app.flow_control.is_active()
        if active and not passed:
            return bool(super().ack(message))
        self._done_uncounted(message, skipped=True)
        return False

    def _done_uncounted(self, message: Message, *, skipped: bool) -> None:
        """As Consumer.ack, the record done with, but its offset not committable; `skipped`: the partition is
        to be fetched again from it (`passes_over`)."""
        with ack_lock:
            if not message.acked:
                message.acked = True
                self._unacked_messages.discard(message)
                if skipped:
                    tp, offset = message.tp, message.offset
                    self._skipped[tp] = min(self._skipped.get(tp, offset), offset)
                notify(self._waiting_for_ack)

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit: after the first run of handled offsets, if that run starts at the committed
        offset (Faust's own check lets one missing record through)."""
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if acked and committed is not None:
            self._merge_gaps(tp)
            if min(acked) > committed:
                return None  # the record at the committed offset is not handled yet
        offset: int | None = super()._new_offset(tp)
        return offset

    async def perform_seek(self) -> None:
        """Seek to the committed offsets (Faust), and take a partition's first offset as its committed one
        where the group committed none: the consumer starts there (`auto_offset_reset="earliest"`), and the
        commit must not pass that record before it is handled."""
        self._fetched.clear()
        await super().perform_seek()
        never = [tp for tp in self.assignment() if self._committed_offset.get(tp) is None]
        if never:
            for tp, first in (await self.earliest_offsets(*never)).items():
                if self._committed_offset.get(tp) is None:
                    self._committed_offset[tp] = first
        self._sought.update(self.assignment())
        # What reached the streams before now may have come from the sought position: fetched again
        early, self._early_tps = self._early_tps & self._sought, set()
        for tp in early:
            committed = self._committed_offset.get(tp)
            if committed is not None:
                await self.seek(tp, committed)

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        """Fetch, noting the offsets with no record between two records fetched one after the other."""
        records = await super()._getmany(active_partitions, timeout)
        for tp, batch in records.items():
            if not batch:
                continue
            previous = self._fetched.get(tp)
            for record in batch:
                if previous is not None and record.offset > previous + 1:
                    self._gap[tp].addi(previous + 1, record.offset)  # the offsets between, not the record's
                previous = record.offset
            self._fetched[tp] = batch[-1].offset
        return records

    async def seek(self, partition: TP, offset: int) -> None:
        self._fetched.pop(partition, None)
        await super().seek(partition, offset)

    def stop_flow(self) -> None:
        self._fetched.clear()  # a rebalance: the records fetched before it are not followed on
        self._reached.clear()
        self._missed.clear()
        self._sought.clear()
        self._early_tps.clear()
        super().stop_flow()

    def _merge_gaps(self, tp: TP) -> None:
        """Add the offsets the broker has no record for (Faust's gaps: compaction, transaction markers) to the
        handled ones, as Faust's `_new_offset` does, so that they do not count as missing."""
        acked = self._acked[tp]
        gaps = self._gap[tp]
        if not gaps:
            return
        found = sorted(gaps.overlap(0, max(acked)), key=lambda interval: interval.begin)
        if found:
            filled = [n for interval in found for n in range(interval.begin, interval.end)]
            acked.extend(filled)
            gaps.chop(0, max(filled[-1], max(acked) + 1))
            acked.sort()


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
