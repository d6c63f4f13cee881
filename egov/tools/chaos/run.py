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

from egov.contracts.envelope import APP_ID_PREFIX
from egov.contracts.topics import Topics
from egov.platform.province import get_province
from egov.runtime.brokerview import BrokerView, BrokerViewError
from egov.runtime.credentials import ADMIN
from egov.runtime.settings import Settings
from egov.tools.chaos.load import Citizens, Load, Submitted
from egov.tools.chaos.rig import Fault, Rig, rig, stamp
from egov.tools.chaos.watch import FINAL, Gap, Ledger, Watcher
from services import SERVICES, all_topics

PLANS = ("services", "cluster")


@dataclass(frozen=True)
class Timings:
    """The seconds of a plan (the defaults: `egov chaos run`; shorter in the test of the tool)."""

    #: Steady load before the first fault, and after each fault before the next.
    warm_up: float = 15.0
    settle: float = 15.0
    #: How long a broker node stays down before it is started again (on a cluster; one broker restarts at
    #: once), and a killed worker of the cluster plan before it comes back.
    node_down: float = 20.0
    workers_down: float = 30.0
    #: Allowed after the load stops for every dossier to reach its final state: as long as dossiers go on
    #: reaching it (none for `drain` seconds ends the wait), at most `drain_most` seconds. A stack on one
    #: machine that a broker's long recovery held up works through its backlog at the load's own pace.
    drain: float = 240.0
    drain_most: float = 900.0


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
    #: Seconds waited after the load for the dossiers to reach their final state.
    drained: float = 0.0
    #: After a drain that left dossiers short: the records each service's group read but did not commit.
    held: list[HeldBack] = field(default_factory=list)
    held_unknown: str | None = None

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
            f"  completed {self.completed} ({FINAL}) within {self.drained:.0f} s after the load, lost "
            f"{len(self.lost)}",
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
        if self.lost:
            held = "; ".join(h.line() for h in self.held) or "none, every group committed every record"
            if self.held_unknown:
                held = f"not known ({self.held_unknown})"
            out.append(f"  held back after the drain (a record read, not committed): {held}")
        for reason in ledger.dead_letter_reasons[:5]:
            out.append(f"  dead letter: {reason}")
        if self.refused:
            reasons = {r for s in self.refused for r in s.failures[-1:]}
            out.append(f"  refused after retries: {len(self.refused)} ({', '.join(sorted(reasons))})")
        out.append("  result: " + ("nothing lost, nothing duplicated" if self.ok else "FAILED"))
        return out


@dataclass(frozen=True)
class HeldBack:
    """A partition whose consumer group committed less than the broker holds: the record at `committed` is
    not handled yet (still in a handling, or dropped and waiting to be fetched again). A dossier short with
    nothing held back was passed by: its record committed and not handled."""

    service: str
    topic: str
    partition: int
    committed: int
    end: int

    def line(self) -> str:
        return f"{self.service} on {self.topic}[{self.partition}] at {self.committed} of {self.end}"


def held_back(settings: Settings, services: Sequence[str]) -> list[HeldBack]:
    """Each service's uncommitted records, on the topics its group committed on (changelogs aside: Faust
    reads them without the group). Asked as the administrator."""
    view = BrokerView(settings, principal=ADMIN, client_id="egov-chaos-held")
    prefix = settings.topic_prefix
    committed = {name: view.committed(f"{prefix}{APP_ID_PREFIX}{name}") for name in services}
    read = {(t, p) for offsets in committed.values() for t, p in offsets if not t.endswith("-changelog")}
    topics = {t: partitions for t, (_, partitions) in view.topics({t for t, _ in read}).items()}
    ends = view.offsets((t, p) for t, partitions in topics.items() for p in partitions)
    found = []
    for name, offsets in committed.items():
        for topic in sorted({t for t, _ in offsets} & set(topics)):
            for partition in topics[topic]:
                first, end = ends[(topic, partition)]
                at = offsets.get((topic, partition), first)
                if at < end:
                    found.append(HeldBack(name, topic.removeprefix(prefix), partition, at, end))
    return found


def stall_after(ledger: Ledger, fault: Fault, until: float, *, min_rate: float) -> Gap | None:
    """The longest gap, overlapping the time from `fault` until `until`, of a topic written at least
    `min_rate` records a second then (one written for every dossier at the load's rate: a topic written for
    some dossiers only has gaps of its own)."""
    found: Gap | None = None
    for topic, stamps in ledger.times.items():
        inside = sorted(t for t in stamps if fault.struck - 60 <= t <= until + 60)
        during = [t for t in inside if fault.struck <= t <= until]
        if len(during) < max(2, min_rate * (until - fault.struck)):
            continue
        for a, b in itertools.pairwise(inside):
            if b > fault.struck and a < until and (found is None or b - a > found.seconds):
                found = Gap(topic, b - a, a, b)
    return found


async def _blocking(action: Callable[[], object]) -> None:
    await asyncio.to_thread(action)


async def _cluster_plan(rig: Rig, faults: list[Fault], timings: Timings) -> None:
    """The broker leading the busiest partitions killed and later restarted; then one worker of each service
    killed, the others taking over, and brought back later."""
    await asyncio.sleep(timings.warm_up)
    await _broker_fault(rig, faults, timings)
    victims = [rig.workers_of(name)[-1] for name in rig.struck]
    fault = Fault(f"worker {victims[0].worker} of every service killed with SIGKILL", stamp())
    faults.append(fault)
    for victim in victims:
        rig.kill(victim)
    await asyncio.sleep(timings.workers_down)
    await asyncio.gather(*(_blocking(lambda v=v: rig.restart(v)) for v in victims))  # type: ignore[misc]
    fault.back = stamp()
    await asyncio.sleep(timings.settle)


async def _services_plan(rig: Rig, faults: list[Fault], timings: Timings) -> None:
    """Each service in turn, one worker at a time, killed with SIGKILL and restarted at once; then the broker
    (on a cluster: the node leading the busiest partitions)."""
    await asyncio.sleep(timings.warm_up)
    for name in rig.struck:
        for victim in rig.workers_of(name):
            label = name if len(rig.workers_of(name)) == 1 else f"{name} (worker {victim.worker})"
            fault = Fault(f"{label} killed with SIGKILL and restarted", stamp())
            faults.append(fault)
            rig.kill(victim)
            await _blocking(lambda v=victim: rig.restart(v))  # type: ignore[misc]
            fault.back = stamp()
            await asyncio.sleep(timings.settle)
    await _broker_fault(rig, faults, timings)


async def _broker_fault(rig: Rig, faults: list[Fault], timings: Timings) -> None:
    """One broker killed with SIGKILL: the only one, restarted at once; or the node of a cluster leading the
    busiest partitions, started again after `node_down` while the others go on."""
    if rig.brokers == 1:
        fault = Fault("the broker killed with SIGKILL and restarted", stamp())
        faults.append(fault)
        await _blocking(lambda: rig.kill_node(1))
    else:
        node = await asyncio.to_thread(rig.busiest_leader)
        fault = Fault(f"broker node {node} (leading the busiest partitions) killed with SIGKILL", stamp())
        faults.append(fault)
        await _blocking(lambda: rig.kill_node(node))
        await asyncio.sleep(timings.node_down)
    await _blocking(rig.restart_node)
    fault.back = stamp()
    await asyncio.sleep(timings.settle)


PLAYS: dict[str, Callable[[Rig, list[Fault], Timings], Awaitable[None]]] = {
    "services": _services_plan,
    "cluster": _cluster_plan,
}


async def _drained(report: Callable[[], Report], timings: Timings) -> float:
    """Wait until every dossier reached its final state, while some reach it: until none has for
    `timings.drain` seconds, or `timings.drain_most` have passed. Returns the seconds waited."""
    start = time.monotonic()
    progress, done = start, report().completed
    while time.monotonic() - start < timings.drain_most and time.monotonic() - progress < timings.drain:
        now = report()
        if not now.lost:
            break
        if now.completed > done:
            progress, done = time.monotonic(), now.completed
        await asyncio.sleep(1.0)  # polling interval of the condition above, bounded by the deadlines
    return time.monotonic() - start


async def _play(rig: Rig, plan: str, rate: float, issuer: str, timings: Timings) -> Report:
    watcher = Watcher(rig.settings, all_topics())
    watching = asyncio.create_task(watcher.run())
    procedures = [p.code for p in get_province(rig.settings.province).procedures]
    load = Load(rig.portal_urls, Citizens(issuer), procedures, run=rig.settings.topic_prefix.rstrip("."))
    stop = asyncio.Event()
    faults: list[Fault] = []
    started = stamp()
    submitting = asyncio.create_task(load.steady(rate, stop))
    try:
        await PLAYS[plan](rig, faults, timings)
    finally:
        stop.set()
    sent = await submitting
    ended = stamp()
    drained = await _drained(
        lambda: Report(plan, 0, 0, rate, ended - started, sent, watcher.ledger, faults, []), timings
    )
    report = Report(plan, 0, 0, rate, ended - started, sent, watcher.ledger, faults, [], [], drained)
    if report.lost:  # while the stack still runs: where the records of the dossiers short wait, if anywhere
        try:
            report.held = await asyncio.to_thread(
                held_back, rig.settings, sorted({p.name for p in rig.processes})
            )
        except BrokerViewError as exc:
            report.held_unknown = str(exc)
    watcher.stop()
    await watching
    report.gaps = watcher.ledger.gaps(started + 2, ended, min_rate=rate)
    ends = [f.struck for f in faults[1:]] + [ended]
    report.stalls = [
        (fault, stall_after(watcher.ledger, fault, until, min_rate=rate))
        for fault, until in zip(faults, ends, strict=True)
    ]
    return report


def run_chaos(
    plan: str,
    *,
    home: Path,
    brokers: int,
    workers: int,
    rate: float,
    user_settings: Settings,
    services: Sequence[str] = tuple(SERVICES),
    struck: Sequence[str] | None = None,
    timings: Timings = Timings(),
) -> Report:
    """Play `plan` on a stack of its own (see the package's docstring) and return its figures: `services`
    run, of which `struck` (default: all) are the ones the plan kills."""
    if plan not in PLAYS:
        raise ValueError(f"unknown plan {plan!r}: one of {', '.join(PLAYS)}")
    with rig(
        home,
        brokers=brokers,
        workers_per_service=workers,
        user_settings=user_settings,
        services=services,
        struck=struck,
    ) as running:
        issuer = str(running.settings.oidc_citizen_issuer)
        report = asyncio.run(_play(running, plan, rate, issuer, timings))
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
    deadline = time.monotonic() + Timings().drain

    def assigned(entry: Submitted) -> float | None:
        code = ledger.code(str(entry.submission_id))
        return ledger.assigned.get(code) if code else None

    while time.monotonic() < deadline and not all(assigned(s) for s in sent if s.submission_id):
        await asyncio.sleep(0.5)  # polling interval of the condition above, bounded by the deadline
    watcher.stop()
    await watching
    done = [(s.first_try + offset, a) for s in sent if (a := assigned(s)) is not None]
    if len(done) < count:
        raise RuntimeError(
            f"only {len(done)} of {count} dossiers were assigned within {Timings().drain:.0f} s"
        )
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
