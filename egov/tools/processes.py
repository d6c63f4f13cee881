"""Background processes the project's commands own: the Kafka broker, the identity provider, the services.

A process is ours when its pid file names a live process whose command line carries our signature (a
reused pid is not ours). Starting one checks its ports first, sends its output to a log, writes the pid file
and waits until it is ready, with a time-out; a start that fails or is interrupted leaves nothing running.
Stopping sends SIGTERM to its session, then SIGKILL after a time-out.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar


class ProcessError(RuntimeError):
    """A background process could not be started or stopped; the message says why and what to do."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def process_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


#: Ports `free_port` looks at: from here up to the kernel's first ephemeral port.
FIRST_LISTENING_PORT = 20000
_handed_out: set[int] = set()


def ephemeral_ports_start() -> int:
    """The first port the kernel hands to outgoing connections (Linux's default when it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, for a throw-away instance that binds it a moment later and may be killed
    and started on it again.

    It lies below the kernel's range of ephemeral ports: a port the kernel picks for a listener of port 0 is
    one it may also give any client's outgoing connection meanwhile (with some thirty processes connecting to
    brokers and the identity provider, a worker then failed to start: address already in use). A port is
    handed out once per process, so instances started together never get the same one.
    """
    ceiling = ephemeral_ports_start()
    if ceiling > FIRST_LISTENING_PORT:
        # A generator of its own: the module's may be seeded (Hypothesis does), and each run would then
        # try the same ports in the same order.
        candidates = random.Random().sample(
            range(FIRST_LISTENING_PORT, ceiling), k=min(500, ceiling - FIRST_LISTENING_PORT)
        )
        for port in candidates:
            if port not in _handed_out and port_is_free(host, port):
                _handed_out.add(port)
                return port
    # None found below the range (or no room there): one the kernel picks, as before.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
    _handed_out.add(port)
    return port


def java_executable(needed_by: str) -> str:
    """`$JAVA_HOME/bin/java` when there is one, else `java` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise ProcessError(f"`java` was not found on PATH; {needed_by} needs Java 17+")
    return found


def stop_process(pid: int, timeout: float) -> None:
    """SIGTERM the process (and its session), wait up to `timeout`, then SIGKILL it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 10.0)
        while time.monotonic() < deadline:
            _reap(pid)
            if not pid_alive(pid):
                return
            time.sleep(0.1)
    raise ProcessError(f"Process {pid} did not stop after SIGKILL.")


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child: nothing to reap
        os.waitpid(pid, os.WNOHANG)


class OwnedProcess:
    """What a local instance (broker, identity provider) shares: it is known by its pid file and the
    signature of its command line, it is started in the background and waited for, then stopped."""

    #: How messages name it ("The Kafka broker").
    what: ClassVar[str]
    #: The error its failures raise (a ProcessError).
    error: ClassVar[type[ProcessError]] = ProcessError
    #: Seconds between readiness checks while starting, bounded by the time-out.
    poll_interval: ClassVar[float] = 0.5
    stop_timeout: ClassVar[float] = 30.0

    home: Path

    @property
    def pid_file(self) -> Path:
        raise NotImplementedError

    def _signature(self) -> Sequence[str]:
        """Strings the command line of our process contains (its main class, its own home or config)."""
        raise NotImplementedError

    def _logs(self) -> Sequence[Path]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def pid(self) -> int | None:
        """The pid of our instance when it runs, else None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        cmdline = process_cmdline(pid)
        if pid_alive(pid) and all(part in cmdline for part in self._signature()):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for path in self._logs():
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"--- {path} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(chunks) or f"({self.what.lower()} wrote no log)"

    def _check_ports(self, host: str, ports: Sequence[int], hint: str) -> None:
        for port in ports:
            if not port_is_free(host, port):
                raise self.error(f"Port {host}:{port} is taken by another process. Stop it, or {hint}.")

    def _spawn(self, cmd: Sequence[str], output: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start `cmd` in a session of its own, its output appended to `output`, and write its pid file."""
        with open(output, "ab") as out:
            proc = subprocess.Popen(
                list(cmd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=cwd,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc

    def _launch(self, cmd: Sequence[str], output: Path, timeout: float, cwd: Path | None = None) -> None:
        """Start `cmd` (`_spawn`) and wait until it is ready; a start that fails, times out or is interrupted
        (Ctrl-C too) stops what it started."""
        proc = self._spawn(cmd, output, cwd)
        try:
            if not self.wait_until_ready(timeout, proc):
                raise self.error(f"{self.what} was not ready within {timeout:.0f}s.\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def wait_until_ready(self, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
        """Whether it is ready within `timeout`; raises at once when `proc` exits meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise self.error(
                    f"{self.what} exited with code {proc.returncode} while starting.\n{self.log_tail()}"
                )
            if self.ready():
                return True
            time.sleep(self.poll_interval)
        return False

    def wait_until_gone(self, pid: int, timeout: float = 10.0) -> None:
        """Until the process `pid` has exited (reaped if it is our child)."""
        deadline = time.monotonic() + timeout
        while pid_alive(pid):
            _reap(pid)
            if time.monotonic() > deadline:
                raise self.error(f"{self.what} (pid {pid}) did not exit within {timeout:.0f}s")
            time.sleep(0.05)  # polling interval of the condition above, bounded by the deadline

    def stop(self, timeout: float | None = None) -> bool:
        """SIGTERM, then SIGKILL after `timeout`; False when it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        stop_process(pid, self.stop_timeout if timeout is None else timeout)
        self.pid_file.unlink(missing_ok=True)
        return True

    def destroy(self) -> None:
        """Stop it and remove its home (throw-away test instances)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
