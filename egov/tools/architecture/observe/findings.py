"""Judging what the broker shows against the model: the snapshot `observe` gathers, the findings, and
`analyse`, a pure function of the model and a snapshot (so the rules are tested without a broker)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from egov.contracts.envelope import APP_ID_PREFIX, SOURCE_PREFIX, WRITER_HEADER
from egov.tools.architecture.model import ArchitectureModel
from services import all_topics

UNKNOWN_WRITER = "unknown"


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
    #: The broker's security profile: what it enforces itself, and so what is left to observing.
    security: str = "sasl"

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
            enforcement(self.security),
            *(f"note: {note}" for note in self.notes),
            *(finding.message for finding in self.findings),
        ]
        findings = len(self.findings)
        lines.append("traffic conforms to the model" if not findings else f"{findings} finding(s)")
        return "\n".join(lines)


def enforcement(security: str) -> str:
    """What the broker enforces under its profile, and what this command can only observe."""
    if security == "plaintext":
        return (
            "enforced by the broker: nothing (plaintext profile: any client may read and write any topic); "
            "every finding below is only observed"
        )
    return (
        "enforced by the broker (secure profile, ACLs generated from the model): who may write and read each "
        "topic; only observed here: records of the super user or of an ACL added by hand (`egov arch acls "
        "--check` finds those), a topic's event types and writer header, flow steps without traffic"
    )


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
