"""The audit service's wiring on the fake runtime: every record of every topic into the hash chain, in a
segment per instance of the topic (the broker that tells the topics' identities is a fake here)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

from egov.contracts.topics import EventTypes, Topics
from egov.platform.audit import TopicIdentity
from egov.platform.audit_verify import describe, verify
from egov.runtime.settings import Settings
from egov.runtime.testing import FakeRuntime
from services import all_topics
from services.audit.app import build
from tests.handlers.conftest import example

TOPIC = Topics.NOTIFICATIONS.name


class FakeBroker:
    """Tells each topic's identity, as a broker's metadata would; a test creates topics again."""

    def __init__(self) -> None:
        self.cluster = "cluster-1"
        self.generation: dict[str, int] = {}
        self.asked = 0
        self.failures = 0

    def recreate(self, topic: str) -> None:
        self.generation[topic] = self.generation.get(topic, 1) + 1

    async def identify(self, names: Sequence[str]) -> Mapping[str, TopicIdentity]:
        self.asked += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the broker does not answer")
        return {n: TopicIdentity(self.cluster, f"{n}#{self.generation.get(n, 1)}") for n in names}


def started(start: Callable[..., FakeRuntime], broker: FakeBroker) -> FakeRuntime:
    return start(partial(build, identify=broker.identify))


def lines(settings: Settings, partition: int = 0) -> list[dict[str, object]]:
    path = settings.state_dir / "audit" / TOPIC / f"{partition}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_it_reads_every_topic_of_the_registry(start) -> None:  # type: ignore[no-untyped-def]
    audit = started(start, FakeBroker())
    assert set(audit.engine.subscribers) == {t.name for t in all_topics()}


def test_records_valid_or_not_are_chained_and_a_checkpoint_signs_them(start, settings) -> None:  # type: ignore[no-untyped-def]
    # Given the audit service, When a valid event and bytes that are no event arrive
    audit = started(start, FakeBroker())
    received = example(EventTypes.DOSSIER_RECEIVED, applicant=None)
    audit.deliver(
        Topics.DOSSIERS, received, key=str(received["dossier_code"]), event_type=EventTypes.DOSSIER_RECEIVED
    )
    audit.deliver_bytes(Topics.DOSSIERS, key=b"k", value=b"\x00garbage")
    # and its checkpoint round runs
    audit.run_checks()
    # Then both are in the log, chained, and signed; nothing is published
    result = verify(settings.state_dir / "audit")
    assert result.ok, result.problems
    assert (result.entries, result.checkpoints, result.unsigned) == (2, 1, [])
    assert audit.published == []


def test_a_record_logged_before_is_not_logged_again(start, settings) -> None:  # type: ignore[no-untyped-def]
    broker = FakeBroker()
    audit = started(start, broker)
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"v", offset=5)
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"v", offset=5)  # redelivered after a restart
    audit.run_checks()
    assert verify(settings.state_dir / "audit").entries == 1
    assert broker.asked == 2  # once for the first record, once by the checkpoint round; not per redelivery


def test_a_topic_created_again_opens_a_new_segment_instead_of_being_skipped(start, settings) -> None:  # type: ignore[no-untyped-def]
    # Given five records logged from the topic
    broker = FakeBroker()
    audit = started(start, broker)
    for offset in range(5):
        audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=f"old {offset}".encode(), offset=offset)
    audit.run_checks()
    # When the topic is deleted and created again, and its new records start again at offset 0
    broker.recreate(TOPIC)
    for offset in range(3):
        audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=f"new {offset}".encode(), offset=offset)
    audit.run_checks()
    # Then they are logged, in a second segment that names the new topic id, and the log verifies
    result = verify(settings.state_dir / "audit")
    assert result.ok, result.problems
    assert result.entries == 8
    [first, second] = [line for line in lines(settings) if "segment" in line]
    assert (first["segment"], first["topic_id"], second["segment"], second["topic_id"]) == (
        0,
        f"{TOPIC}#1",
        1,
        f"{TOPIC}#2",
    )
    assert "created again" in str(second["reason"])
    [old, new] = describe(result.segments)
    assert "segment 0" in old and "offsets 0–4" in old
    assert "segment 1" in new and "offsets 0–2" in new and "created again" in new
    assert [(r.identity.topic_id if r.identity else None, r.ranges) for r in result.runs[(TOPIC, 0)]] == [
        (f"{TOPIC}#1", [(0, 4)]),
        (f"{TOPIC}#2", [(0, 2)]),
    ]


def test_another_broker_opens_a_new_segment_named_so(start, settings) -> None:  # type: ignore[no-untyped-def]
    broker = FakeBroker()
    audit = started(start, broker)
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"first broker", offset=0)
    broker.cluster = "cluster-2"  # `docker compose down`, `up`: a new broker, the audit's state kept
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"second broker", offset=0)
    segment = [line for line in lines(settings) if "segment" in line][-1]
    assert segment["cluster_id"] == "cluster-2" and "another broker" in str(segment["reason"])
    audit.run_checks()
    assert verify(settings.state_dir / "audit").entries == 2


def test_a_different_record_at_a_logged_offset_is_not_taken_for_a_redelivery(start, settings) -> None:  # type: ignore[no-untyped-def]
    # Given records logged, When the partition's offsets are reused with other records and the broker's
    # metadata does not show another topic (an unclean leader election, a broker without topic ids)
    broker = FakeBroker()
    audit = started(start, broker)
    for offset in range(3):
        audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=f"a {offset}".encode(), offset=offset)
    asked = broker.asked
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"b 1", offset=1)
    # Then the broker is asked again at once (was the topic just created again?), and a new segment holds it
    assert broker.asked == asked + 1
    segment = [line for line in lines(settings) if "segment" in line][-1]
    assert segment["segment"] == 1 and "history differs" in str(segment["reason"])
    audit.run_checks()
    result = verify(settings.state_dir / "audit")
    assert result.ok and result.entries == 4


def test_a_log_written_before_segments_is_continued(start, settings) -> None:  # type: ignore[no-untyped-def]
    # Given a partition's log of two entries without any segment line (an older audit wrote it)
    broker = FakeBroker()
    audit = started(start, broker)
    for offset in range(2):
        audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=f"{offset}".encode(), offset=offset)
    path = settings.state_dir / "audit" / TOPIC / "0.jsonl"
    entries = [line for line in path.read_text(encoding="utf-8").splitlines() if '"segment"' not in line]
    from egov.platform.audit import GENESIS, entry_hash

    prev = GENESIS
    rewritten = []
    for line in entries:
        entry = json.loads(line) | {"prev": prev}
        entry["hash"] = prev = entry_hash(entry)
        rewritten.append(json.dumps(entry))
    path.write_text("\n".join(rewritten) + "\n", encoding="utf-8")
    # When the upgraded audit starts on it and reads a redelivery, then the next records
    audit = started(start, broker)
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"1", offset=1)
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"2", offset=2)
    audit.run_checks()
    # Then the identity is recorded in a segment that continues the old entries, nothing logged twice
    result = verify(settings.state_dir / "audit")
    assert result.ok, result.problems
    assert result.entries == 3
    [segment] = [line for line in lines(settings) if "segment" in line]
    assert segment["continues"] is True and segment["topic_id"] == f"{TOPIC}#1"
    [run] = result.runs[(TOPIC, 0)]
    assert run.ranges == [(0, 2)] and run.identity == TopicIdentity("cluster-1", f"{TOPIC}#1")


def test_offsets_skipped_within_a_segment_are_named_by_verify(start, settings) -> None:  # type: ignore[no-untyped-def]
    broker = FakeBroker()
    audit = started(start, broker)
    for offset in (0, 1, 5):
        audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=f"{offset}".encode(), offset=offset)
    audit.run_checks()
    [problem] = verify(settings.state_dir / "audit").problems
    assert problem.kind == "missing" and "offsets 2–4 are missing" in problem.message


def test_a_broker_that_does_not_answer_delays_the_record_it_never_drops_it(start, settings) -> None:  # type: ignore[no-untyped-def]
    broker = FakeBroker()
    broker.failures = 1
    audit = started(start, broker)
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"v", offset=0)  # tried again after a back-off
    assert broker.asked == 2
    audit.run_checks()
    assert verify(settings.state_dir / "audit").entries == 1


def test_the_log_keeps_no_personal_data(start, settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    audit = started(start, FakeBroker())
    submitted = example(EventTypes.DOSSIER_SUBMITTED)
    audit.deliver(
        Topics.DOSSIER_SUBMISSIONS,
        submitted,
        key=str(submitted["submission_id"]),
        event_type=EventTypes.DOSSIER_SUBMITTED,
    )
    text = "\n".join(p.read_text(encoding="utf-8") for p in (settings.state_dir / "audit").glob("*/*.jsonl"))
    assert submitted["applicant"]["id_number"] not in text and submitted["contact"]["phone"] not in text
