"""The fault suite's tool (`egov chaos run`, egov/tools/chaos): a short run on a broker of its own, one
service killed with SIGKILL and restarted, then the broker, under a steady load of dossiers; nothing lost,
nothing duplicated, and the stall after each fault measured (docs/adr/0016)."""

from __future__ import annotations

from pathlib import Path

import pytest

from egov.contracts.envelope import APP_ID_PREFIX
from egov.contracts.topics import Topics
from egov.runtime.settings import Settings
from egov.tools.chaos.run import HeldBack, Timings, held_back, run_chaos
from tests.integration.kafka_helpers import commit, produce

pytestmark = pytest.mark.integration

#: The services of a dossier's journey (a decision without a signed document: no document system).
JOURNEY = ("portal", "onestop", "lgsp", "population", "agency", "payment", "notify")


def test_a_service_and_the_broker_killed_under_load_lose_and_duplicate_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # Given one worker of each journey service on a broker of the run's own, dossiers at one a second
    report = run_chaos(
        "services",
        home=tmp_path / "chaos",
        brokers=1,
        workers=1,
        rate=1.0,
        user_settings=Settings(state_dir=tmp_path / "state"),
        services=JOURNEY,
        struck=("onestop",),
        timings=Timings(warm_up=5.0, settle=8.0, drain=120.0),
    )
    shown = "\n".join(report.lines())
    # When onestop, then the broker, is killed with SIGKILL and restarted
    assert [f.name for f in report.faults] == [
        "onestop killed with SIGKILL and restarted",
        "the broker killed with SIGKILL and restarted",
    ], shown
    assert all(f.back is not None for f in report.faults), shown
    # Then every dossier accepted reached its final state, once, and nobody was told anything twice
    assert report.ok and report.accepted and not report.lost, shown
    assert not report.ledger.codes_issued_twice and not report.ledger.notices_sent_twice, shown
    # and the stall after each fault was measured, within what a restart and the session time-out allow
    assert len(report.stalls) == 2, shown
    for _, gap in report.stalls:
        assert gap is not None and gap.seconds < 60, shown
    assert "lost 0" in shown and "result: nothing lost, nothing duplicated" in shown


def test_a_run_short_of_dossiers_says_which_records_each_group_holds_back(
    isolated_settings: Settings,
) -> None:
    # Given payment's group that committed 1 of the 3 records of one partition of the dossiers topic, and
    # nothing of another partition holding 1 record
    settings = isolated_settings
    topic = Topics.DOSSIERS.full_name(settings.topic_prefix)
    for partition, records in ((0, 3), (1, 1)):
        for n in range(records):
            produce(settings.kafka_bootstrap_servers, topic, b"k", f"r{n}".encode(), partition=partition)
    commit(
        settings.kafka_bootstrap_servers, f"{settings.topic_prefix}{APP_ID_PREFIX}payment", {(topic, 0): 1}
    )
    # When the run asks what is held back
    found = held_back(settings, ["payment", "notify"])
    # Then payment's uncommitted records are named, partition by partition; notify, which committed nothing
    # anywhere, has no topic to show (its records wait on partitions it never read)
    assert found == [
        HeldBack("payment", Topics.DOSSIERS.name, 0, 1, 3),
        HeldBack("payment", Topics.DOSSIERS.name, 1, 0, 1),
    ]
    assert found[0].line() == f"payment on {Topics.DOSSIERS.name}[0] at 1 of 3"
