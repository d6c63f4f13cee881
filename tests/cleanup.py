"""Stop what an interrupted test run left behind: throw-away brokers, identity providers and test workers.

`.ci/run` calls it on exit. The test fixtures stop everything themselves; this is for a run killed before
their `finally` could (a time-out, a signal). It touches only processes the tests started: brokers by their
state folder, workers by the `EGOV_TEST_SESSION` variable the integration fixtures give them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from egov.paths import default_state_dir
from egov.tools.identity.keycloak import LocalIdentityProvider
from egov.tools.localkafka import LocalBroker
from egov.tools.processes import stop_process

MARKER = b"EGOV_TEST_SESSION="
#: What the tests run: service workers, and the vendors' systems of the conformance tests.
COMMANDS = (b"egov.tools.cli", b"faulty_agency_vendor.py", b"vn.egov.examples.agency.CaseSystem")


def test_workers() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (
                any(command in (proc / "cmdline").read_bytes() for command in COMMANDS)
                and MARKER in (proc / "environ").read_bytes()
            ):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def main() -> None:
    for pid in test_workers():
        stop_process(pid, timeout=10)
        print(f"stopped test worker {pid}")
    for home in default_state_dir().glob("test-kafka-*"):
        LocalBroker(home=home).destroy()
        shutil.rmtree(home, ignore_errors=True)
        print(f"removed test broker {home.name}")
    for home in default_state_dir().glob("test-keycloak-*"):
        LocalIdentityProvider(home=home).destroy()
        print(f"removed test identity provider {home.name}")


if __name__ == "__main__":
    main()
