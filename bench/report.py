"""The benchmark's figures as a terminal report beside their targets, and a chart of latency against rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

#: The targets of the 2-core machine (the performance issue), checked against the run's figures.
TARGETS = {
    "intake_per_s": 400,
    "assigned_per_s": 300,
    "p50_ms_at_20": 100,
    "p99_ms_at_20": 300,
    "service_share_of_raw_loop": 0.30,
    "idle_rss_mib": 1300,
}


Verdict = tuple[str, str, str, bool]


def verdicts(results: dict[str, Any]) -> list[Verdict]:
    """(what, measured, target, met) for every target."""
    pipeline = results["pipeline"]
    sustained = pipeline["sustained"]
    intake, assigned = sustained["received_per_s"], sustained["assigned_per_s"]
    rows: list[Verdict] = [
        ("intake, POST → DossierReceived", f"{intake}/s", f"≥ {TARGETS['intake_per_s']}/s",
         intake >= TARGETS["intake_per_s"]),
        ("POST → DossierAssigned", f"{assigned}/s", f"≥ {TARGETS['assigned_per_s']}/s",
         assigned >= TARGETS["assigned_per_s"]),
    ]  # fmt: skip
    at_20 = next((r for r in pipeline["rates"] if r["rate"] == 20), None)
    if at_20 is not None:
        for share, target in (("p50", TARGETS["p50_ms_at_20"]), ("p99", TARGETS["p99_ms_at_20"])):
            found = at_20["post_to_assigned_ms"][share]
            met = found is not None and found <= target
            rows.append((f"at 20/s, POST → DossierAssigned {share}", f"{found} ms", f"≤ {target} ms", met))
    floor = TARGETS["service_share_of_raw_loop"]
    for service in results["services"]:
        share = service["share_of_raw_loop"]
        rows.append((f"{service['service']} alone, share of the raw loop", f"{share:.0%}", f"≥ {floor:.0%}",
                     share >= floor))  # fmt: skip
    idle = sum(pipeline["rss_idle_mib"].values())
    rows.append(("memory idle, broker + services (identity provider apart)", f"{idle:.0f} MiB",
                 f"≤ {TARGETS['idle_rss_mib']} MiB", idle <= TARGETS["idle_rss_mib"]))  # fmt: skip
    soak = pipeline.get("soak")
    if soak:
        before, after = sum(soak["rss_before_mib"].values()), sum(soak["rss_after_mib"].values())
        what = f"memory over a {soak['seconds'] // 60}-minute soak at {soak['rate']}/s"
        rows.append((what, f"{before:.0f} → {after:.0f} MiB", "flat (within 10 %)", after <= before * 1.10))
    return rows


def print_report(results: dict[str, Any]) -> None:
    raw = results["raw"]
    click.echo(f"\nMeasured {results['when']} on {results['machine']['cpus']} CPUs ({results['mode']} run)")
    click.echo(f"  message size                 {raw['message_bytes']} bytes")
    click.echo(f"  raw producer                 {raw['raw_producer_per_s']:>8,}/s")
    click.echo(f"  raw consume → produce loop   {raw['raw_consume_produce_per_s']:>8,}/s")
    for service in results["services"]:
        share, cpu = service["share_of_raw_loop"], service["cpu_s_per_1000"]
        click.echo(
            f"  {service['service']:<12} alone          {service['per_s']:>8,.0f}/s  "
            f"({share:.0%} of the raw loop, {cpu} CPU s per 1,000)"
        )
    pipeline = results["pipeline"]
    sustained = pipeline["sustained"]
    cpu = sustained.get("cpu_s_per_1000_dossiers", "—")
    click.echo(
        f"  sustained intake             {sustained['received_per_s']:>8}/s received, "
        f"{sustained['assigned_per_s']}/s assigned ({cpu} CPU s per 1,000 dossiers, all processes)"
    )
    for step in pipeline["rates"]:
        latency = step["post_to_assigned_ms"]
        click.echo(
            f"  at {step['rate']:>5.0f}/s                  POST → DossierAssigned p50 {latency['p50']} ms, "
            f"p95 {latency['p95']} ms, p99 {latency['p99']} ms ({step['assigned']} of {step['accepted_202']})"
        )
    idle = pipeline["rss_idle_mib"]
    click.echo("  memory idle (MiB)            " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(idle.items())))
    print_where(pipeline)
    click.echo("\nTargets")
    for what, found, target, met in verdicts(results):
        click.echo(f"  {'met ' if met else 'MISS'}  {what:<58} {found:>18}   {target}")


def print_where(pipeline: dict[str, Any]) -> None:
    """Where the time went under the sustained load, and the profile of the busiest service."""
    where = pipeline.get("where")
    if where:
        click.echo(
            "\nWhere the time goes (sustained load; seconds; acks: awaiting the writes' and the outputs' "
            "acknowledgements, after the handler)"
        )
        click.echo(f"  {'process':<13} {'CPU':>7} {'handled':>8} {'handlers':>9} {'acks':>8} {'HTTP':>8}")
        for name, cpu in where["cpu_seconds"].items():
            m = where["metrics"].get(name, {})
            click.echo(
                f"  {name:<13} {cpu:>7.1f} {m.get('events_handled', 0):>8.0f} {m.get('handler_s', 0):>9.1f} "
                f"{m.get('publish_s', 0):>8.1f} {m.get('http_s', 0):>8.1f}"
            )
        if "cpus_busy" in where:
            sustained = pipeline["sustained"]
            handled = sum(m.get("events_handled", 0) for m in where["metrics"].values())
            if sustained["assigned"]:
                click.echo(
                    f"  events handled by the services: {handled:.0f}, {handled / sustained['assigned']:.0f} "
                    "for each dossier assigned meanwhile"
                )
            click.echo(
                f"  the machine: the stack used {where['stack_cpu_s']} CPU s and the load generator "
                f"{where['load_generator_cpu_s']} in {where['wall_s']} s, {where['cpus_busy']} of its "
                f"{where['cpus']} CPUs; at {sustained.get('cpu_s_per_1000_dossiers')} CPU s per 1,000 "
                f"dossiers they carry at most {sustained.get('cpu_ceiling_per_s')} dossiers/s"
            )
    found = pipeline.get("profile")
    if found:
        click.echo(
            f"\nProfile of {found['service']} (py-spy, {found['seconds']} s, {found['samples']} samples): "
            "own time, then the project's functions with what runs below them"
        )
        for row in found["own_share"][:8]:
            click.echo(f"  {row['share']:>6.1%}  {row['function']}")
        click.echo("  …")
        for row in found["project_inclusive_share"][:8]:
            click.echo(f"  {row['share']:>6.1%}  {row['function']}")


def chart(results: dict[str, Any], path: Path) -> None:
    """Latency (POST → DossierAssigned, p50/p95/p99) against the rate, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = results["pipeline"]["rates"]
    rates = [s["rate"] for s in steps]
    figure, axes = plt.subplots(figsize=(7, 4), dpi=110)
    for share, style in (("p50", "-o"), ("p95", "--s"), ("p99", ":^")):
        values = [s["post_to_assigned_ms"][share] for s in steps]
        axes.plot(rates, [v if v is not None else float("nan") for v in values], style, label=share)
    axes.set_xlabel("dossiers per second (POST to the portal, open loop)")
    axes.set_ylabel("POST → DossierAssigned (ms)")
    axes.set_yscale("log")
    axes.set_title(f"Whole stack on {results['machine']['cpus']} CPUs, {results['when'][:10]}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
