"""`make bench` (`python -m bench`): the project's speed measured beside a raw Kafka client, in one run on one
broker, so the ratios hold on a noisy machine. Prints the figures and the targets, writes them as JSON and a
chart of latency against rate. Not part of `make test`.

    python -m bench            # the full run (about 25 minutes: a 10-minute soak included)
    python -m bench --quick    # under two minutes of load (a few minutes with start-up)
"""

from __future__ import annotations

import asyncio
import json
import platform
import time
from pathlib import Path
from typing import Any

import click

from bench.environment import bench_environment
from bench.pipeline import Outcome, Pipeline, measured, outcome
from bench.raw import ceilings
from bench.report import chart, print_report
from bench.services import FEEDS, alone
from bench.where import difference, profile

RESULTS = Path(__file__).resolve().parent / "results"
_STARTED = time.monotonic()


def _say(step: str) -> None:
    """A progress line with the seconds since the run began."""
    click.echo(f"[{time.monotonic() - _STARTED:6.0f} s] {step}")


@click.command()
@click.option("--quick", is_flag=True, help="Short steps, no soak: under two minutes of load.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True)
@click.option(
    "--rates", default="20,100,300", show_default=True, help="Dossiers a second of the latency steps."
)
def main(quick: bool, out: Path, rates: str) -> None:
    """Measure, print, and write `<out>/latest.json` and `<out>/latency.png`."""
    chosen = [float(r) for r in rates.split(",") if r.strip()]
    plan = {
        "raw_messages": 10_000 if quick else 50_000,
        "service_events": 1_500 if quick else 10_000,
        "sustained_s": 15 if quick else 60,
        "rate_s": 8 if quick else 30,
        "soak_s": 0 if quick else 600,
        "soak_rate": 100,
        "profile_rate": 100,
    }
    started = time.monotonic()
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": _cpus(), "python": platform.python_version(), "system": platform.platform()},
        "mode": "quick" if quick else "full",
        "plan": plan,
    }
    with bench_environment(identity=True) as bench:
        _say("Ceilings: a raw aiokafka producer and consume → produce loop …")
        raw = asyncio.run(ceilings(bench, plan["raw_messages"]))
        results["raw"] = raw.as_json()
        _say("Each service alone, fed from a prepared topic …")
        results["services"] = [
            asyncio.run(alone(bench, feed, plan["service_events"])).as_json(raw.loop_per_s) for feed in FEEDS
        ]
        _say("The whole stack through HTTP (a business day a second) …")
        results["pipeline"] = asyncio.run(_pipeline(bench, plan, chosen))
    results["seconds"] = round(time.monotonic() - started)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    chart(results, out / "latency.png")
    print_report(results)
    click.echo(f"\nWritten: {out / 'latest.json'}, {out / 'latency.png'}")


async def _pipeline(bench: Any, plan: dict[str, Any], rates: list[float]) -> dict[str, Any]:
    pipeline = Pipeline(bench, prefix="bench-stack-")
    await pipeline.start()
    figures: dict[str, Any] = {"rss_idle_mib": pipeline.rss()}
    if bench.provider is not None and bench.provider.pid():
        from bench.resources import rss_mib

        figures["identity_provider_rss_mib"] = round(rss_mib(bench.provider.pid()), 1)
    _say("warm-up at 20 dossiers/s")
    await measured(pipeline, lambda: pipeline.at_rate(20, 5), drain=30)  # warm-up, not reported

    async def sustained() -> Any:
        return await pipeline.sustained(plan["sustained_s"])

    _say(f"sustained intake for {plan['sustained_s']} s")
    spent = await asyncio.to_thread(pipeline.scrape)
    load, seen, end, usage = await measured(pipeline, sustained, drain=20)
    window = outcome(load, seen, load.started + load.seconds, usage)
    figures["sustained"] = window.as_json()
    # The CPU was measured until the drain ended: per dossier assigned by then, not by the load's end.
    drained = outcome(load, seen, end)
    if drained.assigned:
        per_1000 = usage.cpu_seconds / drained.assigned * 1000
        figures["sustained"] |= {
            "assigned_by_drain_end": drained.assigned,
            "cpu_s_per_1000_dossiers": round(per_1000, 1),
            "cpu_ceiling_per_s": round(_cpus() * 1000 / per_1000, 1),
        }
    figures["where"] = where_the_time_goes(pipeline, usage, spent, await asyncio.to_thread(pipeline.scrape))
    figures["rss_under_load_mib"] = {
        name: round(usage.peak_rss_by_pid.get(pid, 0.0), 1) for name, pid in pipeline.pids.items()
    }
    figures["rates"] = []
    for rate in rates:
        _say(f"{rate:g} dossiers/s for {plan['rate_s']} s")

        async def step(rate: float = rate) -> Any:
            return await pipeline.at_rate(rate, plan["rate_s"])

        load, seen, end, usage = await measured(pipeline, step, drain=30)
        result: Outcome = outcome(load, seen, end, usage)
        figures["rates"].append({"rate": rate, **result.as_json()})
    # A profile of the service that used the most CPU under the sustained load, at a steady rate.
    # (the broker is measured but not profiled: py-spy reads Python stacks)
    services = {n: s for n, s in figures["where"]["cpu_seconds"].items() if n in pipeline.pids}
    hottest = max(services.items(), key=lambda item: item[1])[0]
    rate = plan["profile_rate"]
    _say(f"a profile of {hottest} at {rate} dossiers/s")

    async def profiled() -> Any:
        load, found = await asyncio.gather(
            pipeline.at_rate(rate, plan["rate_s"]),
            asyncio.to_thread(profile, hottest, pipeline.pids[hottest], int(plan["rate_s"])),
        )
        figures["profile"] = found.as_json() if found is not None else None
        return load

    await measured(pipeline, profiled, drain=30)
    if plan["soak_s"]:
        _say(f"soak at {plan['soak_rate']} dossiers/s for {plan['soak_s']} s")
        before = pipeline.rss()

        async def soak() -> Any:
            return await pipeline.at_rate(plan["soak_rate"], plan["soak_s"])

        load, seen, end, usage = await measured(pipeline, soak, drain=30)
        after = pipeline.rss()
        figures["soak"] = {
            "rate": plan["soak_rate"],
            "seconds": plan["soak_s"],
            **outcome(load, seen, end, usage).as_json(),
            "rss_before_mib": {k: round(v, 1) for k, v in before.items()},
            "rss_after_mib": {k: round(v, 1) for k, v in after.items()},
        }
    figures["rss_idle_mib"] = {k: round(v, 1) for k, v in figures["rss_idle_mib"].items()}
    return figures


def where_the_time_goes(
    pipeline: Pipeline, usage: Any, before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """CPU seconds of each process during the sustained load, and what each service's metrics say it spent
    its time on (handlers, acknowledgements, HTTP)."""
    names = {pid: name for name, pid in pipeline.pids.items()}
    broker = pipeline.broker_pid()
    if broker:
        names[broker] = "kafka"
    cpu = {names[pid]: round(seconds, 1) for pid, seconds in usage.cpu_seconds_by_pid.items() if pid in names}
    return {
        "cpu_seconds": dict(sorted(cpu.items(), key=lambda item: -item[1])),
        "metrics": {name: difference(after[name], before.get(name, {})) for name in after},
        **machine_busy(usage, _cpus()),
    }


def machine_busy(usage: Any, cpus: int) -> dict[str, float]:
    """How busy the machine's CPUs were during a step: the stack's CPU seconds (the broker and the services;
    the identity provider, idle once the load's tokens are issued, apart) and the load generator's, over the
    step's wall time."""
    wall = usage.seconds or float("nan")
    return {
        "wall_s": round(usage.seconds, 1),
        "stack_cpu_s": round(usage.cpu_seconds, 1),
        "load_generator_cpu_s": round(usage.own_cpu_seconds, 1),
        "cpus_busy": round((usage.cpu_seconds + usage.own_cpu_seconds) / wall, 2),
        "cpus": cpus,
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
