"""The fault suite's tool (`egov chaos run`, egov/tools/chaos): a short run on a broker of its own, one
service killed with SIGKILL and restarted, then the broker, under a steady load of dossiers; nothing lost,
nothing duplicated, and the stall after each fault measured (docs/adr/0016)."""

from __future__ import annotations

from pathlib import Path

import pytest

from egov.runtime.settings import Settings
from egov.tools.chaos.run import Timings, run_chaos

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
