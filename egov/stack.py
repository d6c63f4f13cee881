"""Running services as separate processes, and always stopping them.

Faust workers can hang on shutdown (faust-streaming #324, #501), so whatever starts one stops it with
SIGTERM and a time-out, then SIGKILL, and never leaves one behind. Used by `egov demo` and the tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from egov.localkafka import stop_process


class ServiceStartError(RuntimeError):
    """A service did not become healthy; the message carries the tail of its log."""


@dataclass
class ServiceProcess:
    """One service worker running as a child process, logging to its own file."""

    name: str
    port: int
    log_file: Path
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.env,
            "EGOV_WEB_PORT": str(self.port),
            "EGOV_WEB_HOST": self.host,
            "PYTHONUNBUFFERED": "1",
        }
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "egov.cli", "run", self.name],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceStartError(
                    f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.healthy():
                return
            time.sleep(0.25)
        raise ServiceStartError(f"{self.name} was not healthy within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            stop_process(self.process.pid, timeout)
        self.process.wait(timeout=5)
        self.process = None

    def kill(self) -> None:
        """Kill at once, as a crash would (for recovery tests)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running(services: list[ServiceProcess], *, timeout: float = 90.0) -> Iterator[list[ServiceProcess]]:
    """Start the services, wait until each is healthy, and stop them all on the way out, whatever happens."""
    try:
        for svc in services:
            svc.start()
        for svc in services:
            svc.wait_healthy(timeout)
        yield services
    finally:
        stop_all(services)


def stop_all(services: list[ServiceProcess], timeout: float = 15.0) -> None:
    """SIGTERM every service at once, then wait for each (SIGKILL after `timeout`); an interruption while
    waiting for one does not spare the others."""
    for svc in services:
        if svc.process is not None and svc.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(svc.process.pid, signal.SIGTERM)
    pending = list(services)
    try:
        while pending:
            pending.pop(0).stop(timeout)
    finally:
        for svc in pending:
            svc.kill()
