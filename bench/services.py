"""Each service alone: its input topic filled beforehand, then the service started, and its output read
back. The rate is outputs per second from the first output to the last, so the worker's start-up is left
out; it is set beside the raw consume → produce loop of the same run."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.environment import Bench, Outbound, Reader, example, outbound, produce_all
from bench.resources import Usage, usage_of
from egov.contracts.topics import EventTypes, Topics, TopicSpec


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _code(i: int) -> str:
    """Dossier codes of one agency over as many days as needed (10,000 a day)."""
    day, sequence = divmod(i, 10_000)
    return f"000.00.04.H11-2611{10 + day:02d}-{sequence + 1:04d}"


Inputs = list[tuple[str, dict[str, Any]]]


def _submitted(i: int) -> Inputs:
    return [
        (EventTypes.DOSSIER_SUBMITTED, example(EventTypes.DOSSIER_SUBMITTED, submission_id=str(uuid.uuid4())))
    ]


def _verification(i: int) -> Inputs:
    record = example(
        EventTypes.IDENTITY_VERIFICATION_REQUESTED,
        dossier_code=_code(i),
        request_id=str(uuid.uuid4()),
        requested_at=_now(),
    )
    return [(EventTypes.IDENTITY_VERIFICATION_REQUESTED, record)]


def _lookup(i: int) -> Inputs:
    record = example(EventTypes.POPULATION_LOOKUP_REQUESTED, correlation_id=str(uuid.uuid4()))
    return [(EventTypes.POPULATION_LOOKUP_REQUESTED, record)]


def _received_then_accepted(i: int) -> Inputs:
    """A dossier's receipt (which tells notify how to reach the citizen), then its acceptance (a notice)."""
    code = _code(i)
    received = example(EventTypes.DOSSIER_RECEIVED, dossier_code=code, submission_id=str(uuid.uuid4()))
    accepted = example(
        EventTypes.DOSSIER_STATUS_CHANGED,
        dossier_code=code,
        from_status="NEWLY_REGISTERED",
        to_status="ACCEPTED",
    )
    return [(EventTypes.DOSSIER_RECEIVED, received), (EventTypes.DOSSIER_STATUS_CHANGED, accepted)]


@dataclass(frozen=True)
class Feed:
    """What one service is fed, as its producer would write it, and what it answers."""

    service: str
    source_owner: str
    input: TopicSpec
    make: Callable[[int], Inputs]
    output: TopicSpec
    output_type: str
    #: What the service is told for the run (e.g. the LGSP waits for answers longer than the run lasts, so
    #: that no request is retried: the population stand-in is not running).
    env: tuple[tuple[str, str], ...] = ()


FEEDS = (
    Feed("onestop", "portal", Topics.DOSSIER_SUBMISSIONS, _submitted, Topics.DOSSIERS,
         EventTypes.DOSSIER_RECEIVED),
    Feed("lgsp", "onestop", Topics.ONESTOP_TO_LGSP, _verification, Topics.POPULATION_REQUESTS,
         EventTypes.POPULATION_LOOKUP_REQUESTED, (("EGOV_LGSP_TIMEOUT", "3600"),)),
    Feed("population", "lgsp", Topics.POPULATION_REQUESTS, _lookup, Topics.POPULATION_ANSWERS,
         EventTypes.POPULATION_LOOKUP_ANSWERED),
    Feed("notify", "onestop", Topics.DOSSIERS, _received_then_accepted, Topics.NOTIFICATIONS,
         EventTypes.NOTIFICATION_SENT),
)  # fmt: skip


@dataclass
class Alone:
    service: str
    events: int
    #: Events handled per second (inputs: notify reads two per notice it sends).
    per_s: float
    seconds: float
    usage: Usage

    def as_json(self, loop_per_s: float) -> dict[str, Any]:
        return {
            "service": self.service,
            "events": self.events,
            "per_s": round(self.per_s, 1),
            "share_of_raw_loop": round(self.per_s / loop_per_s, 4),
            "cpu_s_per_1000": round(self.usage.cpu_seconds / self.events * 1000, 2),
            "rss_mib": round(self.usage.peak_rss_mib, 1),
        }


async def alone(bench: Bench, feed: Feed, count: int) -> Alone:
    prefix = f"bench-{feed.service}-{uuid.uuid4().hex[:4]}-"
    await asyncio.to_thread(bench.provision, prefix)
    records: list[Outbound] = [
        outbound(feed.input, event_type, record, source=feed.source_owner)
        for i in range(count)
        for event_type, record in feed.make(i)
    ]
    await produce_all(bench.broker.bootstrap, bench.admin(), feed.input.full_name(prefix), records)
    out = feed.output.full_name(prefix)
    async with Reader(bench.broker.bootstrap, bench.admin(), [out]) as reader:
        [process] = await asyncio.to_thread(bench.start_services, [feed.service], prefix, dict(feed.env))
        try:
            assert process.process is not None
            pid = process.process.pid

            def outputs(seen: list[Any]) -> bool:
                return sum(s.type == feed.output_type for s in seen) >= count

            with usage_of([pid]) as usage:
                await reader.until(
                    outputs, timeout=60 + count / 20, what=f"{count} outputs of {feed.service}"
                )
        finally:
            await asyncio.to_thread(bench.stop_services, [process])
        times = [s.at for s in reader.seen if s.type == feed.output_type][:count]
    seconds = max(times[-1] - times[0], 1e-6)
    handled = len(records) * (count - 1) / count
    return Alone(feed.service, len(records), handled / seconds, seconds, usage)
