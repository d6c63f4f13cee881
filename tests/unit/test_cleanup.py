"""The clean-up after an interrupted test run leaves a running session's workers and brokers alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import cleanup


def _ended_pid() -> int:
    """The pid of a process that has run and been reaped."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(done.stdout)


@pytest.fixture
def worker_of() -> Iterator:
    """Start a sleeping stand-in of a test worker for a session; all are killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(session: int) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; print(flush=True); time.sleep(60)", "egov.tools.cli"],
            env={**os.environ, "EGOV_TEST_SESSION": str(session)},
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # it has started (its environment is readable)
        started.append(proc)
        return proc.pid

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_only_the_workers_of_an_ended_session_are_orphans(worker_of) -> None:
    running = worker_of(os.getpid())  # this pytest is a running session
    orphan = worker_of(_ended_pid())

    found = cleanup.orphaned_workers()

    assert orphan in found
    assert running not in found


def test_only_the_homes_of_an_ended_session_are_orphans(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EGOV_STATE_DIR", str(tmp_path))
    ours = tmp_path / f"test-kafka-{os.getpid()}"
    ended = tmp_path / f"test-kafka-{_ended_pid()}"
    not_a_session = tmp_path / "test-kafka-x"
    other_kind = tmp_path / f"test-keycloak-{_ended_pid()}"
    for home in (ours, ended, not_a_session, other_kind):
        home.mkdir()

    assert sorted(cleanup.orphaned_homes("kafka")) == sorted([ended, not_a_session])
    assert cleanup.orphaned_homes("keycloak") == [other_kind]


def test_a_reused_pid_is_not_a_running_session() -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert cleanup.session_running(os.getpid())
        assert not cleanup.session_running(other.pid)  # alive, but not a test session
        assert not cleanup.session_running(_ended_pid())
    finally:
        other.kill()
        other.wait()
