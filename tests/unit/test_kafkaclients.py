"""The service's Kafka clients: an idempotent producer, and a consumer that commits no offset past a record
its streams did not handle (egov/runtime/kafkaclients.py)."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import patch

import pytest
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP, Message

from egov.runtime.kafkaclients import HandledOnlyConsumer, IdempotentProducer
from egov.runtime.settings import Settings
from services import build_service


@pytest.fixture
def consumer(tmp_path) -> Any:  # type: ignore[no-untyped-def]
    service = build_service("payment", Settings(state_dir=tmp_path, auth="off", kafka_security="plaintext"))
    consumer = service.engine.app.consumer  # type: ignore[attr-defined]
    assert isinstance(consumer, HandledOnlyConsumer)
    return consumer


def a_record(consumer: Any, offset: int, *, generation: int = 1) -> Message:
    consumer.app.topics.acking_topics.add("t")  # a topic an agent reads (its records are acknowledged)
    return Message("t", 0, offset, 0.0, 0, [], b"k", b"v", None, generation_id=generation)


def test_the_producer_is_idempotent_and_waits_for_every_replica(tmp_path) -> None:  # type: ignore[no-untyped-def]
    service = build_service("payment", Settings(state_dir=tmp_path, auth="off", kafka_security="plaintext"))
    producer = service.engine.app.producer  # type: ignore[attr-defined]
    assert isinstance(producer, IdempotentProducer)
    assert producer._settings_extra() == {"acks": "all", "enable_idempotence": True}


def test_a_commit_never_passes_a_record_not_handled(consumer: Any) -> None:
    tp = TP("t", 0)
    consumer._committed_offset[tp] = 22
    consumer._acked[tp] = [23, 24]  # 22 not handled (Faust's own check lets exactly this one through)
    assert consumer._new_offset(tp) is None
    consumer._acked[tp] = [22, 23, 24, 26]
    assert consumer._new_offset(tp) == 25  # up to the first gap


def test_a_partition_never_committed_holds_its_commit_at_its_first_record(consumer: Any) -> None:
    tp = TP("t", 0)
    consumer.assignment = lambda: {tp}

    async def seek_to_committed() -> dict[TP, int]:
        return {}  # the group has committed nothing on it yet

    async def earliest_offsets(*partitions: TP) -> dict[TP, int]:
        return {partition: 0 for partition in partitions}

    consumer.seek_to_committed = seek_to_committed
    consumer.earliest_offsets = earliest_offsets
    asyncio.run(consumer.perform_seek())
    assert consumer._committed_offset[tp] == 0
    consumer._acked[tp] = [1, 2]  # record 0 still being handled: Faust alone would commit 3
    assert consumer._new_offset(tp) is None
    consumer._acked[tp] = [0, 1, 2]
    assert consumer._new_offset(tp) == 3


def test_a_record_skipped_during_a_rebalance_is_not_committed_and_is_fetched_again_first(
    consumer: Any,
) -> None:
    app = consumer.app
    app.consumer_generation_id = 2
    app.flow_control.resume()  # the rebalance is over: the flow goes on
    skipped = a_record(consumer, 22, generation=1)  # fetched before the rebalance
    after = [a_record(consumer, n, generation=2) for n in (23, 24)]
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    consumer.seek = seek
    consumer.assignment = lambda: {skipped.tp}
    consumer._committed_offset[skipped.tp] = 22
    consumer._sought.add(skipped.tp)  # the recovery sought it to its committed offset
    # When Faust skips the old generation's record and acknowledges it, its offset does not count
    assert consumer.ack(skipped) is False and skipped.acked
    assert consumer._acked[skipped.tp] == []

    # the records after it that reach the stream are passed over, not handled, and do not count either;
    # the partition is fetched again from the skipped one, once
    async def then() -> None:
        for record in after:
            assert consumer.passes_over(record)
            assert consumer.ack(record) is False
        await asyncio.sleep(0)

    asyncio.run(then())
    assert seeks == [(skipped.tp, 22)]
    assert consumer._new_offset(skipped.tp) is None  # nothing committed until 22 is handled
    # fetched again, 22 is handled first, then what follows it
    again = [a_record(consumer, n, generation=2) for n in (22, 23, 24)]
    for record in again:
        assert not consumer.passes_over(record)
        assert consumer.ack(record) is True
    assert consumer._new_offset(skipped.tp) == 25


def test_a_group_notices_a_dead_worker_within_the_session_time_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(state_dir=tmp_path, auth="off", kafka_security="plaintext", kafka_session_timeout=10)
    conf = build_service("payment", settings).engine.app.conf  # type: ignore[attr-defined]
    assert (conf.broker_session_timeout, conf.broker_heartbeat_interval) == (10.0, 1.0)
    # live workers rejoin a rebalance within twice the session, not Faust's minute
    assert conf.broker_rebalance_timeout == 20.0
    assert conf.broker_request_timeout > conf.broker_session_timeout  # the client refuses otherwise
    with pytest.raises(ValueError, match="greater than or equal to 6"):
        Settings(kafka_session_timeout=3)


class _Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset


def test_every_fetched_record_reaches_the_streams_whatever_the_read_offset(consumer: Any) -> None:
    tp = TP("t", 0)
    consumer._read_offset[tp] = 480  # what Faust's fetch loop sets after handing record 480
    consumer._read_offset.update({tp: 490})  # and its seek
    # Then its fetch loop finds no read offset: it drops no record below one, and counts no jump as handled
    assert consumer._read_offset[tp] is None


def test_only_offsets_between_two_records_fetched_in_a_row_count_as_without_a_record(consumer: Any) -> None:
    tp = TP("t", 0)
    batches = [[_Record(10), _Record(11), _Record(14)], [_Record(16)], [_Record(30)]]

    async def fetched(active_partitions: Any, timeout: float) -> dict[TP, list[_Record]]:
        return {tp: batches.pop(0)}

    async def sought(partition: TP, offset: int) -> None:
        pass

    async def fetch_all() -> None:
        with (
            patch.object(Consumer, "_getmany", lambda self, a, t: fetched(a, t)),
            patch.object(Consumer, "_seek", lambda self, p, o: sought(p, o)),
        ):
            await consumer._getmany(None, 1.0)  # 12 and 13 are not in the log (compaction, markers)
            await consumer._getmany(None, 1.0)  # neither is 15
            await consumer.seek(tp, 30)  # a seek: what comes next does not follow on from 16
            await consumer._getmany(None, 1.0)

    asyncio.run(fetch_all())
    assert sorted((i.begin, i.end) for i in consumer._gap[tp]) == [(12, 14), (15, 16)]  # 14 and 16 not in
    consumer._committed_offset[tp] = 10
    consumer._acked[tp] = [10, 11, 14, 16]  # handled; 17 onwards not yet
    assert consumer._new_offset(tp) == 17
    consumer._gap[tp].addi(12, 14)
    consumer._acked[tp] = [10, 11, 16]  # 14 fetched, not handled yet: the commit stops before it
    assert consumer._new_offset(tp) == 14


def sought_partition(consumer: Any, tp: TP) -> list[tuple[TP, int]]:
    """The consumer in a generation, flowing, assigned `tp` and sought to its committed offset; the seeks it
    makes from now on are listed, not made."""
    consumer.app.consumer_generation_id = 1
    consumer.app.flow_control.resume()
    consumer.flow_active = True
    seeks: list[tuple[TP, int]] = []

    async def seek(partition: TP, offset: int) -> None:
        seeks.append((partition, offset))

    consumer.seek = seek
    consumer.assignment = lambda: {tp}
    consumer._sought.add(tp)
    return seeks


def test_a_committed_record_that_never_reached_the_streams_is_fetched_again(consumer: Any) -> None:
    tp = TP("t", 0)
    seeks = sought_partition(consumer, tp)
    consumer._committed_offset[tp] = 5
    for n in (5, 6, 7, 8):
        assert not consumer.passes_over(a_record(consumer, n))
    consumer._committed_offset[tp] = 9  # committed up to 8
    for n in (10, 11):  # 9 was fetched and lost on its way; the records after it reached the streams
        assert not consumer.passes_over(a_record(consumer, n))

    async def checks(times: int) -> None:
        for _ in range(times):
            consumer.check_missed()
        await asyncio.sleep(0)

    asyncio.run(checks(1))
    assert seeks == []  # once may be a record on its way
    asyncio.run(checks(1))
    assert seeks == [(tp, 9)]
    # records fetched before the seek are passed over, not handled; then 9 comes, and what follows it
    late = a_record(consumer, 12)
    assert consumer.passes_over(late) and consumer.ack(late) is False
    for n in (9, 10, 11, 12):
        record = a_record(consumer, n)
        assert not consumer.passes_over(record)
        consumer.ack(record)
    assert consumer._new_offset(tp) == 13
    asyncio.run(checks(3))
    assert seeks == [(tp, 9)]  # fetched again once


def test_a_committed_record_still_being_handled_is_not_fetched_again(consumer: Any) -> None:
    tp = TP("t", 0)
    seeks = sought_partition(consumer, tp)
    consumer._committed_offset[tp] = 9
    for n in (9, 10, 11):  # 9 reached its stream and is being handled (a slow handler, a key's lock)
        assert not consumer.passes_over(a_record(consumer, n))
    consumer._acked[tp] = [10, 11]
    for _ in range(5):
        consumer.check_missed()
    assert seeks == []
    assert consumer._new_offset(tp) is None  # the commit waits for it


def test_records_before_the_seek_and_a_generation_not_starting_at_the_committed_record_are_fetched_again(
    consumer: Any,
) -> None:
    app = consumer.app
    app.consumer_generation_id = 1
    app.flow_control.resume()
    tp = TP("t", 0)
    seeks: list[tuple[TP, int]] = []

    async def seek(partition: TP, offset: int) -> None:
        seeks.append((partition, offset))

    async def seek_to_committed() -> dict[TP, int]:
        return {tp: 358}

    consumer.seek = seek
    consumer.seek_to_committed = seek_to_committed
    consumer.assignment = lambda: {tp}
    # Faust resumes the streams before it seeks them: what reaches them then comes again after the seek
    early = a_record(consumer, 370)
    assert consumer.passes_over(early) and consumer.ack(early) is False
    asyncio.run(consumer.perform_seek())
    assert consumer._committed_offset[tp] == 358
    assert seeks == [(tp, 358)]  # it may have come from the sought position: sought again, after
    seeks.clear()

    async def first(offset: int) -> bool:
        record = a_record(consumer, offset)
        passed = consumer.passes_over(record)
        assert consumer.ack(record) is False  # passed over: not counted
        await asyncio.sleep(0)
        return passed

    # After the seek, the first record to come is not the committed one (358 to 360 lost on the way)
    assert asyncio.run(first(361)) is True
    assert seeks == [(tp, 358)]
    for n in (358, 359, 360, 361):
        record = a_record(consumer, n)
        assert not consumer.passes_over(record)
        consumer.ack(record)
    assert consumer._new_offset(tp) == 362
