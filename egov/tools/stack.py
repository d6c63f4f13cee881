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

from egov.tools.processes import pid_alive, process_cmdline, stop_process


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
                [sys.executable, "-m", "egov.tools.cli", "run", self.name],
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


# -- a stack left running: `egov up`, `egov status`, `egov down` -------------------------------------------
@dataclass(frozen=True)
class ServiceState:
    """What `egov status` says of one service."""

    name: str
    pid: int | None
    running: bool
    healthy: bool
    url: str
    log_file: Path


def _pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / "stack" / f"{name}.pid"


def _ours(pid: int, name: str) -> bool:
    """The pid is alive and runs `egov run <name>` (a pid file can outlive its process; pids are reused)."""
    if not pid_alive(pid):
        return False
    if not Path("/proc").is_dir():
        return True  # no /proc (not Linux): the pid file is all there is to go by
    return ("egov.tools.cli run " + name) in process_cmdline(pid)


def _recorded(state_dir: Path, name: str) -> int | None:
    try:
        pid = int(_pid_file(state_dir, name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _ours(pid, name) else None


def start_detached(
    services: list[ServiceProcess], state_dir: Path, *, timeout: float = 90.0
) -> tuple[list[str], list[str]]:
    """Start the services that are not running yet as background processes (pid files in
    `<state dir>/stack/`), and wait until every one answers its health endpoint; returns the names started
    and those already running. If one does not become healthy, every service this call started is stopped."""
    started: list[ServiceProcess] = []
    already: list[str] = []
    try:
        for svc in services:
            if _recorded(state_dir, svc.name) is not None:
                already.append(svc.name)
                continue
            svc.start()
            started.append(svc)
            assert svc.process is not None
            pid_file = _pid_file(state_dir, svc.name)
            pid_file.parent.mkdir(parents=True, exist_ok=True)
            pid_file.write_text(f"{svc.process.pid}\n")
        for svc in started:
            svc.wait_healthy(timeout)
    except BaseException:
        stop_all(started)
        for svc in started:
            _pid_file(state_dir, svc.name).unlink(missing_ok=True)
        raise
    return [s.name for s in started], already


def stack_status(services: list[ServiceProcess], state_dir: Path) -> list[ServiceState]:
    """Each service's pid (from its pid file), whether it runs, and whether it answers healthy."""
    states = []
    for svc in services:
        pid = _recorded(state_dir, svc.name)
        states.append(
            ServiceState(
                svc.name, pid, pid is not None, pid is not None and svc.healthy(), svc.url, svc.log_file
            )
        )
    return states


def stop_detached(names: list[str], state_dir: Path, *, timeout: float = 15.0) -> list[str]:
    """SIGTERM every running service of `names` at once, SIGKILL those still up after `timeout`; returns the
    names stopped. Pid files of processes that are gone are removed."""
    running = {name: pid for name in names if (pid := _recorded(state_dir, name)) is not None}
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    stopped = []
    for name, pid in running.items():
        try:
            stop_process(pid, timeout)
        except (RuntimeError, PermissionError) as exc:  # one that will not stop must not keep the others up
            print(f"could not stop {name} (pid {pid}): {exc}", file=sys.stderr)
            continue
        stopped.append(name)
        _pid_file(state_dir, name).unlink(missing_ok=True)
    for name in names:
        if name not in running:
            _pid_file(state_dir, name).unlink(missing_ok=True)  # stale: its process is gone
    return stopped
