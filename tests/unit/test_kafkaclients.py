"""The service's Kafka clients: an idempotent producer, and a consumer that commits no offset past a record
its streams did not handle (egov/runtime/kafkaclients.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust.streams
import pytest
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage

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
    consumer._next[tp] = 27  # 22 to 26 handed to handlers
    consumer._acked[tp] = [23, 24]  # 22 not handled (Faust's own check lets exactly this one through)
    assert consumer._new_offset(tp) is None
    consumer._acked[tp] = [22, 23, 24, 26]
    assert consumer._new_offset(tp) == 25  # up to the first gap


def test_a_commit_never_passes_a_record_never_handed_to_a_handler(consumer: Any) -> None:
    tp = TP("t", 0)
    consumer._committed_offset[tp] = 58
    consumer._next[tp] = 60  # 58 and 59 handed; whatever says 60 to 75 were handled, they were not
    consumer._acked[tp] = [58, 59, *range(60, 76)]
    assert consumer._new_offset(tp) == 60
    consumer._acked[tp] = list(range(60, 76))
    assert consumer._new_offset(tp) is None


def test_a_partition_never_committed_holds_its_commit_at_its_first_record(consumer: Any) -> None:
    tp = TP("t", 0)
    consumer.assignment = lambda: {tp}

    async def seek_to_committed() -> dict[TP, int]:
        return {}  # the group has committed nothing on it yet

    async def earliest_offsets(*partitions: TP) -> dict[TP, int]:
        return {partition: 0 for partition in partitions}

    consumer.seek_to_committed = seek_to_committed
    consumer.earliest_offsets = earliest_offsets
    consumer.app.topics.acking_topics.add(tp.topic)
    asyncio.run(consumer.perform_seek())
    assert consumer._committed_offset[tp] == 0
    consumer._next[tp] = 3  # 0 to 2 handed to handlers
    consumer._acked[tp] = [1, 2]  # record 0 still being handled: Faust alone would commit 3
    assert consumer._new_offset(tp) is None
    consumer._acked[tp] = [0, 1, 2]
    assert consumer._new_offset(tp) == 3


def test_a_group_notices_a_dead_worker_within_the_session_time_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(state_dir=tmp_path, auth="off", kafka_security="plaintext", kafka_session_timeout=10)
    conf = build_service("payment", settings).engine.app.conf  # type: ignore[attr-defined]
    assert (conf.broker_session_timeout, conf.broker_heartbeat_interval) == (10.0, 1.0)
    # live workers rejoin a rebalance within twice the session, not Faust's minute
    assert conf.broker_rebalance_timeout == 20.0
    assert conf.broker_request_timeout > conf.broker_session_timeout  # the client refuses otherwise
    with pytest.raises(ValueError, match="greater than or equal to 6"):
        Settings(kafka_session_timeout=3)


def test_every_fetched_record_reaches_the_streams_whatever_the_read_offset(consumer: Any) -> None:
    tp = TP("t", 0)
    consumer._read_offset[tp] = 480  # what Faust's fetch loop sets after handing record 480
    consumer._read_offset.update({tp: 490})  # and its seek
    # Then its fetch loop finds no read offset: it drops no record below one, and counts no jump as handled
    assert consumer._read_offset[tp] is None


def sought_partition(consumer: Any, tp: TP, committed: int) -> list[tuple[TP, int]]:
    """The consumer in a generation, flowing, assigned `tp` and sought to its committed offset; the seeks it
    makes from now on are listed, not made."""
    consumer.app.consumer_generation_id = 1
    consumer.app.flow_control.resume()
    consumer.flow_active = True
    seeks: list[tuple[TP, int]] = []

    async def seek(partition: TP, offset: int) -> None:
        seeks.append((partition, offset))

    async def seek_to_committed() -> dict[TP, int]:
        return {tp: committed}

    async def earliest_offsets(*partitions: TP) -> dict[TP, int]:
        return {partition: 0 for partition in partitions}

    consumer.seek = seek
    consumer.seek_to_committed = seek_to_committed
    consumer.earliest_offsets = earliest_offsets
    consumer.app.topics.acking_topics.add(tp.topic)
    changelog = TP("payment-processed-events-changelog", tp.partition)  # a table's: read by no stream
    consumer.assignment = lambda: {tp, changelog}
    asyncio.run(consumer.perform_seek())
    assert changelog not in consumer._next
    return seeks


def handled(consumer: Any, offsets: Any, *, generation: int = 1) -> list[int]:
    """Hand the records at `offsets` to the streams as Faust would, acknowledging each; the ones handled."""

    async def hand() -> list[int]:
        done = []
        for offset in offsets:
            record = a_record(consumer, offset, generation=generation)
            if not consumer.passes_over(record):
                done.append(offset)
            consumer.ack(record)
        await asyncio.sleep(0)  # the seeks asked for run
        return done

    return asyncio.run(hand())


def test_a_partitions_records_are_handled_in_order_and_one_left_out_is_fetched_again(consumer: Any) -> None:
    tp = TP("t", 0)
    seeks = sought_partition(consumer, tp, committed=22)
    assert handled(consumer, [22, 23]) == [22, 23]
    # 24 left out on the way (skipped by Faust, dropped in a fetch): the records after it are passed over,
    # not counted, and the partition is fetched again from 24, once for the records already on their way
    assert handled(consumer, [25, 26, 27]) == []
    assert seeks == [(tp, 24)]
    assert consumer._new_offset(tp) == 24
    consumer._committed_offset[tp] = 24  # committed
    # fetched again: 24 first, then what follows; a record handled before, fetched again, is passed over
    assert handled(consumer, [23, 24, 25, 26, 27]) == [24, 25, 26, 27]
    assert consumer._new_offset(tp) == 28
    assert seeks == [(tp, 24)]


def test_a_record_skipped_during_a_rebalance_does_not_count_and_the_next_generation_starts_at_it(
    consumer: Any,
) -> None:
    tp = TP("t", 0)
    sought_partition(consumer, tp, committed=22)
    skipped = a_record(consumer, 22, generation=1)
    assert not consumer.passes_over(skipped)
    consumer.app.consumer_generation_id = 2  # a rebalance while it was handled: Faust acknowledges it
    assert consumer.ack(skipped) is False and skipped.acked
    assert consumer._new_offset(tp) is None
    consumer.stop_flow()
    seeks = sought_partition(consumer, tp, committed=22)
    consumer.app.consumer_generation_id = 2
    assert handled(consumer, [22, 23], generation=2) == [22, 23]
    assert consumer._new_offset(tp) == 24 and seeks == []


def test_records_before_the_seek_are_passed_over_and_their_partitions_sought_again(consumer: Any) -> None:
    tp = TP("t", 0)
    consumer.app.consumer_generation_id = 1
    consumer.app.flow_control.resume()
    # Faust resumes the streams before it seeks them: what reaches them then comes again after the seek
    early = a_record(consumer, 370)
    assert consumer.passes_over(early) and consumer.ack(early) is False
    seeks = sought_partition(consumer, tp, committed=358)
    assert consumer._committed_offset[tp] == 358
    assert seeks == [(tp, 358)]
    assert handled(consumer, [358, 359, 360]) == [358, 359, 360]
    assert consumer._new_offset(tp) == 361


def test_a_partition_whose_committed_records_retention_deleted_starts_at_its_first(consumer: Any) -> None:
    tp = TP("t", 0)
    consumer.app.consumer_generation_id = 1
    consumer.app.flow_control.resume()

    async def earliest_offsets(*partitions: TP) -> dict[TP, int]:
        return {partition: 40 for partition in partitions}

    async def seek_to_committed() -> dict[TP, int]:
        return {tp: 12}

    consumer.seek_to_committed = seek_to_committed
    consumer.earliest_offsets = earliest_offsets
    consumer.app.topics.acking_topics.add(tp.topic)
    consumer.assignment = lambda: {tp}
    asyncio.run(consumer.perform_seek())
    assert consumer._committed_offset[tp] == 40  # not fetched again from 12 for ever
    assert handled(consumer, [40, 41]) == [40, 41]
    assert consumer._new_offset(tp) == 42


def test_a_partition_waiting_for_a_record_the_broker_has_is_fetched_again(consumer: Any) -> None:
    tp = TP("t", 0)
    seeks = sought_partition(consumer, tp, committed=5)
    assert handled(consumer, [5, 6]) == [5, 6]
    highwater = {tp: 7}
    consumer.highwater = lambda partition: highwater[partition]

    async def checks(times: int) -> None:
        for _ in range(times):
            consumer.check_stalled()
        await asyncio.sleep(0)

    asyncio.run(checks(3))
    assert seeks == []  # caught up: nothing to wait for
    highwater[tp] = 9  # 7 and 8 on the broker; 7 lost on its way, and 8 with it
    asyncio.run(checks(1))
    assert seeks == []  # once may be a record on its way
    asyncio.run(checks(1))
    assert seeks == [(tp, 7)]
    assert handled(consumer, [7, 8]) == [7, 8]
    asyncio.run(checks(3))
    assert seeks == [(tp, 7)]


def test_a_partition_whose_records_keep_coming_is_not_fetched_again(consumer: Any) -> None:
    tp = TP("t", 0)
    seeks = sought_partition(consumer, tp, committed=5)
    consumer.highwater = lambda partition: 100  # a backlog on the broker
    for offset in range(5, 9):
        assert handled(consumer, [offset]) == [offset]
        consumer.check_stalled()
    assert seeks == []


def test_a_record_acknowledged_without_reaching_a_handler_does_not_count(consumer: Any) -> None:
    tp = TP("t", 0)
    seeks = sought_partition(consumer, tp, committed=44)
    # Faust acknowledges it by some path of its own, in this generation, the flow running: it never came
    # through the stream to a handler, so it holds the commit and comes again after the records behind it
    elsewhere = a_record(consumer, 44)
    assert consumer.ack(elsewhere) is False and elsewhere.acked
    assert consumer._new_offset(tp) is None
    assert handled(consumer, [45]) == [] and seeks == [(tp, 44)]
    assert handled(consumer, [44, 45]) == [44, 45]
    assert consumer._new_offset(tp) == 46


def test_a_streams_acknowledgement_goes_through_the_consumer(consumer: Any) -> None:
    # Faust's compiled iterator appends to the consumer's acknowledged list itself, past Consumer.ack; its
    # Python iterator acknowledges an event as `Message.ack(consumer)`, which ends in Consumer.ack
    assert faust.streams._CStreamIterator is None
    tp = TP("t", 0)
    sought_partition(consumer, tp, committed=5)
    records = [ConsumerMessage("t", 0, n, 0.0, 0, [], b"k", b"v", None, generation_id=1) for n in (6, 5)]

    async def stream() -> list[tuple[bool, bool]]:  # 6 came first: passed over, then 5 handed over
        done = [(consumer.passes_over(r), r.ack(consumer)) for r in records]
        await asyncio.sleep(0)
        return done

    assert asyncio.run(stream()) == [(True, False), (False, True)]
    assert consumer._acked[tp] == [5]


def test_a_partition_sought_twice_in_a_generation_keeps_what_it_handed(consumer: Any) -> None:
    tp = TP("t", 0)
    sought_partition(consumer, tp, committed=5)
    assert handled(consumer, [5, 6, 7]) == [5, 6, 7]
    asyncio.run(consumer.perform_seek())  # Faust seeks the streams again once its recovery completes
    assert consumer._new_offset(tp) == 8
    assert handled(consumer, [5, 6, 7, 8]) == [8]  # fetched again from 5: handled before, passed over


def test_a_partition_moved_away_is_neither_watched_nor_fetched_again(consumer: Any) -> None:
    tp, other = TP("t", 0), TP("t", 1)
    seeks = sought_partition(consumer, tp, committed=5)
    consumer.highwater = lambda partition: 100
    consumer.assignment = lambda: {other}  # a rebalance Faust ran without stopping the flow first
    asyncio.run(consumer.perform_seek())
    assert tp not in consumer._next and tp not in consumer._sought

    async def checks() -> None:
        for _ in range(3):
            consumer.check_stalled()  # raised KeyError, which stopped the worker
        await asyncio.sleep(0)

    asyncio.run(checks())
    assert (tp, 5) not in seeks and (other, 0) in seeks  # the partition it holds now is watched
