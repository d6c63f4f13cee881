"""A deliberately faulty department case system, for the conformance kit's tests to show that the kit finds
its faults, and only those (tests/integration/test_conformance.py names the checks each one breaks).

It connects as the vendor's principal and does the agency role, but:
- wrong key: it keys its answers by its agency code instead of the dossier code;
- missing header: it leaves out `ce_specversion`;
- a second decision: it remembers the ce_ids it handled, not the dossiers it decided, so a decided dossier
  delivered again is decided again;
- a crash on a poison message: a record it cannot decode stops it (the process exits);
- a late answer: it decides an hour after the end of the dossier's deadline (business time).

Everything else it does right: only its agency's dossiers, `ce_source` /egov/agency, released contracts that
meet their rules, the agency assigned, business time from EGOV_CLOCK_SPEED and EGOV_CLOCK_ANCHOR.

    python faulty_agency_vendor.py AGENCY_CODE     (the EGOV_* settings from the environment)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import uuid
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from egov.contracts.envelope import Envelope
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes, Topics
from egov.runtime.settings import Settings

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


async def main(agency_code: str) -> None:
    settings = Settings()
    principal = f"{settings.topic_prefix}vendor-agency"
    options = settings.kafka_options(principal)
    registry = get_registry()
    clock = settings.clock
    consumer = AIOKafkaConsumer(
        Topics.LGSP_TO_AGENCIES.full_name(settings.topic_prefix),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{principal}-faulty",
        # it takes only what comes after it started: the slice's earlier poison would crash it before the run
        auto_offset_reset="latest",
        **options,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", **options)
    await consumer.start()
    await producer.start()
    handled: set[str] = set()
    pending: set[asyncio.Task[None]] = set()
    ready = False

    async def decide_late(assignment: dict, cause: Envelope) -> None:  # type: ignore[type-arg]
        late = dt.datetime.combine(assignment["deadline"] + dt.timedelta(days=1), dt.time(1), tzinfo=ZONE)
        await asyncio.sleep(max(0.0, (late - clock.now()).total_seconds() / clock.speed))
        now = clock.now()
        agency = assignment["agency"]
        decision = {
            "dossier_code": assignment["dossier_code"],
            "agency": agency,
            "decision": "APPROVED",
            "reason": None,
            "document_id": None,
            "decided_by": {
                "official_id": f"{agency['code']}/lanh-dao-01",
                "full_name": "Trần Văn Minh",
                "position": "Phó Giám đốc",
                "agency": agency,
            },
            "decided_at": now,
        }
        envelope = Envelope.new(
            source="/egov/agency",
            type=EventTypes.AGENCY_DECISION_MADE,
            subject=assignment["dossier_code"],
            time=now,
            id=str(uuid.uuid4()),
            caused_by=cause,
        )
        headers = [(k, v) for k, v in envelope.to_headers() if k != "ce_specversion"]  # fault: missing header
        await producer.send_and_wait(
            Topics.CASE_EVENTS.full_name(settings.topic_prefix),
            key=agency_code.encode(),  # fault: the wrong key
            value=registry.encode(EventTypes.AGENCY_DECISION_MADE, decision),
            headers=headers,
        )

    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            if not ready and consumer.assignment():
                for partition in consumer.assignment():  # positioned: nothing sent from now on is missed
                    await consumer.position(partition)
                ready = True
                print(f"ready: {sorted(tp.partition for tp in consumer.assignment())}", flush=True)
            for messages in batches.values():
                for message in messages:
                    _, record = registry.decode(message.value)  # fault: a poison message crashes it
                    envelope = Envelope.from_headers(message.headers)
                    if envelope.id in handled or record["agency"]["code"] != agency_code:
                        continue
                    handled.add(envelope.id)  # fault: no memory of the dossiers decided
                    task = asyncio.create_task(decide_late(record, envelope))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
    finally:
        for task in pending:
            task.cancel()
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
