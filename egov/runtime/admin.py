"""Topic administration: create the registry's topics before any service reads or writes them.

The broker refuses to create topics on first use (`auto.create.topics.enable=false`), so a typo can never
create a stray topic; this module creates exactly the registry's topics, idempotently.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from egov.runtime.settings import Settings
from egov.runtime.topics import TopicSpec, all_topics


class BrokerUnavailable(RuntimeError):
    """No broker answers at the configured address."""


@asynccontextmanager
async def admin_client(
    settings: Settings, *, timeout: float | None = None, client_id: str = "egov-admin"
) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on the way out; BrokerUnavailable when no broker answers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id=client_id)
    try:
        await asyncio.wait_for(admin.start(), timeout)
    except (KafkaConnectionError, TimeoutError) as exc:
        await admin.close()
        raise BrokerUnavailable(
            f"No Kafka broker answers at {settings.kafka_bootstrap_servers}. Start one with "
            "`egov kafka start` (or `make kafka-start`), or set EGOV_KAFKA_BOOTSTRAP_SERVERS."
        ) from exc
    try:
        yield admin
    finally:
        await admin.close()


#: Topic configuration of table changelogs: only the latest value of each key matters.
COMPACTED = {"cleanup.policy": "compact"}


async def ensure_topics(
    settings: Settings,
    specs: Iterable[TopicSpec] | None = None,
    *,
    changelogs: Iterable[str] = (),
) -> list[str]:
    """Create the topics that do not exist yet, and the named table changelogs (compacted); returns the names
    created. Creating a service's changelogs before its worker starts spares the worker a window in which its
    tables have no changelog in the broker's metadata yet."""
    wanted = {s.full_name(settings.topic_prefix) for s in (specs if specs is not None else all_topics())}
    compacted = set(changelogs)
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = sorted((wanted | compacted) - existing)
        if missing:
            try:
                response = await admin.create_topics(
                    [
                        NewTopic(
                            n,
                            settings.partitions,
                            settings.replication_factor,
                            topic_configs=COMPACTED if n in compacted else {},
                        )
                        for n in missing
                    ]
                )
            except TopicAlreadyExistsError:
                return []  # another process created them meanwhile: the goal is reached
            failed = [
                f"{err[0]}: error {err[1]} {err[2] if len(err) > 2 else ''}".strip()
                for err in response.topic_errors
                if err[1] not in (0, TopicAlreadyExistsError.errno)
            ]
            if failed:
                raise RuntimeError("The broker refused to create topics: " + "; ".join(failed))
        return missing
