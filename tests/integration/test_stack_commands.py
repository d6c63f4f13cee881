"""`egov up`, `egov status` and `egov down` on the real broker: every service in the background, each with its
own log, reported healthy, then stopped with nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from egov.tools.processes import free_port, pid_alive
from services import SERVICES

pytestmark = pytest.mark.integration


def egov(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "egov.tools.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_up_status_down(kafka_bootstrap: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {
        **os.environ,
        "EGOV_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "EGOV_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
        "EGOV_STATE_DIR": str(state),
        "EGOV_TEST_SESSION": str(os.getpid()),
        **{f"EGOV_{name.upper()}_PORT": str(free_port()) for name in SERVICES},
    }
    pids: dict[str, int] = {}
    try:
        started = egov("up", env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "Kafka broker answering" in started.stdout  # the test broker: up neither starts nor stops it
        pids = {name: int((state / "stack" / f"{name}.pid").read_text()) for name in SERVICES}
        assert all(pid_alive(pid) for pid in pids.values())
        assert {p.stem for p in (state / "logs").glob("*.log")} == set(SERVICES)  # a log file per service
        assert f"dashboard at http://127.0.0.1:{env['EGOV_REPORTING_PORT']}/" in started.stdout

        status = egov("status", env=env)
        assert status.returncode == 0, status.stdout
        assert status.stdout.count("healthy") == len(SERVICES)

        again = egov("up", env=env)  # safe to run twice: nothing is started a second time
        assert again.returncode == 0 and again.stdout.count("already running") == len(SERVICES)
    finally:
        stopped = egov("down", env=env)
    assert stopped.returncode == 0 and "Stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not any(pid_alive(pid) for pid in pids.values())
    after = egov("status", env=env)
    assert after.returncode == 1 and after.stdout.count("DOWN") == len(SERVICES)
