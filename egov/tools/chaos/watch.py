"""What the topics show during a run: each dossier's code and final state, the notices sent, the dead letters,
and when each topic was written to (its stalls).

The watcher reads every topic of the run from its beginning, without a consumer group, as the operator's tools
do (docs/adr/0010), and keeps going until it is stopped, so a broker that dies under it is ridden out by the
client's own reconnection. A record written twice under the same `ce_id` (at-least-once delivery: a producer
that died after the write and before its offset was committed sends it again) is a redelivery, which
consumers drop; two different events for one thing (a second dossier code for a submission, a second notice
for one change) are duplicates, which must never happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from egov.contracts.envelope import decode_headers
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes, Topics, TopicSpec
from egov.runtime.settings import Settings

#: The final state a dossier of the run reaches (every department approves; every applicant answers).
FINAL = "RESULT_RETURNED"


@dataclass(frozen=True)
class Gap:
    """The longest time a topic went without a record while the load ran."""

    topic: str
    seconds: float
    start: float
    end: float


@dataclass
class Ledger:
    """What the watcher saw, by topic and by business identity."""

    #: Topic (without prefix) → the broker times (s) of its records, in the order read.
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: Submission id → dossier codes given to it; dossier code → submission ids it was given to.
    codes_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    submissions_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: Dossier code → when it was assigned to a department, and when it reached its final state.
    assigned: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    #: Notification id → the ids of the events that sent it.
    notices: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: (topic, ce_id) → records seen with it.
    records: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    #: Service → dead letters it wrote; and what each said (service, error, the topic read, the reason).
    dead_letters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    dead_letter_reasons: list[str] = field(default_factory=list)
    #: Dossier code → the last event seen of it (its type, and the status it changed to).
    last_seen: dict[str, str] = field(default_factory=dict)

    def where(self, submission_id: str) -> str:
        """Where a submission stands: not received, or its dossier's last event."""
        code = self.code(submission_id)
        return "not received" if code is None else self.last_seen.get(code, "received")

    def code(self, submission_id: str) -> str | None:
        codes = self.codes_of.get(submission_id)
        return min(codes) if codes else None

    @property
    def codes_issued_twice(self) -> list[str]:
        """Codes given to two submissions, and submissions given two codes."""
        twice = [code for code, ids in self.submissions_of.items() if len(ids) > 1]
        return twice + [sid for sid, codes in self.codes_of.items() if len(codes) > 1]

    @property
    def notices_sent_twice(self) -> list[str]:
        """Notices sent by two different events (a citizen told the same thing twice)."""
        return [nid for nid, events in self.notices.items() if len(events) > 1]

    @property
    def redelivered(self) -> int:
        """Records written again under an id already on their topic (dropped by every consumer)."""
        return sum(count - 1 for count in self.records.values() if count > 1)

    def gaps(self, start: float, end: float, *, min_rate: float = 0.5) -> list[Gap]:
        """For each topic written to at least `min_rate` records a second between `start` and `end` (broker
        time, s), its longest gap in that window, longest first."""
        found = []
        for topic, stamps in self.times.items():
            inside = sorted(t for t in stamps if start <= t <= end)
            if len(inside) < max(2, min_rate * (end - start)):
                continue
            edges = [start, *inside, end]
            seconds, at = max((b - a, a) for a, b in itertools.pairwise(edges))
            found.append(Gap(topic, seconds, at, at + seconds))
        return sorted(found, key=lambda gap: -gap.seconds)


class Watcher:
    """Reads the run's topics into a `Ledger` until stopped."""

    def __init__(self, settings: Settings, specs: Iterable[TopicSpec]) -> None:
        self.settings = settings
        self.prefix = settings.topic_prefix
        self.specs = list(specs)
        self.ledger = Ledger()
        self.registry = get_registry()
        self._stop = asyncio.Event()
        self.caught_up = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a broker killed under it is expected
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
            **self.settings.kafka_options(),
        )
        await consumer.start()
        try:
            cluster = await consumer._client.fetch_all_metadata()
            partitions = [
                TopicPartition(name, p)
                for spec in self.specs
                for name in [spec.full_name(self.prefix)]
                for p in sorted(cluster.partitions_for_topic(name) or ())
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    for message in batch:
                        self._take(message)
                if not batches:
                    self.caught_up.set()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _take(self, message: Any) -> None:
        topic = message.topic.removeprefix(self.prefix)
        ledger = self.ledger
        ledger.times[topic].append(message.timestamp / 1000.0)
        headers = decode_headers(message.headers)
        event_id = headers.get("ce_id", "")
        ledger.records[(topic, event_id)] += 1
        if topic.endswith(".dead-letters.v1"):
            ledger.dead_letters[topic.split(".")[1]] += 1
            ledger.dead_letter_reasons.append(
                f"{headers.get('dlq_service')}: {headers.get('dlq_error')} on "
                f"{str(headers.get('dlq_origin_topic', '')).removeprefix(self.prefix)}: "
                f"{str(headers.get('dlq_reason', ''))[:300]}"
            )
            return
        if topic == Topics.DOSSIERS.name:
            self._dossier(headers.get("ce_type"), message)
        elif topic == Topics.NOTIFICATIONS.name and message.value:
            _, record = self.registry.decode(message.value)
            ledger.notices[record["notification_id"]].add(event_id)

    def _dossier(self, event_type: str | None, message: Any) -> None:
        if event_type not in (
            EventTypes.DOSSIER_RECEIVED,
            EventTypes.DOSSIER_ASSIGNED,
            EventTypes.DOSSIER_STATUS_CHANGED,
        ):
            return
        _, record = self.registry.decode(message.value)
        code, at = record["dossier_code"], message.timestamp / 1000.0
        ledger = self.ledger
        short = str(event_type).rsplit(".", 1)[-1]
        ledger.last_seen[code] = f"{short} {record['to_status']}" if "to_status" in record else short
        if event_type == EventTypes.DOSSIER_RECEIVED:
            ledger.codes_of[record["submission_id"]].add(code)
            ledger.submissions_of[code].add(record["submission_id"])
        elif event_type == EventTypes.DOSSIER_ASSIGNED:
            ledger.assigned.setdefault(code, at)
        elif record["to_status"] == FINAL:
            ledger.final.setdefault(code, at)
