"""What the broker says about topics beyond what a consumer sees: the cluster's id, each topic's id, each
partition's first and next offsets, and a consumer group's committed offsets.

The audit needs the topic's id to tell a topic created again (or the same name on another broker) from the
one it logged (docs/adr/0015-robustness-at-the-edges.md). Kafka gives every topic an id when it is created
(KIP-516) and reports it in Metadata version 10 and later; aiokafka speaks Metadata only up to version 5, so
these questions go through confluent-kafka's AdminClient (librdkafka), which the admin step already uses.
Its calls block: an async caller runs them in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from egov.platform.audit import TopicIdentity
from egov.runtime.settings import Settings


class BrokerViewError(RuntimeError):
    """The broker did not answer, or refused the question; the message says which and where."""


class BrokerView:
    """Questions about topics, asked as `principal` (default: the process's own) of the settings' broker.
    Connects on the first question, not before."""

    def __init__(
        self,
        settings: Settings,
        *,
        principal: str | None = None,
        timeout: float = 10.0,
        client_id: str = "egov-broker-view",
    ) -> None:
        self.settings = settings
        self.principal = principal
        self.timeout = timeout
        self.client_id = client_id
        self._client: AdminClient | None = None

    @property
    def client(self) -> AdminClient:
        if self._client is None:
            credentials = self.settings.kafka_credentials(self.principal)
            config: dict[str, Any] = (
                dict(credentials.librdkafka(self.settings.kafka_bootstrap_servers))
                if credentials is not None
                else {"bootstrap.servers": self.settings.kafka_bootstrap_servers}
            )
            # librdkafka's own log stays silent: what fails reaches the caller through each answer
            config |= {"client.id": self.client_id, "log_level": 0}
            self._client = AdminClient(config)
        return self._client

    def _wait(self, what: str, future: Any) -> Any:
        try:
            return future.result(timeout=self.timeout)
        except (KafkaException, TimeoutError) as exc:
            who = f" as {self.principal}" if self.principal else ""
            why = str(exc) or f"no answer within {self.timeout:g} s"
            raise BrokerViewError(
                f"the broker at {self.settings.kafka_bootstrap_servers} did not tell {what}{who}: {why}"
            ) from exc

    def cluster_id(self) -> str:
        described = self._wait("its cluster id", self.client.describe_cluster(request_timeout=self.timeout))
        return str(described.cluster_id)

    def topics(self, names: Iterable[str]) -> dict[str, tuple[TopicIdentity, list[int]]]:
        """Topic name → (its identity, its partitions), for the named topics the broker has."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        cluster = self.cluster_id()
        futures = self.client.describe_topics(TopicCollection(wanted), request_timeout=self.timeout)
        found: dict[str, tuple[TopicIdentity, list[int]]] = {}
        for name, future in futures.items():
            try:
                described = self._wait(f"topic {name}", future)
            except BrokerViewError as exc:
                error = exc.__cause__.args[0] if exc.__cause__ and exc.__cause__.args else None
                if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue  # not (or no longer) on the broker
                raise
            identity = TopicIdentity(cluster, str(described.topic_id))
            found[name] = (identity, sorted(p.id for p in described.partitions))
        return found

    def identities(self, names: Iterable[str]) -> dict[str, TopicIdentity]:
        """Topic name → its identity (cluster and topic id), for the named topics the broker has."""
        return {name: identity for name, (identity, _) in self.topics(names).items()}

    def offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
        """(topic, partition) → (the first offset the broker still holds, the offset of its next record)."""
        wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
        if not wanted:
            return {}
        bounds: dict[tuple[str, int], list[int]] = {}
        for spec in (OffsetSpec.earliest(), OffsetSpec.latest()):
            futures = self.client.list_offsets({tp: spec for tp in wanted}, request_timeout=self.timeout)
            for tp, future in futures.items():
                bounds.setdefault((tp.topic, tp.partition), []).append(
                    int(self._wait(f"the offsets of {tp.topic}[{tp.partition}]", future).offset)
                )
        return {where: (found[0], found[1]) for where, found in bounds.items()}

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        """(topic, partition) → the offset the consumer group committed (the next record it will read)."""
        futures = self.client.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=self.timeout
        )
        answer = self._wait(f"the offsets of consumer group {group}", futures[group])
        return {
            (tp.topic, tp.partition): int(tp.offset)
            for tp in answer.topic_partitions or ()
            if tp.offset is not None and tp.offset >= 0 and not tp.error
        }


#: The identity of each named topic the broker has (full names): the adapter the audit service is built with.
Identify = Callable[[Sequence[str]], Awaitable[Mapping[str, TopicIdentity]]]


def broker_identities(settings: Settings, *, principal: str) -> Identify:
    """An `Identify` that asks the settings' broker, as `principal`, in a thread."""
    view = BrokerView(settings, principal=principal, client_id=f"{principal}-identities")

    async def identify(names: Sequence[str]) -> Mapping[str, TopicIdentity]:
        return await asyncio.to_thread(view.identities, names)

    return identify
