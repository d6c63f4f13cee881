"""Corrupt records on every topic the running stack reads, on the real broker: each reader dead-letters each
one with its reason, the audit logs them, and a dossier submitted afterwards still goes to its result.

The records are a fixed sample of the damage the handler tests draw with Hypothesis (tests/corruption.py):
truncated, an unknown writer schema, a wrong marker, an empty value, a CloudEvents header missing, a wrong
ce_type, a value of 900 kB (under the broker's limit, so that it reaches the topic), a wrong key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner

from egov.contracts.serde import get_registry
from egov.contracts.topics import TopicSpec, dead_letters
from egov.runtime.settings import get_settings
from egov.tools.cli import main
from egov.tools.samples import submission
from services.population.domain import get_register
from tests import corruption
from tests.corruption import Corrupt
from tests.integration.conftest import Stack, fast_clock_env, new_settings, run_stack, wait_until
from tests.integration.kafka_helpers import admin_options, collect

pytestmark = pytest.mark.integration

FEE = "1.001612.000.00.00.H11"  # 3 working days, 50.000 đồng
#: The department decides the day it is assigned, without a supplement or a refusal.
PROFILE = {"default": {"duration_days": 0, "supplement_chance": 0.0, "reject_chance": 0.0}}
OVERSIZE = 900_000


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("corrupt")
    settings = new_settings(kafka_bootstrap, folder / "state")
    profile = folder / "agency-profile.yaml"
    profile.write_text(yaml.safe_dump(PROFILE), encoding="utf-8")
    env = {**fast_clock_env(1.0), "EGOV_AGENCY_PROFILE": str(profile)}
    with run_stack(settings, env=env) as running:
        yield running


def send_all(
    stack: Stack, records: Iterable[tuple[TopicSpec, Corrupt]]
) -> list[tuple[TopicSpec, Corrupt, int, int]]:
    """Write every record with one producer, as an outside client would; each with its partition and
    offset."""
    bootstrap = stack.settings.kafka_bootstrap_servers

    async def run() -> list[tuple[TopicSpec, Corrupt, int, int]]:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", max_request_size=2 << 20, **admin_options(bootstrap)
        )
        await producer.start()
        try:
            sent = []
            for spec, corrupt in records:
                record = corrupt.record
                meta = await producer.send_and_wait(
                    stack.topic(spec), key=record.key, value=record.value, headers=list(record.headers)
                )
                sent.append((spec, corrupt, meta.partition, meta.offset))
            return sent
        finally:
            await producer.stop()

    return asyncio.run(run())


def test_corrupt_records_on_every_topic_read_are_dead_lettered_and_a_dossier_still_completes(
    stack: Stack,
) -> None:
    readers: dict[str, list[str]] = {}
    specs: dict[str, TopicSpec] = {}
    for service, spec in corruption.consumed_topics():
        readers.setdefault(spec.name, []).append(service)
        specs[spec.name] = spec
    # Given every topic a service of the stack reads, When a few corrupt records are written to each
    now = dt.datetime.now(dt.UTC)
    damaged = [
        (spec, corrupt)
        for name, spec in sorted(specs.items())
        for corrupt in corruption.always_refused(
            spec,
            corruption.valid_record(spec, corruption.examples_of(spec)[0], time=now),
            random.Random(name),
            oversize_to=OVERSIZE,
        )
    ]
    sent = send_all(stack, damaged)
    assert len(sent) >= 7 * len(specs)

    # Then every service that reads a topic dead-letters each of its corrupt records, with its reason
    registry = get_registry()
    for service in sorted({s for services in readers.values() for s in services}):
        wanted = {
            (stack.topic(spec), partition, offset): corrupt
            for spec, corrupt, partition, offset in sent
            if service in readers[spec.name]
        }

        def origins(records: list[Any]) -> dict[tuple[str, int, int], dict[str, Any]]:
            letters = (registry.decode(r.value)[1] for r in records)
            return {(d["origin_topic"], d["origin_partition"], d["origin_offset"]): d for d in letters}

        records = collect(
            stack.settings.kafka_bootstrap_servers,
            stack.topic(dead_letters(service)),
            until=lambda rs, wanted=wanted: set(wanted) <= set(origins(rs)),
            timeout=90,
        )
        letters = origins(records)
        for origin, corrupt in wanted.items():
            reason = str(letters[origin]["reason"])
            assert (corrupt.reason or "") in reason, (service, origin, corrupt.kind, reason)
            assert letters[origin]["original_value"] == corrupt.record.value
            if service == "lgsp":
                assert letters[origin]["error_code"] == 500 and reason.startswith("500 DATA_INCORRECT: ")

    # And a dossier submitted afterwards is received, decided and returned
    rng = random.Random(2026)
    body = submission(rng, [FEE]) | {"channel": "ONLINE"}
    body["applicant"] = get_register().answering()[0].as_citizen()
    with stack.portal as client:
        answer = client.post("/api/v1/dossiers", json=body)
        assert answer.status_code == 202, answer.text
        submission_id = answer.json()["submission_id"]

        def returned(client: httpx.Client = client) -> dict[str, Any] | None:
            found = client.get(f"/api/v1/submissions/{submission_id}").json().get("dossier_code")
            view = client.get(f"/api/v1/dossiers/{found}").json() if found else {}
            return view if view.get("status") == "RESULT_RETURNED" else None

        view = wait_until(returned, "the dossier was not returned", 90, logs=stack.logs)
    assert [step["status_code"] for step in view["history"]] == [1, 2, 4, 6, 9, 10]

    # And the audit logged the corrupt records with the rest: its log is intact, nothing on the broker missed
    env = {
        "EGOV_KAFKA_BOOTSTRAP_SERVERS": stack.settings.kafka_bootstrap_servers,
        "EGOV_TOPIC_PREFIX": stack.settings.topic_prefix,
        "EGOV_STATE_DIR": str(stack.settings.state_dir),
        "EGOV_KAFKA_SECURITY": stack.settings.kafka_security,
        "EGOV_KAFKA_SECRETS_FILE": str(stack.settings.secrets_path),
    }
    get_settings.cache_clear()
    try:
        checked = CliRunner().invoke(main, ["audit", "verify"], env=env)
    finally:
        get_settings.cache_clear()
    assert checked.exit_code == 0 and "audit log intact" in checked.output, checked.output
