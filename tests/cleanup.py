"""Stop what an interrupted test run left behind: throw-away brokers, identity providers and test workers.

`.ci/run` calls it on exit. The test fixtures stop everything themselves; this is for a run killed before
their `finally` could (a time-out, a signal). It touches only what a test session started, and only once that
session's pytest process is gone, so a second test run on the same machine keeps its broker and workers:
brokers and identity providers by their state folder (`test-kafka-<pid>`, `test-keycloak-<pid>`), workers by
the `EGOV_TEST_SESSION=<pid>` variable the integration fixtures give them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from egov.paths import default_state_dir
from egov.tools.identity.keycloak import LocalIdentityProvider
from egov.tools.localkafka import LocalBroker
from egov.tools.processes import pid_alive, process_cmdline, stop_process

SESSION = re.compile(rb"(?:^|\0)EGOV_TEST_SESSION=(\d+)(?:\0|$)")
#: What the tests run: service workers, and the vendors' systems of the conformance tests.
COMMANDS = (b"egov.tools.cli", b"faulty_agency_vendor.py", b"vn.egov.examples.agency.CaseSystem")


def session_running(pid: int) -> bool:
    """Is the test session `pid` still running (a live pytest, not a process that reused its pid)?"""
    return pid_alive(pid) and "pytest" in process_cmdline(pid)


def session_of(proc: Path) -> int | None:
    """The test session a process was started by, when it is one of the processes the tests run."""
    try:
        if not any(command in (proc / "cmdline").read_bytes() for command in COMMANDS):
            return None
        found = SESSION.search((proc / "environ").read_bytes())
    except OSError:
        return None
    return int(found.group(1)) if found else None


def orphaned_workers() -> list[int]:
    """Workers of test sessions that have ended."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and (session := session_of(proc)) is not None and not session_running(session):
            pids.append(int(proc.name))
    return pids


def orphaned_homes(kind: str) -> list[Path]:
    """State folders (`test-<kind>-<pid>`) of test sessions that have ended."""
    homes = []
    for home in default_state_dir().glob(f"test-{kind}-*"):
        session = home.name.removeprefix(f"test-{kind}-")
        if not session.isdigit() or not session_running(int(session)):
            homes.append(home)
    return homes


def main() -> None:
    for pid in orphaned_workers():
        stop_process(pid, timeout=10)
        print(f"stopped test worker {pid}")
    for home in orphaned_homes("kafka"):
        LocalBroker(home=home).destroy()
        shutil.rmtree(home, ignore_errors=True)
        print(f"removed test broker {home.name}")
    for home in orphaned_homes("keycloak"):
        LocalIdentityProvider(home=home).destroy()
        print(f"removed test identity provider {home.name}")


if __name__ == "__main__":
    main()
