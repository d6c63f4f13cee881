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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from egov.tools.processes import pid_alive, process_cmdline, stop_process


class ServiceStartError(RuntimeError):
    """A service did not become healthy; the message carries the tail of its log."""


@dataclass
class ServiceProcess:
    """One service worker running as a child process, logging to its own file. A service runs as one or
    more workers (`worker` 1, 2, …), which share its partitions (docs/adr/0016)."""

    name: str
    port: int
    log_file: Path
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None
    worker: int = 1

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def label(self) -> str:
        """The worker's name: the service's for its first worker, `<service>-<n>` for the others."""
        return worker_label(self.name, self.worker)

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.env,
            "EGOV_WEB_PORT": str(self.port),
            "EGOV_WEB_HOST": self.host,
            # A worker restarted under the same name takes its partitions back without a rebalance.
            "EGOV_KAFKA_GROUP_INSTANCE_ID": self.label,
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
                    f"{self.label} exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.healthy():
                return
            time.sleep(0.25)
        raise ServiceStartError(f"{self.label} was not healthy within {timeout:.0f}s:\n{self.log_tail()}")

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


def worker_label(name: str, worker: int) -> str:
    return name if worker == 1 else f"{name}-{worker}"


#: Ports of a service's workers, from its own: worker n listens `(n - 1) × WORKER_PORT_STEP` above it.
WORKER_PORT_STEP = 1000


def workers(
    names: Iterable[str],
    count: int,
    *,
    port_of: Callable[[str], int],
    logs: Path,
    env: Mapping[str, str],
) -> list[ServiceProcess]:
    """`count` workers of each named service, worker n of a service on its port plus (n - 1) × 1000, each
    with its own log; the first workers of all the services come first (the order they start in)."""
    return [
        ServiceProcess(
            name,
            port_of(name) + (n - 1) * WORKER_PORT_STEP,
            logs / f"{worker_label(name, n)}.log",
            env=env,
            worker=n,
        )
        for n in range(1, count + 1)
        for name in names
    ]


@contextmanager
def running(services: list[ServiceProcess], *, timeout: float = 90.0) -> Iterator[list[ServiceProcess]]:
    """Start the services, wait until each is healthy, and stop them all on the way out, whatever happens.
    With several workers per service, it returns once all of them are healthy at the same moment (a worker
    that joins its group makes the others take their partitions again)."""
    try:
        for svc in services:
            svc.start()
        for svc in services:
            svc.wait_healthy(timeout)
        if len(services) > len({svc.name for svc in services}):
            wait_all_healthy(services, timeout)
        yield services
    finally:
        stop_all(services)


def wait_all_healthy(services: list[ServiceProcess], timeout: float) -> None:
    """Until every service answers healthy in one round (each is waited for in turn, its deadline shared)."""
    deadline = time.monotonic() + timeout
    while True:
        for svc in services:
            svc.wait_healthy(max(1.0, deadline - time.monotonic()))
        if all(svc.healthy() for svc in services):
            return
        if time.monotonic() > deadline:
            down = [svc.label for svc in services if not svc.healthy()]
            raise ServiceStartError(f"not healthy together within {timeout:.0f}s: {', '.join(down)}")


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


def _recorded(state_dir: Path, label: str, name: str | None = None) -> int | None:
    """The pid of the running worker `label` (of service `name`, by default the label's)."""
    try:
        pid = int(_pid_file(state_dir, label).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _ours(pid, name or label) else None


def recorded_labels(state_dir: Path, names: Iterable[str]) -> list[str]:
    """Every worker of the named services with a pid file in the state folder (running or not)."""
    wanted = set(names)
    folder = state_dir / "stack"
    found = []
    for pid_file in sorted(folder.glob("*.pid")) if folder.is_dir() else []:
        label = pid_file.stem
        name, _, number = label.rpartition("-")
        if label in wanted or (name in wanted and number.isdigit()):
            found.append(label)
    return found


def service_of(label: str) -> str:
    """The service a worker's label belongs to."""
    name, _, number = label.rpartition("-")
    return name if name and number.isdigit() else label


def start_detached(
    services: list[ServiceProcess], state_dir: Path, *, timeout: float = 90.0
) -> tuple[list[str], list[str]]:
    """Start the workers that are not running yet as background processes (pid files in
    `<state dir>/stack/`), and wait until every one answers its health endpoint; returns the workers started
    and those already running, by label. If one does not become healthy, every worker this call started is
    stopped."""
    started: list[ServiceProcess] = []
    already: list[str] = []
    try:
        for svc in services:
            if _recorded(state_dir, svc.label, svc.name) is not None:
                already.append(svc.label)
                continue
            svc.start()
            started.append(svc)
            assert svc.process is not None
            pid_file = _pid_file(state_dir, svc.label)
            pid_file.parent.mkdir(parents=True, exist_ok=True)
            pid_file.write_text(f"{svc.process.pid}\n")
        for svc in started:
            svc.wait_healthy(timeout)
        if len(services) > len({svc.name for svc in services}):
            wait_all_healthy(services, timeout)
    except BaseException:
        stop_all(started)
        for svc in started:
            _pid_file(state_dir, svc.label).unlink(missing_ok=True)
        raise
    return [s.label for s in started], already


def stack_status(services: list[ServiceProcess], state_dir: Path) -> list[ServiceState]:
    """Each service's pid (from its pid file), whether it runs, and whether it answers healthy."""
    states = []
    for svc in services:
        pid = _recorded(state_dir, svc.label, svc.name)
        states.append(
            ServiceState(
                svc.label, pid, pid is not None, pid is not None and svc.healthy(), svc.url, svc.log_file
            )
        )
    return states


def stop_detached(names: list[str], state_dir: Path, *, timeout: float = 15.0) -> list[str]:
    """SIGTERM every running worker of `names` (workers' labels) at once, SIGKILL those still up after
    `timeout`; returns the labels stopped. Pid files of processes that are gone are removed."""
    running = {
        name: pid for name in names if (pid := _recorded(state_dir, name, service_of(name))) is not None
    }
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
