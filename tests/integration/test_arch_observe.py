"""`egov arch observe` on a real broker: no false positives on the running stack, and rogues are caught."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time

import pytest
from aiokafka import AIOKafkaConsumer
from click.testing import CliRunner

from egov.contracts.envelope import WRITER_HEADER, Envelope
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes, Topics
from egov.contracts.validation import get_validator
from egov.paths import EXAMPLES_DIR
from egov.runtime.settings import Settings, get_settings
from egov.tools.architecture.observe import ObservationReport, arch_observe_command, observe
from egov.tools.demo import DEMO_PROFILE
from egov.tools.samples import submission
from services.population.domain import get_register
from tests.integration.conftest import Stack, fast_clock_env, run_stack
from tests.integration.kafka_helpers import admin_options, collect, produce, wait_committed_past
from tests.integration.test_dossier_intake import submit, wait_for_code

FEE_PROCEDURE = "1.001612.000.00.00.H11"

pytestmark = pytest.mark.integration


def run_observe(settings: Settings) -> ObservationReport:
    return asyncio.run(observe(settings, sample_per_partition=50, timeout=20.0))


def golden(event_type: str) -> bytes:
    body = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    record, errors = get_validator().from_json(event_type, body)
    assert record is not None and not errors, errors
    return get_registry().encode(event_type, record)


def headers(source: str, event_type: str, writer: str, subject: str) -> list[tuple[str, bytes]]:
    envelope = Envelope.new(source=source, type=event_type, subject=subject, time=dt.datetime.now(dt.UTC))
    return [*envelope.to_headers(), (WRITER_HEADER, writer.encode())]


async def read_and_commit_once(bootstrap: str, group: str, topic: str, timeout: float = 60.0) -> None:
    """A consumer under its own group reads a record, commits, and leaves the group."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **admin_options(bootstrap),  # a rogue with more rights than the model gives anyone
    )
    await consumer.start()
    try:
        await asyncio.wait_for(consumer.getone(), timeout)
        await consumer.commit()
    finally:
        await consumer.stop()


def test_the_running_stack_conforms_to_the_model(isolated_settings: Settings) -> None:
    # The demo's department profile approves this procedure without a supplement.
    env = {**fast_clock_env(1.0), "EGOV_AGENCY_PROFILE": str(DEMO_PROFILE)}
    with run_stack(isolated_settings, env=env) as stack:
        body = submission(random.Random(21), [FEE_PROCEDURE])
        body["applicant"] = get_register().answering()[10].as_citizen()
        with stack.portal as client:
            code = wait_for_code(client, submit(client, body))
            deadline = time.monotonic() + 60
            while client.get(f"/api/v1/dossiers/{code}").json()["status"] != "RESULT_RETURNED":
                assert time.monotonic() < deadline, f"{code} did not reach its result within 60s"
                time.sleep(0.2)
        check_conforms(stack)


def check_conforms(stack: Stack) -> None:
    # A test reader (its own group, commits nothing) has read a topic and left: it leaves no trace.
    collect(
        stack.settings.kafka_bootstrap_servers, stack.topic(Topics.DOSSIERS), until=lambda rs: len(rs) >= 1
    )

    report = run_observe(stack.settings)

    assert report.rogue_producers == [], report.render()
    assert report.rogue_consumers == [], report.render()
    assert report.unexpected_event_types == [], report.render()
    assert report.missing_topics == [], report.render()
    # One dossier with a fee went through (its decision a signed document sent through the LGSP): every flow
    # it took had traffic; the branches it did not take (a supplement, a recall, a dead letter kept by the
    # audit log) had none, and those are the only findings. Whether it took the overdue branch depends on
    # the machine's pace: the apology goes out at the start of the last working day before the appointment
    # when the result is not out by then (Nghị định 118/2025), which a fast business clock may reach.
    quiet = {f.flow for f in report.no_traffic}
    assert quiet - {"overdue"} == {"supplements", "document-recall", "audit-trail"}, report.render()
    assert [f.step for f in report.no_traffic if f.flow == "audit-trail"] == [1], report.render()
    assert report.findings == report.no_traffic, report.render()
    assert report.groups_reading >= 10, report.render()  # the Faust group of every service
    assert report.records_sampled >= 3, report.render()
    assert "no traffic: flow supplements" in report.render()


def test_rogue_producers_and_consumers_are_reported(isolated_settings: Settings) -> None:
    settings = isolated_settings
    prefix = settings.topic_prefix
    bootstrap = settings.kafka_bootstrap_servers
    submissions = Topics.DOSSIER_SUBMISSIONS.full_name(prefix)
    dossiers = Topics.DOSSIERS.full_name(prefix)

    # The portal's part, as the portal writes it: not a finding.
    submitted = EventTypes.DOSSIER_SUBMITTED
    partition, offset = produce(
        bootstrap, submissions, b"s-1", golden(submitted), headers("/egov/portal", submitted, "portal", "s-1")
    )
    # A rogue writes a DossierReceived onto onestop's topic.
    received = EventTypes.DOSSIER_RECEIVED
    rogue_partition, rogue_offset = produce(
        bootstrap, dossiers, b"d-1", golden(received), headers("/egov/rogue", received, "rogue", "d-1")
    )
    # A rogue reads the submissions under its own group, commits, and stops: the group and offsets remain.
    rogue_group = f"{prefix}rogue-reader"
    asyncio.run(read_and_commit_once(bootstrap, rogue_group, submissions))
    wait_committed_past(bootstrap, rogue_group, submissions, partition, offset)
    # A test reader reads the dossiers topic and leaves without committing: not a finding.
    collect(bootstrap, dossiers, until=lambda rs: len(rs) >= 1)

    report = run_observe(settings)
    text = report.render()

    [producer] = report.rogue_producers
    assert (producer.writer, producer.topic, producer.owner) == ("rogue", Topics.DOSSIERS.name, "onestop")
    assert (producer.partition, producer.offset) == (rogue_partition, rogue_offset)
    assert producer.message == (
        f"rogue producer: 'rogue' wrote {received} to {Topics.DOSSIERS.name}, whose only writer is onestop "
        f"(offset {rogue_offset} of partition {rogue_partition})"
    )
    [consumer] = report.rogue_consumers
    assert (consumer.group, consumer.topic) == (rogue_group, Topics.DOSSIER_SUBMISSIONS.name)
    assert consumer.message.startswith(
        f"rogue consumer: group 'rogue-reader' reads {Topics.DOSSIER_SUBMISSIONS.name}; "
        "the model allows portal, onestop"
    )
    assert "committed offsets" in consumer.via
    assert "test-reader" not in text
    assert report.unexpected_event_types == []
    assert report.missing_topics == []
    # No service ran: the intake flow's later steps saw no traffic (the rogue's DossierReceived does not
    # count for onestop's step); its first step did (the portal's record).
    intake = [(f.flow, f.step) for f in report.no_traffic if f.flow == "dossier-intake"]
    assert intake == [("dossier-intake", 2), ("dossier-intake", 3)]
    assert not report.ok

    for line in (producer.message, consumer.message, report.no_traffic[0].message):
        assert line in text

    # The command prints the same and exits 1 on findings.
    env = {"EGOV_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "EGOV_TOPIC_PREFIX": prefix}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(arch_observe_command, ["--sample", "20", "--timeout", "20"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert producer.message in result.output
    assert consumer.message in result.output
