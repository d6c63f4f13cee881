"""The whole stack through HTTP: dossiers posted to the portal as a one-stop counter officer would, read back
on the dossiers topic with an independent client.

- sustained intake: as many POSTs as some clients keep going for a while; dossiers per second received
  (POST → DossierReceived) and assigned (POST → DossierAssigned: identity checked through the LGSP with the
  national population database, then routed to the department);
- latency at fixed rates: POSTs sent on a schedule (open loop), POST → DossierAssigned p50/p95/p99;
- under a fast business clock (a day a second), so the rest of each journey (the department's decision, fees,
  results, notices) runs meanwhile, as it would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.environment import Bench, Reader, Seen
from bench.resources import Usage, rss_mib, usage_of
from bench.where import scrape
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import get_province
from egov.tools.identity.signin import SignIn
from egov.tools.samples import submission
from services import SERVICES
from services.population.domain import get_register

#: One business day per real second, as the demo runs.
FAST_CLOCK = {"EGOV_CLOCK_SPEED": "86400", "EGOV_TIMER_INTERVAL": "0.1", "EGOV_LGSP_TIMEOUT": "5"}


@dataclass
class Posted:
    at: float
    status: int
    submission_id: str | None


@dataclass
class Load:
    """What one load step sent and what came back."""

    posted: list[Posted] = field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, int(share * len(ranked)))]


class Pipeline:
    """The running stack of one benchmark run and the means to load it."""

    def __init__(self, bench: Bench, prefix: str) -> None:
        self.bench = bench
        self.prefix = prefix
        self.province = get_province("binh-thuan")
        self.codes = [p.code for p in self.province.procedures]
        self.people = get_register().answering()
        assert bench.provider is not None
        self.sign_in = SignIn(bench.provider.citizen_issuer, bench.provider.official_issuer)
        centre = next(a for a in self.province.agencies if a.kind == "centre")
        self.officer = f"{centre.code}/mot-cua-01"
        self._token: tuple[float, str] | None = None
        self._signing_in = asyncio.Lock()
        self.portal_url = ""
        self.pids: dict[str, int] = {}
        self.urls: dict[str, str] = {}

    async def start(self) -> None:
        await asyncio.to_thread(self.bench.provision, self.prefix)
        env = {**FAST_CLOCK, "EGOV_CLOCK_ANCHOR": _now_iso()}
        started = await asyncio.to_thread(self.bench.start_services, list(SERVICES), self.prefix, env)
        for process in started:
            assert process.process is not None
            self.pids[process.name] = process.process.pid
            self.urls[process.name] = process.url
            if process.name == "portal":
                self.portal_url = process.url

    def broker_pid(self) -> int | None:
        return self.bench.broker.pid()

    def all_pids(self) -> list[int]:
        broker = self.broker_pid()
        return [*self.pids.values(), *([broker] if broker else [])]

    def rss(self) -> dict[str, float]:
        found = {name: rss_mib(pid) for name, pid in self.pids.items()}
        broker = self.broker_pid()
        if broker:
            found["kafka"] = rss_mib(broker)
        return found

    def scrape(self) -> dict[str, dict[str, float]]:
        """Each service's time spent so far, from its own metrics (bench.where.scrape)."""
        return {name: scrape(url) for name, url in self.urls.items()}

    async def token(self) -> str:
        """The counter officer's token, signed in anew before it expires."""
        async with self._signing_in:  # one sign-in for all the posts waiting, not one each
            if self._token is None or time.monotonic() - self._token[0] > 100:
                value = await asyncio.to_thread(self.sign_in.official, self.officer)
                self._token = (time.monotonic(), value)
            return self._token[1]

    def body(self, rng: random.Random) -> dict[str, Any]:
        body = submission(rng, self.codes)
        body["channel"] = "IN_PERSON"  # the counter officer receives it for the citizen in front of them
        body["applicant"] = rng.choice(self.people).as_citizen()
        return body

    async def _post(self, client: httpx.AsyncClient, rng: random.Random, load: Load) -> None:
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {await self.token()}"}
        try:
            answer = await client.post("/api/v1/dossiers", json=self.body(rng), headers=headers)
            sid = answer.json().get("submission_id") if answer.status_code == 202 else None
            load.posted.append(Posted(started, answer.status_code, sid))
        except httpx.HTTPError:
            load.posted.append(Posted(started, 0, None))

    async def sustained(self, seconds: float, clients: int = 48) -> Load:
        """`clients` clients posting one dossier after another for `seconds`."""
        load = Load()
        deadline = time.monotonic() + seconds
        rng = random.Random(15)
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=self.portal_url, timeout=30.0, limits=limits) as client:

            async def one_client() -> None:
                while time.monotonic() < deadline:
                    await self._post(client, rng, load)

            load.started = time.monotonic()
            await asyncio.gather(*(one_client() for _ in range(clients)))
            load.seconds = time.monotonic() - load.started
        return load

    async def at_rate(self, rate: float, seconds: float) -> Load:
        """POSTs on a schedule of `rate` a second for `seconds`, whatever the answers take (open loop)."""
        load = Load()
        rng = random.Random(int(rate))
        count = int(rate * seconds)
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=self.portal_url, timeout=30.0, limits=limits) as client:
            started = load.started = time.monotonic()
            tasks = []
            for i in range(count):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # the schedule of the open-loop load, not a readiness wait
                tasks.append(asyncio.create_task(self._post(client, rng, load)))
            await asyncio.gather(*tasks)
            load.seconds = time.monotonic() - started
        return load


@dataclass
class Outcome:
    """A load step's figures: throughput and latency of its dossiers, read back from the topic."""

    posted: int
    accepted: int
    received: int
    assigned: int
    seconds: float
    latency_received: list[float]
    latency_assigned: list[float]
    usage: Usage | None = None

    def as_json(self) -> dict[str, Any]:
        def ms(values: list[float], share: float) -> float | None:
            found = percentile(values, share)
            return round(found * 1000, 1) if found is not None else None

        figures: dict[str, Any] = {
            "posted": self.posted,
            "accepted_202": self.accepted,
            "received": self.received,
            "assigned": self.assigned,
            "seconds": round(self.seconds, 1),
            "received_per_s": round(self.received / self.seconds, 1),
            "assigned_per_s": round(self.assigned / self.seconds, 1),
            "post_to_received_ms": {f"p{p}": ms(self.latency_received, p / 100) for p in (50, 95, 99)},
            "post_to_assigned_ms": {f"p{p}": ms(self.latency_assigned, p / 100) for p in (50, 95, 99)},
        }
        if self.latency_assigned:
            figures["post_to_assigned_ms"]["mean"] = round(statistics.fmean(self.latency_assigned) * 1000, 1)
        if self.usage is not None and self.assigned:
            per_1000 = self.usage.cpu_seconds / self.assigned * 1000
            figures["cpu_s_per_1000_dossiers"] = round(per_1000, 1)
            # What the machine's CPUs could carry at that cost, were nothing else running on them.
            figures["cpu_ceiling_per_s"] = round(len(os.sched_getaffinity(0)) * 1000 / per_1000, 1)
        return figures


def outcome(load: Load, seen: list[Seen], window_end: float, usage: Usage | None = None) -> Outcome:
    """Match each accepted POST with its DossierReceived (by submission id) and DossierAssigned (by code),
    counting what arrived by `window_end` (the end of the load for a throughput, later for latencies)."""
    registry = get_registry()
    by_submission = {p.submission_id: p for p in load.posted if p.submission_id}
    code_of: dict[str, str] = {}
    received: list[float] = []
    assigned: list[float] = []
    for record in seen:
        if record.at > window_end:
            continue
        if record.type == EventTypes.DOSSIER_RECEIVED:
            body = registry.decode(record.value)[1]
            post = by_submission.get(body["submission_id"])
            if post is not None:
                code_of[body["dossier_code"]] = body["submission_id"]
                received.append(record.at - post.at)
        elif record.type == EventTypes.DOSSIER_ASSIGNED:
            code = (record.key or b"").decode()
            submission_id = code_of.get(code)
            if submission_id is not None:
                assigned.append(record.at - by_submission[submission_id].at)
                code_of.pop(code)  # a second assignment (after a supplement) is not a new dossier
    return Outcome(
        posted=len(load.posted),
        accepted=len(by_submission),
        received=len(received),
        assigned=len(assigned),
        seconds=load.seconds,
        latency_received=received,
        latency_assigned=assigned,
        usage=usage,
    )


async def measured(
    pipeline: Pipeline, run: Callable[[], Any], drain: float = 10.0
) -> tuple[Load, list[Seen], float, Usage]:
    """Run a load step with a reader on the dossiers topic; wait up to `drain` seconds after it for the
    stragglers (until every accepted dossier is assigned, or the time is up)."""
    bench = pipeline.bench
    topic = Topics.DOSSIERS.full_name(pipeline.prefix)
    async with Reader(bench.broker.bootstrap, bench.admin(), [topic]) as reader:
        with usage_of(pipeline.all_pids()) as usage:
            load: Load = await run()
            accepted = sum(1 for p in load.posted if p.submission_id)

            def all_assigned(seen: list[Seen]) -> bool:
                return sum(s.type == EventTypes.DOSSIER_ASSIGNED for s in seen) >= accepted

            # what did not arrive in time is counted as not assigned
            with contextlib.suppress(TimeoutError):
                await reader.until(all_assigned, timeout=drain, what="every dossier assigned")
        return load, list(reader.seen), time.monotonic(), usage


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat()
