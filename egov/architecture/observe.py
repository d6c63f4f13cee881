"""`egov arch observe`: does the live traffic still conform to the architecture model?

`egov arch verify` checks what the code declares; a broker also carries what nobody declared: a script that
writes to a topic it does not own, a reporting job that reads dossiers under its own consumer group, a
service that was never deployed so its flow is silent. `observe` looks at a running broker and compares what
it sees with `architecture/model.yaml`:

- **consumers**: every consumer group is read from the broker, and a group *reads* a topic when a current
  member is assigned one of its partitions (DescribeGroups, the members' `member_assignment` decoded as the
  consumer protocol's assignment) **or** the group has a committed offset on it (OffsetFetch). Both are
  needed: the assignment shows who reads now (a Faust worker between commits, a reader that never commits),
  the committed offsets show who has read and will resume (a stopped job, or a group using the new consumer
  protocol, which DescribeGroups does not describe). Only the modelled topics under the settings' topic
  prefix count; a group that reads none of them is none of our business and is not reported, whatever its
  name. So a reader that has left its group and committed nothing (the test helpers' `test-reader-…`
  groups, `kafka-console-consumer`) leaves no trace; while it is connected it is reported like any other.
  A group maps to a service when its id is `<prefix>egov-<service>` (or `egov-<service>`), the Faust app id
  of that service (`egov.runtime.service`); a group reading a topic whose readers in the model do not
  include its service (or that maps to no service) is a **rogue consumer**.
- **producers**: the latest `sample_per_partition` records of each partition of each modelled topic are
  read without a consumer group (assigned partitions, nothing committed) and only their headers are looked
  at. The writer of a record is its `egov_writer` header (stamped by `Service.send_raw`), else the service
  named by its `ce_source` (`/egov/<service>`), else `unknown`; a writer that is not the topic's owner is a
  **rogue producer**; a `ce_type` that is not among the topic's event types in `egov.runtime.topics` is an
  **unexpected event type**.
- **flows**: a step of an *implemented* flow whose topic shows no sampled record of the step's event type
  written by the step's service saw **no traffic** (only the sampled window counts: an old event that has
  scrolled out of the latest records is not seen).
- a modelled topic missing on the broker is reported too; topics outside the model (Faust's changelog and
  assignor topics, other tenants' topics) are ignored.

Names in the findings are the model's, without the prefix (which the summary states). Gathering (`observe`)
is separate from judging (`analyse`, a pure function of the model and a `BrokerSnapshot`), so the rules can
be tested without a broker. Any finding makes the command exit 1.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import click
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import (
    DescribeGroupsRequest_v0,
    DescribeGroupsRequest_v1,
    DescribeGroupsRequest_v2,
)
from aiokafka.protocol.api import Request, Response
from aiokafka.structs import TopicPartition

from egov.architecture.model import ArchitectureModel, get_model
from egov.runtime.admin import BrokerUnavailable, admin_client
from egov.runtime.envelope import decode_headers
from egov.runtime.service import APP_ID_PREFIX, SOURCE_PREFIX, WRITER_HEADER
from egov.runtime.settings import Settings, get_settings
from egov.runtime.topics import all_topics

UNKNOWN_WRITER = "unknown"
CLIENT_ID = "egov-arch-observe"

T = TypeVar("T")


# -- what the broker shows ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampledRecord:
    """The headers of one record of a modelled topic (topic named without the prefix)."""

    topic: str
    partition: int
    offset: int
    headers: Mapping[str, str]

    @property
    def writer(self) -> str:
        writer = self.headers.get(WRITER_HEADER)
        if writer:
            return writer
        return service_of_source(self.headers.get("ce_source")) or UNKNOWN_WRITER

    @property
    def event_type(self) -> str | None:
        return self.headers.get("ce_type") or None


@dataclass
class BrokerSnapshot:
    """What `observe` gathered: modelled topics present, who reads them, and the sampled records."""

    prefix: str
    topics_present: set[str] = field(default_factory=set)
    #: group id (as on the broker) → modelled topic → how the group reads it ("assigned", "committed")
    group_reads: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    groups_seen: int = 0
    records: list[SampledRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_read(self, group: str, topic: str, how: str) -> None:
        self.group_reads.setdefault(group, {}).setdefault(topic, set()).add(how)


def service_of_group(group_id: str, prefix: str) -> str | None:
    """The service whose Faust app has this group id: `<prefix>egov-<service>` (or `egov-<service>`)."""
    name = _display_group(group_id, prefix)
    if name.startswith(APP_ID_PREFIX) and len(name) > len(APP_ID_PREFIX):
        return name[len(APP_ID_PREFIX) :]
    return None


def service_of_source(source: str | None) -> str | None:
    """The service named by a CloudEvents source `/egov/<service>`."""
    if source and source.startswith(SOURCE_PREFIX):
        rest = source[len(SOURCE_PREFIX) :].strip("/")
        return rest or None
    return None


def _display_group(group_id: str, prefix: str) -> str:
    return group_id[len(prefix) :] if prefix and group_id.startswith(prefix) else group_id


def _type_label(event_type: str | None) -> str:
    return event_type or "a record without ce_type"


def _where(partition: int, offset: int, count: int) -> str:
    if count == 1:
        return f"offset {offset} of partition {partition}"
    return f"{count} records, first seen at offset {offset} of partition {partition}"


# -- findings -------------------------------------------------------------------------------------------
class _Finding:
    """A finding prints as its one-line message."""

    @property
    def message(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class MissingTopic(_Finding):
    topic: str

    @property
    def message(self) -> str:
        return f"missing topic: {self.topic} is in the model but not on the broker"


@dataclass(frozen=True)
class RogueProducer(_Finding):
    writer: str
    event_type: str | None
    topic: str
    owner: str
    partition: int
    offset: int
    count: int = 1

    @property
    def message(self) -> str:
        return (
            f"rogue producer: '{self.writer}' wrote {_type_label(self.event_type)} to {self.topic}, "
            f"whose only writer is {self.owner} ({_where(self.partition, self.offset, self.count)})"
        )


@dataclass(frozen=True)
class RogueConsumer(_Finding):
    group: str
    """The group id as on the broker."""
    display: str
    """The group id without the run's prefix, as the message shows it."""
    service: str | None
    topic: str
    allowed: tuple[str, ...]
    via: tuple[str, ...]

    @property
    def message(self) -> str:
        allowed = (
            f"the model allows {', '.join(self.allowed)}" if self.allowed else "the model allows no reader"
        )
        service = f" (service {self.service})" if self.service else ""
        return (
            f"rogue consumer: group '{self.display}'{service} reads {self.topic}; {allowed} "
            f"(seen in its {' and '.join(self.via)})"
        )


@dataclass(frozen=True)
class UnexpectedEventType(_Finding):
    event_type: str | None
    topic: str
    writer: str
    expected: tuple[str, ...]
    partition: int
    offset: int
    count: int = 1

    @property
    def message(self) -> str:
        return (
            f"unexpected event type: {_type_label(self.event_type)} on {self.topic} (written by "
            f"'{self.writer}'), whose event types are {', '.join(self.expected)} "
            f"({_where(self.partition, self.offset, self.count)})"
        )


@dataclass(frozen=True)
class NoTraffic(_Finding):
    flow: str
    step: int
    event: str
    topic: str
    from_: str

    @property
    def message(self) -> str:
        return (
            f"no traffic: flow {self.flow} step {self.step} ({self.from_} → {self.event}) saw no record of "
            f"that type written by {self.from_} on {self.topic}"
        )


Finding = MissingTopic | RogueProducer | RogueConsumer | UnexpectedEventType | NoTraffic


@dataclass
class ObservationReport:
    """What `observe` found, with counts of what it looked at."""

    prefix: str
    topics_modelled: int
    topics_present: int
    groups_seen: int
    groups_reading: int
    records_sampled: int
    missing_topics: list[MissingTopic] = field(default_factory=list)
    rogue_producers: list[RogueProducer] = field(default_factory=list)
    rogue_consumers: list[RogueConsumer] = field(default_factory=list)
    unexpected_event_types: list[UnexpectedEventType] = field(default_factory=list)
    no_traffic: list[NoTraffic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [
            *self.missing_topics,
            *self.rogue_producers,
            *self.rogue_consumers,
            *self.unexpected_event_types,
            *self.no_traffic,
        ]

    @property
    def ok(self) -> bool:
        return not self.findings

    def render(self) -> str:
        prefix = f" (topic prefix {self.prefix!r})" if self.prefix else ""
        lines = [
            f"observed{prefix}: {self.topics_present} of {self.topics_modelled} modelled topics on the "
            f"broker, {self.groups_seen} consumer groups ({self.groups_reading} reading modelled topics), "
            f"{self.records_sampled} records sampled",
            *(f"note: {note}" for note in self.notes),
            *(finding.message for finding in self.findings),
        ]
        findings = len(self.findings)
        lines.append("traffic conforms to the model" if not findings else f"{findings} finding(s)")
        return "\n".join(lines)


# -- judging --------------------------------------------------------------------------------------------
def analyse(model: ArchitectureModel, snapshot: BrokerSnapshot) -> ObservationReport:
    """Compare what the broker showed with the model (pure: no I/O)."""
    registry = {spec.name: spec for spec in all_topics()}
    report = ObservationReport(
        prefix=snapshot.prefix,
        topics_modelled=len(model.topics),
        topics_present=sum(1 for t in model.topics if t.name in snapshot.topics_present),
        groups_seen=snapshot.groups_seen,
        groups_reading=len(snapshot.group_reads),
        records_sampled=len(snapshot.records),
        notes=list(snapshot.notes),
    )
    report.missing_topics = [
        MissingTopic(t.name) for t in model.topics if t.name not in snapshot.topics_present
    ]

    for group, reads in sorted(snapshot.group_reads.items()):
        service = service_of_group(group, snapshot.prefix)
        for topic_name, how in sorted(reads.items()):
            topic = model.topic(topic_name)
            if topic is None or (service is not None and service in topic.readers):
                continue
            report.rogue_consumers.append(
                RogueConsumer(
                    group=group,
                    display=_display_group(group, snapshot.prefix),
                    service=service,
                    topic=topic_name,
                    allowed=topic.readers,
                    via=tuple(sorted(how)),
                )
            )

    # One finding per topic, writer and type, however many records: the first one tells where to look.
    rogue: dict[tuple[str, str, str, str | None], list[SampledRecord]] = {}
    unexpected: dict[tuple[str, tuple[str, ...], str | None, str], list[SampledRecord]] = {}
    for record in snapshot.records:
        topic = model.topic(record.topic)
        if topic is None:
            continue
        if record.writer != topic.owner:
            rogue.setdefault((record.topic, topic.owner, record.writer, record.event_type), []).append(record)
        spec = registry.get(record.topic)
        if spec is not None and record.event_type not in spec.events:
            key = (record.topic, spec.events, record.event_type, record.writer)
            unexpected.setdefault(key, []).append(record)
    for (topic_name, owner, writer, event_type), records in rogue.items():
        first = min(records, key=lambda r: (r.partition, r.offset))
        report.rogue_producers.append(
            RogueProducer(writer, event_type, topic_name, owner, first.partition, first.offset, len(records))
        )
    for (topic_name, expected, event_type, writer), records in unexpected.items():
        first = min(records, key=lambda r: (r.partition, r.offset))
        report.unexpected_event_types.append(
            UnexpectedEventType(
                event_type, topic_name, writer, expected, first.partition, first.offset, len(records)
            )
        )

    # A step saw traffic only when the service the step names wrote that event there: a rogue's record of the
    # same type is reported as a rogue producer and does not stand in for the flow.
    seen = {(r.topic, r.event_type, r.writer) for r in snapshot.records}
    for flow in model.flows:
        if flow.status != "implemented":
            continue
        for number, step in enumerate(flow.steps, start=1):
            if step.topic and (step.topic, step.event, step.from_) not in seen:
                report.no_traffic.append(NoTraffic(flow.id, number, step.event, step.topic, step.from_))
    return report


# -- gathering ------------------------------------------------------------------------------------------
class _DescribeGroups(
    Request[DescribeGroupsRequest_v0 | DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2]
):
    """DescribeGroups at v2 at most.

    aiokafka 0.14's `describe_consumer_groups` negotiates v3 but parses the answer with the v2 schema
    (`DescribeGroupsRequest_v3.RESPONSE_TYPE = DescribeGroupsResponse_v2`), missing v3's trailing
    `authorized_operations`: decoding fails ("Buffer underrun") and the connection is closed. v2 has all
    this module needs.
    """

    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(
        self,
        request_struct_class: type[
            DescribeGroupsRequest_v0 | DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2
        ],
    ) -> DescribeGroupsRequest_v0 | DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2:
        return request_struct_class(self._groups)


async def _describe_groups(admin: AIOKafkaAdminClient, group_ids: list[str]) -> list[Response]:
    """The DescribeGroups answers for these groups, one request per coordinator."""
    coordinators = await asyncio.gather(*(admin.find_coordinator(g) for g in group_ids))
    by_coordinator: dict[int, list[str]] = {}
    for group_id, node_id in zip(group_ids, coordinators, strict=True):
        by_coordinator.setdefault(node_id, []).append(group_id)
    return list(
        await asyncio.gather(
            *(
                admin._send_request(_DescribeGroups(groups), node_id)  # no public way to pin the version
                for node_id, groups in by_coordinator.items()
            )
        )
    )


async def _bounded(awaitable: Awaitable[T], timeout: float, what: str) -> T:
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise TimeoutError(f"{what} did not answer within {timeout}s") from None


def _assigned_topics(member_assignment: bytes | None) -> set[str]:
    """Topics in a consumer-protocol member assignment (Faust's assignor uses the same wire format)."""
    if not member_assignment:
        return set()
    try:
        assignment = ConsumerProtocolMemberAssignment.decode(member_assignment)
    except Exception:  # not the consumer protocol's format (another protocol type, a truncated blob)
        return set()
    return {topic for topic, partitions in assignment.assignment if partitions}


async def _read_groups(
    admin: AIOKafkaAdminClient, snapshot: BrokerSnapshot, modelled: Mapping[str, str], timeout: float
) -> None:
    """Fill `snapshot.group_reads` from the members' assignments and the committed offsets."""
    listed = await _bounded(admin.list_consumer_groups(), timeout, "listing consumer groups")
    group_ids = sorted({str(g[0]) for g in listed})
    snapshot.groups_seen = len(group_ids)
    if not group_ids:
        return
    try:
        responses = await _bounded(_describe_groups(admin, group_ids), timeout, "describing groups")
    except KafkaError as exc:
        snapshot.notes.append(f"groups not described ({exc!r}); only committed offsets were read")
        responses = []
    for response in responses:
        for group in response.to_object()["groups"]:
            if group["error_code"]:
                continue  # gone since it was listed, or not a classic group: its offsets still tell
            if group["protocol_type"] not in ("consumer", ""):
                continue
            for member in group["members"]:
                for full_name in _assigned_topics(member["member_assignment"]):
                    if full_name in modelled:
                        snapshot.add_read(group["group"], modelled[full_name], "members' assignment")

    async def offsets(group_id: str) -> None:
        try:
            committed = await _bounded(
                admin.list_consumer_group_offsets(group_id), timeout, f"offsets of group {group_id}"
            )
        except (KafkaError, TimeoutError) as exc:
            snapshot.notes.append(f"committed offsets of group {group_id!r} not read: {exc!r}")
            return
        for tp, meta in committed.items():
            if meta.offset >= 0 and tp.topic in modelled:
                snapshot.add_read(group_id, modelled[tp.topic], "committed offsets")

    await asyncio.gather(*(offsets(g) for g in group_ids))


async def _sample(
    settings: Settings,
    snapshot: BrokerSnapshot,
    partitions: Mapping[str, Iterable[int]],
    modelled: Mapping[str, str],
    per_partition: int,
    timeout: float,
) -> None:
    """Read the headers of the latest `per_partition` records of each partition, without a group."""
    tps = [TopicPartition(topic, p) for topic, ps in partitions.items() for p in ps]
    if not tps:
        return
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        client_id=CLIENT_ID,
    )
    try:
        await _bounded(consumer.start(), timeout, "the broker (sampling consumer)")
        consumer.assign(tps)
        begin = await _bounded(consumer.beginning_offsets(tps), timeout, "beginning offsets")
        end = await _bounded(consumer.end_offsets(tps), timeout, "end offsets")
        wanted = {tp: end[tp] for tp in tps if end[tp] > begin[tp]}
        if not wanted:
            return
        consumer.assign(list(wanted))
        for tp, stop in wanted.items():
            consumer.seek(tp, max(begin[tp], stop - per_partition))
        pending = set(wanted)
        deadline = time.monotonic() + timeout
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                left = ", ".join(sorted(f"{modelled[tp.topic]}[{tp.partition}]" for tp in pending))
                snapshot.notes.append(f"sampling incomplete after {timeout}s: {left}")
                return
            batch = await consumer.getmany(*pending, timeout_ms=int(min(remaining, 1.0) * 1000))
            for tp, messages in batch.items():
                snapshot.records.extend(
                    SampledRecord(modelled[tp.topic], tp.partition, m.offset, decode_headers(m.headers))
                    for m in messages
                    if m.offset < wanted[tp]
                )
            for tp in list(pending):
                if await consumer.position(tp) >= wanted[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()


async def observe(
    settings: Settings, *, sample_per_partition: int = 200, timeout: float = 10.0
) -> ObservationReport:
    """Read the broker's consumer groups and sample each modelled topic's headers; judge with the model.

    `timeout` bounds each request to the broker and the whole sampling. Raises `BrokerUnavailable` when no
    broker answers.
    """
    model = get_model()
    prefix = settings.topic_prefix
    #: full name on the broker → model name
    modelled = {f"{prefix}{t.name}": t.name for t in model.topics}
    snapshot = BrokerSnapshot(prefix=prefix)
    async with admin_client(settings, timeout=timeout, client_id=CLIENT_ID) as admin:
        partitions: dict[str, list[int]] = {}
        for topic in await _bounded(admin.describe_topics(), timeout, "topic metadata"):
            if topic["topic"] in modelled and not topic["error_code"]:
                snapshot.topics_present.add(modelled[topic["topic"]])
                partitions[topic["topic"]] = sorted(p["partition"] for p in topic["partitions"])
        await _read_groups(admin, snapshot, modelled, timeout)
    await _sample(settings, snapshot, partitions, modelled, sample_per_partition, timeout)
    return analyse(model, snapshot)


# -- command --------------------------------------------------------------------------------------------
@click.command("observe")
@click.option(
    "--sample",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Latest records read per partition of each modelled topic.",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds allowed for each request to the broker and for the sampling.",
)
def arch_observe_command(sample: int, timeout: float) -> None:
    """Compare the live traffic with architecture/model.yaml; exit 1 on any finding, 2 without a broker.

    Reports consumer groups and record writers the model does not allow, event types a topic does not
    carry, modelled topics missing on the broker and steps of implemented flows that saw no traffic.
    """
    settings = get_settings()
    try:
        report = asyncio.run(observe(settings, sample_per_partition=sample, timeout=timeout))
    except (BrokerUnavailable, TimeoutError, KafkaError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(report.render())
    sys.exit(0 if report.ok else 1)


__all__ = [
    "BrokerSnapshot",
    "MissingTopic",
    "NoTraffic",
    "ObservationReport",
    "RogueConsumer",
    "RogueProducer",
    "SampledRecord",
    "UnexpectedEventType",
    "analyse",
    "arch_observe_command",
    "observe",
    "service_of_group",
    "service_of_source",
]
