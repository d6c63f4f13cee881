"""Gathering what a running broker shows: consumer groups with their assignments and committed offsets, and
the latest records of each partition of each modelled topic (headers only)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import TypeVar

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

from egov.contracts.envelope import decode_headers
from egov.runtime.admin import admin_client
from egov.runtime.settings import Settings
from egov.tools.architecture.model import get_model
from egov.tools.architecture.observe.findings import (
    BrokerSnapshot,
    ObservationReport,
    SampledRecord,
    analyse,
)

CLIENT_ID = "egov-arch-observe"

T = TypeVar("T")


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
        **settings.kafka_options(),
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
    report = analyse(model, snapshot)
    report.security = settings.kafka_security
    return report
