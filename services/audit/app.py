"""audit wiring: append every record of every topic of the registry to the hash-chained audit log.

The records are read as they are (bytes and headers, valid or not: a malformed record is evidence too), in
partition order, one agent per topic. A record already logged (a redelivery after a restart) is skipped by
its offset. Every few seconds, each partition with new entries gets a signed checkpoint, after its file is
forced to disk. `egov audit verify` checks the log (egov/platform/audit.py).
"""

from __future__ import annotations

import asyncio

from egov.platform.audit import AuditLog, checkpoint_key, new_entry
from egov.runtime.engine import Engine
from egov.runtime.events import Message
from egov.runtime.service import Service
from egov.runtime.settings import Settings
from services import SERVICES, all_topics

#: Seconds between two rounds of signed checkpoints.
CHECKPOINT_EVERY = 5.0


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("audit", default_port=SERVICES["audit"].port, settings=settings, engine=engine)
    directory = settings.state_dir / "audit"
    log = AuditLog(directory)
    #: Partitions with entries since their last checkpoint.
    unsigned: set[tuple[str, int]] = set()

    def record(message: Message) -> None:
        topic = str(message.topic).removeprefix(settings.topic_prefix)
        last_offset, last_hash = log.last(topic, message.partition)
        if message.offset <= last_offset:
            return  # logged before (a redelivery)
        headers = dict(message.headers or [])
        log.append(
            new_entry(
                topic=topic,
                partition=message.partition,
                offset=message.offset,
                timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
                key=message.key,
                value=message.value,
                headers={k: v if isinstance(v, bytes) else str(v).encode() for k, v in headers.items()},
                prev=last_hash,
            )
        )
        unsigned.add((topic, message.partition))

    async def keep(message: Message) -> None:
        # Never let an error escape (Faust would acknowledge the record unlogged): a failed write (disk full)
        # is cut back and tried again until it succeeds.
        delay = 0.5
        while True:
            try:
                record(message)
                return
            except OSError as exc:
                service.log.error("audit.write_failed", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)  # back-off before writing the same record again
                delay = min(delay * 2, 30.0)

    async def checkpoints() -> None:
        key = checkpoint_key(directory)
        signed_at = service.clock.now().isoformat()
        for topic, partition in sorted(unsigned):
            log.checkpoint(key, topic, partition, signed_at)
        unsigned.clear()

    for spec in all_topics():
        service.consume_raw(spec, keep, name=spec.name)
    service.every(CHECKPOINT_EVERY, checkpoints, name="checkpoints")
    return service
