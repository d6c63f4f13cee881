"""Where the time goes under load: CPU seconds per process, each service's own metrics (handler, publish and
HTTP time, read from its `/metrics`), and a sampling profile of the busiest service (py-spy), as the
performance targets ask of a miss."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

#: Per service: (metric family, what it measures) whose seconds are summed from the scrape.
TIMED = {
    "egov_handler_seconds": "handler_s",
    "egov_publish_seconds": "publish_s",
    "egov_http_seconds": "http_s",
}


def scrape(url: str) -> dict[str, float]:
    """A service's time spent, from its metrics: seconds in handlers, in awaiting acknowledgements and in
    answering HTTP, and the events it handled."""
    return spent(httpx.get(f"{url}/metrics", timeout=10.0).text)


def spent(text: str) -> dict[str, float]:
    """The seconds and events of `scrape` from a Prometheus exposition."""
    found = {name: 0.0 for name in (*TIMED.values(), "events_handled")}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_sum") and family.name in TIMED:
                found[TIMED[family.name]] += sample.value
            elif sample.name == "egov_events_total" and sample.labels.get("outcome") == "handled":
                found["events_handled"] += sample.value
    return {name: round(value, 2) for name, value in found.items()}


def difference(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {name: round(value - before.get(name, 0.0), 2) for name, value in after.items()}


@dataclass(frozen=True)
class Profile:
    """A sampling profile of one process: the functions most often on the CPU (their own time), and the
    project's functions with most time below them."""

    service: str
    seconds: float
    samples: int
    own: list[tuple[str, float]]
    project: list[tuple[str, float]]

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "seconds": self.seconds,
            "samples": self.samples,
            "own_share": [{"function": f, "share": s} for f, s in self.own],
            "project_inclusive_share": [{"function": f, "share": s} for f, s in self.project],
        }


def profile(service: str, pid: int, seconds: int, top: int = 12) -> Profile | None:
    """`py-spy record` of the process for `seconds`; None where py-spy is missing or may not attach (it needs
    ptrace rights: root, or kernel.yama.ptrace_scope 0)."""
    spy = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy")
    if not Path(spy).exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stacks.txt"
        command = [spy, "record", "--format", "raw", "--rate", "50", "--nonblocking"]
        command += ["--duration", str(seconds), "--pid", str(pid), "--output", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode != 0 or not out.exists():
            return None
        return collapsed(service, seconds, out.read_text(encoding="utf-8"), top)


def collapsed(service: str, seconds: float, text: str, top: int) -> Profile:
    """A profile from collapsed stacks (`frame;frame;…;leaf count` per line, outermost first)."""
    own: Counter[str] = Counter()
    project: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[_short(frames[-1])] += samples
        for name in {_short(f) for f in frames if _ours(f)}:
            project[name] += samples
    share = (lambda n: round(n / total, 3)) if total else (lambda n: 0.0)
    return Profile(
        service=service,
        seconds=seconds,
        samples=total,
        own=[(f, share(n)) for f, n in own.most_common(top)],
        project=[(f, share(n)) for f, n in project.most_common(top)],
    )


def _ours(frame: str) -> bool:
    return "site-packages" not in frame and ("/egov/" in frame or "/services/" in frame)


def _short(frame: str) -> str:
    """`handle (egov/runtime/service.py:281)` from `handle (/a/long/path/egov/runtime/service.py:281)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    if "/site-packages/" in where:  # a library's: from its package
        where = where.split("/site-packages/", 1)[1]
    elif "/lib/python" in where:  # the standard library's: from its module
        where = where.split("/lib/python", 1)[1].partition("/")[2]
    else:  # the project's: from its floor
        for marker in ("/egov/", "/services/", "/bench/"):
            if marker in where:
                where = marker.lstrip("/") + where.rsplit(marker, 1)[1]
                break
    return f"{name} ({where})" if where else name
