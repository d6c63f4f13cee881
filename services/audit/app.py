"""audit wiring: append every record of every topic of the registry to the hash-chained audit log.

The records are read as they are (bytes and headers, valid or not: a malformed record is evidence too), in
partition order, one agent per topic. A record already logged (a redelivery after a restart) is skipped by
its offset. Every few seconds, each partition with new entries gets a signed checkpoint, after its file is
forced to disk. `egov audit verify` checks the log (egov/audit.py).
"""

from __future__ import annotations

import asyncio

import faust

from egov.audit import AuditLog, checkpoint_key, new_entry
from egov.runtime.service import Service
from egov.runtime.topics import TopicSpec, all_topics
from services import SERVICES

service = Service("audit", default_port=SERVICES["audit"])
app = service.app
directory = service.settings.state_dir / "audit"
log = AuditLog(directory)
#: Partitions with entries since their last checkpoint.
unsigned: set[tuple[str, int]] = set()
CHECKPOINT_EVERY = 5.0


def record(message: faust.types.Message) -> None:
    topic = str(message.topic).removeprefix(service.settings.topic_prefix)
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


def audit(spec: TopicSpec) -> None:
    service.consumes.append(spec)

    async def agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            # Never let an error escape the agent (Faust would acknowledge the record unlogged): a failed
            # write (disk full) is cut back and tried again until it succeeds.
            delay = 0.5
            while True:
                try:
                    record(event.message)
                    break
                except OSError as exc:
                    service.log.error("audit.write_failed", error=repr(exc), retry_in_s=delay)
                    await asyncio.sleep(delay)  # back-off before writing the same record again
                    delay = min(delay * 2, 30.0)

    app.agent(service.topic(spec), name=f"audit.{spec.name}")(agent)


for spec in all_topics():
    audit(spec)


@app.timer(CHECKPOINT_EVERY, name="audit.checkpoints")
async def checkpoints() -> None:
    key = checkpoint_key(directory)
    signed_at = service.clock.now().isoformat()
    for topic, partition in sorted(unsigned):
        log.checkpoint(key, topic, partition, signed_at)
    unsigned.clear()


def main() -> None:
    service.run()
