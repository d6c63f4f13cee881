"""The plans of faults, played under load, and their figures; and the throughput of a stack."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from egov.contracts.topics import Topics
from egov.platform.province import get_province
from egov.runtime.settings import Settings
from egov.tools.chaos.load import Citizens, Load, Submitted
from egov.tools.chaos.rig import Fault, Rig, rig, stamp
from egov.tools.chaos.watch import FINAL, Gap, Ledger, Watcher
from services import SERVICES, all_topics

PLANS = ("cluster", "services")
#: Seconds of steady load before the first fault, and after each fault before the next.
WARM_UP = 15.0
SETTLE = 15.0
#: Seconds a broker node stays down before it is started again; a killed worker before it comes back.
NODE_DOWN = 20.0
WORKERS_DOWN = 30.0
#: Seconds allowed after the load stops for every dossier to reach its final state.
DRAIN = 240.0


@dataclass
class Report:
    plan: str
    brokers: int
    workers: int
    rate: float
    load_seconds: float
    sent: list[Submitted]
    ledger: Ledger
    faults: list[Fault]
    gaps: list[Gap]
    stalls: list[tuple[Fault, Gap | None]] = field(default_factory=list)

    @property
    def accepted(self) -> list[Submitted]:
        return [s for s in self.sent if s.submission_id is not None]

    @property
    def completed(self) -> int:
        return sum(1 for s in self.accepted if self._final(s))

    def _final(self, sent: Submitted) -> bool:
        code = self.ledger.code(str(sent.submission_id))
        return code is not None and code in self.ledger.final

    @property
    def lost(self) -> list[str]:
        return [str(s.submission_id) for s in self.accepted if not self._final(s)]

    @property
    def refused(self) -> list[Submitted]:
        return [s for s in self.sent if s.submission_id is None]

    @property
    def ok(self) -> bool:
        ledger = self.ledger
        return (
            bool(self.accepted)
            and not self.lost
            and not self.refused
            and not ledger.codes_issued_twice
            and not ledger.notices_sent_twice
            and not sum(ledger.dead_letters.values())
        )

    @property
    def longest_stall(self) -> Gap | None:
        return self.gaps[0] if self.gaps else None

    def lines(self) -> list[str]:
        ledger = self.ledger
        retried = sum(1 for s in self.accepted if s.attempts > 1)
        out = [
            f"Chaos run: plan {self.plan}, {self.brokers} broker(s), {self.workers} worker(s) per service, "
            f"{self.rate:g} dossiers/s for {self.load_seconds:.0f} s",
            f"  submitted {len(self.sent)}: accepted {len(self.accepted)} ({retried} after a retry with the "
            f"same Idempotency-Key), refused {len(self.refused)}",
            f"  completed {self.completed} ({FINAL}), lost {len(self.lost)}",
            f"  duplicates: dossier codes issued twice {len(ledger.codes_issued_twice)}, notices sent twice "
            f"{len(ledger.notices_sent_twice)}; records redelivered under the same id (dropped by their "
            f"readers) {ledger.redelivered}; dead letters {sum(ledger.dead_letters.values())}",
        ]
        stall = self.longest_stall
        if stall is not None:
            out.append(f"  longest stall: {stall.seconds:.1f} s on {stall.topic}")
        for fault, gap in self.stalls:
            back = f", answering again after {fault.back - fault.struck:.1f} s" if fault.back else ""
            where = f"{gap.seconds:.1f} s on {gap.topic}" if gap else "none"
            out.append(f"  {fault.name}{back}: longest stall {where}")
        if self.lost:
            stuck = Counter(self.ledger.where(sid) for sid in self.lost)
            out.append(
                "  lost, by their last event: " + ", ".join(f"{n} {w}" for w, n in stuck.most_common())
            )
        if self.refused:
            reasons = {r for s in self.refused for r in s.failures[-1:]}
            out.append(f"  refused after retries: {len(self.refused)} ({', '.join(sorted(reasons))})")
        out.append("  result: " + ("nothing lost, nothing duplicated" if self.ok else "FAILED"))
        return out


def stall_after(ledger: Ledger, fault: Fault, until: float, *, min_rate: float = 0.5) -> Gap | None:
    """The longest gap of a steadily written topic that began while `fault` struck or was being recovered
    from (between its time and `until`)."""
    found: Gap | None = None
    for topic, stamps in ledger.times.items():
        inside = sorted(t for t in stamps if fault.struck - 30 <= t <= until + 30)
        if len(inside) < max(2, min_rate * (until - fault.struck)):
            continue
        for a, b in itertools.pairwise(inside):
            if fault.struck - 1 <= b and a <= until and (found is None or b - a > found.seconds):
                found = Gap(topic, b - a, a, b)
    return found


async def _blocking(action: Callable[[], object]) -> None:
    await asyncio.to_thread(action)


async def _cluster_plan(rig: Rig, faults: list[Fault]) -> None:
    """The broker leading the busiest partitions, killed and restarted; then one worker of each service."""
    await asyncio.sleep(WARM_UP)
    node = await asyncio.to_thread(rig.busiest_leader)
    fault = Fault(f"broker node {node} (leading the busiest partitions) killed with SIGKILL", stamp())
    faults.append(fault)
    await _blocking(lambda: rig.kill_node(node))
    await asyncio.sleep(NODE_DOWN)
    await _blocking(rig.restart_node)
    fault.back = stamp()
    await asyncio.sleep(SETTLE)
    victims = [rig.workers_of(name)[-1] for name in SERVICES]
    fault = Fault(f"worker {victims[0].worker} of every service killed with SIGKILL", stamp())
    faults.append(fault)
    for victim in victims:
        rig.kill(victim)
    await asyncio.sleep(WORKERS_DOWN)
    await asyncio.gather(*(_blocking(lambda v=v: rig.restart(v)) for v in victims))  # type: ignore[misc]
    fault.back = stamp()
    await asyncio.sleep(SETTLE)


async def _services_plan(rig: Rig, faults: list[Fault]) -> None:
    """Each service in turn killed with SIGKILL and restarted at once; then the broker."""
    await asyncio.sleep(WARM_UP)
    for name in SERVICES:
        victims = rig.workers_of(name)
        fault = Fault(f"{name} killed with SIGKILL and restarted", stamp())
        faults.append(fault)
        for victim in victims:
            rig.kill(victim)
        await asyncio.gather(*(_blocking(lambda v=v: rig.restart(v)) for v in victims))  # type: ignore[misc]
        fault.back = stamp()
        await asyncio.sleep(SETTLE)
    fault = Fault("the broker killed with SIGKILL and restarted", stamp())
    faults.append(fault)
    await _blocking(lambda: rig.kill_node(1))
    await _blocking(rig.restart_node)
    fault.back = stamp()
    await asyncio.sleep(SETTLE)


PLAYS: dict[str, Callable[[Rig, list[Fault]], Awaitable[None]]] = {
    "cluster": _cluster_plan,
    "services": _services_plan,
}


async def _play(rig: Rig, plan: str, rate: float, issuer: str) -> Report:
    watcher = Watcher(rig.settings, all_topics())
    watching = asyncio.create_task(watcher.run())
    procedures = [p.code for p in get_province(rig.settings.province).procedures]
    load = Load(rig.portal_urls, Citizens(issuer), procedures, run=rig.settings.topic_prefix.rstrip("."))
    stop = asyncio.Event()
    faults: list[Fault] = []
    started = stamp()
    submitting = asyncio.create_task(load.steady(rate, stop))
    try:
        await PLAYS[plan](rig, faults)
    finally:
        stop.set()
    sent = await submitting
    ended = stamp()
    deadline = time.monotonic() + DRAIN
    while time.monotonic() < deadline:
        report = Report(plan, 0, 0, rate, ended - started, sent, watcher.ledger, faults, [])
        if not report.lost:
            break
        await asyncio.sleep(1.0)  # polling interval of the condition above, bounded by the deadline
    watcher.stop()
    await watching
    gaps = watcher.ledger.gaps(started + 2, ended)
    ends = [f.struck for f in faults[1:]] + [ended]
    stalls = [
        (fault, stall_after(watcher.ledger, fault, until)) for fault, until in zip(faults, ends, strict=True)
    ]
    return Report(plan, 0, 0, rate, ended - started, sent, watcher.ledger, faults, gaps, stalls)


def run_chaos(
    plan: str,
    *,
    home: Path,
    brokers: int,
    workers: int,
    rate: float,
    user_settings: Settings,
) -> Report:
    """Play `plan` on a stack of its own (see the package's docstring) and return its figures."""
    if plan not in PLAYS:
        raise ValueError(f"unknown plan {plan!r}: one of {', '.join(PLAYS)}")
    with rig(home, brokers=brokers, workers_per_service=workers, user_settings=user_settings) as running:
        issuer = str(running.settings.oidc_citizen_issuer)
        report = asyncio.run(_play(running, plan, rate, issuer))
    report.brokers, report.workers = brokers, workers
    return report


# -- throughput --------------------------------------------------------------------------------------------
@dataclass
class Throughput:
    brokers: int
    workers: int
    count: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        p50 = statistics.median(self.latencies) if self.latencies else float("nan")
        p95 = statistics.quantiles(self.latencies, n=20)[-1] if len(self.latencies) >= 20 else float("nan")
        return (
            f"  {self.brokers} broker(s), {self.workers} worker(s) per service: {self.count} dossiers in "
            f"{self.seconds:.1f} s = {self.rate:.1f} dossiers/s from POST to DossierAssigned "
            f"(latency p50 {p50:.2f} s, p95 {p95:.2f} s)"
        )


async def _throughput(rig: Rig, count: int, concurrency: int, issuer: str) -> tuple[float, list[float]]:
    watcher = Watcher(rig.settings, [Topics.DOSSIERS])
    watching = asyncio.create_task(watcher.run())
    procedures = [p.code for p in get_province(rig.settings.province).procedures]
    citizens = Citizens(issuer)
    warm = Load(rig.portal_urls, citizens, procedures, run=f"{rig.settings.topic_prefix}warm")
    await warm.flood(concurrency, concurrency)  # tokens and connections warm; not counted
    load = Load(rig.portal_urls, citizens, procedures, run=f"{rig.settings.topic_prefix}load")
    offset = time.time() - time.monotonic()
    sent = await load.flood(count, concurrency)
    ledger = watcher.ledger
    deadline = time.monotonic() + DRAIN

    def assigned(entry: Submitted) -> float | None:
        code = ledger.code(str(entry.submission_id))
        return ledger.assigned.get(code) if code else None

    while time.monotonic() < deadline and not all(assigned(s) for s in sent if s.submission_id):
        await asyncio.sleep(0.5)  # polling interval of the condition above, bounded by the deadline
    watcher.stop()
    await watching
    done = [(s.first_try + offset, a) for s in sent if (a := assigned(s)) is not None]
    if len(done) < count:
        raise RuntimeError(f"only {len(done)} of {count} dossiers were assigned within {DRAIN:.0f} s")
    first = min(start for start, _ in done)
    last = max(end for _, end in done)
    return last - first, [end - start for start, end in done]


def measure_throughput(
    *,
    home: Path,
    brokers: int,
    workers: Sequence[int],
    count: int,
    concurrency: int,
    user_settings: Settings,
) -> list[Throughput]:
    """Dossiers a second from the portal's POST to their assignment, on a stack of each worker count."""
    found = []
    for n in workers:
        with rig(home, brokers=brokers, workers_per_service=n, user_settings=user_settings) as running:
            issuer = str(running.settings.oidc_citizen_issuer)
            seconds, latencies = asyncio.run(_throughput(running, count, concurrency, issuer))
        found.append(Throughput(brokers, n, count, seconds, latencies))
    return found
