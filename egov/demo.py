"""`egov demo`: a real broker, the services, a few citizens' dossiers, and what became of them."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
import httpx

from egov.architecture.model import get_model
from egov.localkafka import LocalBroker, broker_answers
from egov.paths import REPO_ROOT
from egov.province import Procedure, Province, get_province
from egov.runtime.admin import ensure_topics
from egov.runtime.settings import Settings, get_settings
from egov.samples import submission
from egov.stack import ServiceProcess, running
from egov.trace import TraceStep, journeys, layer_names, render
from services import SERVICES, service_port
from services.agency.domain import Behaviour, Profile
from services.population.domain import altered, get_register


class DemoError(RuntimeError):
    """The scenario did not go as it should; the message says where to look."""


#: Real seconds per business day while the demo runs: a 20-working-day procedure plays out in ~30 s.
DAY_SECONDS = 1.0
DEMO_PROFILE = REPO_ROOT / "services" / "agency" / "profiles" / "demo.yaml"
FINAL = ("RESULT_RETURNED", "STOPPED", "NOT_ACCEPTED")


@dataclass
class Dossier:
    """One citizen's dossier in the scenario."""

    path: str
    body: dict[str, Any]
    submission_id: str = ""
    code: str = ""
    view: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.view.get("status") in FINAL


def scenario(province: Province, *, count: int, seed: int) -> list[Dossier]:
    """One dossier per path of the citizen journey, then `count` more citizens of the register."""
    rng = random.Random(seed)
    register = get_register()
    people = rng.sample(register.answering(), 5 + count)
    fee, supplement, refused, late, free = path_procedures(province, Profile.load(DEMO_PROFILE))
    paths = [
        ("accepted, fee paid, result on time", fee, people[0].as_citizen()),
        ("identity mismatch: refused (form 03)", fee, altered(people[1], "full_name")),
        ("unknown ID number: refused (form 03)", fee, register.stranger(rng)),
        ("supplement asked (form 02), then supplied", supplement, people[2].as_citizen()),
        ("the department refuses", refused, people[3].as_citizen()),
        ("population database time-out: checked by hand", free, rng.choice(register.silent()).as_citizen()),
        ("late: apology (form 04), new date", late, people[4].as_citizen()),
        *(
            (f"citizen {i + 1}", rng.choice([fee, supplement, free]), people[5 + i].as_citizen())
            for i in range(count)
        ),
    ]
    dossiers = []
    for path, procedure, applicant in paths:
        body = submission(rng, [procedure])
        body["applicant"] = applicant
        dossiers.append(Dossier(path, body))
    return dossiers


def path_procedures(province: Province, profile: Profile) -> tuple[str, str, str, str, str]:
    """Procedures of the catalogue that, under the demo's department profile, take each path: approved with
    a fee on time, a supplement first, refused, late, approved without a fee."""

    def first(what: str, test: Callable[[Procedure, Behaviour], bool]) -> str:
        for procedure in province.procedures:
            if test(procedure, profile.behaviour(procedure.code)):
                return procedure.code
        raise DemoError(f"no procedure of {province.name} is {what} in {DEMO_PROFILE}")

    def plain(b: Behaviour) -> bool:
        return b.supplement_chance == 0 and b.reject_chance == 0

    return (
        first(
            "approved with a fee, on time",
            lambda p, b: plain(b) and p.fee_vnd > 0 and b.duration_days < p.processing_days,
        ),
        first("supplemented first", lambda p, b: b.supplement_chance == 1 and b.reject_chance == 0),
        first("refused", lambda p, b: b.reject_chance == 1),
        first("late", lambda p, b: plain(b) and b.duration_days > p.processing_days),
        first("approved without a fee", lambda p, b: plain(b) and p.fee_vnd == 0),
    )


def service_env() -> dict[str, str]:
    """What the demo changes in the services: a fast business clock and the demo's department profile."""
    return {
        "EGOV_CLOCK_SPEED": str(86400 / DAY_SECONDS),
        "EGOV_CLOCK_ANCHOR": dt.datetime.now(dt.UTC).isoformat(),
        "EGOV_TIMER_INTERVAL": "0.1",
        "EGOV_AGENCY_PROFILE": str(DEMO_PROFILE),
        "EGOV_LGSP_TIMEOUT": "1.5",
        "EGOV_LGSP_ATTEMPTS": "2",
        "EGOV_DOCUMENTS_URL": f"http://127.0.0.1:{service_port('documents')}",
    }


def run_demo(*, count: int, seed: int, keep_broker: bool) -> None:
    settings = get_settings()
    province = get_province(settings.province)
    broker = LocalBroker.from_settings(settings)
    started_broker = False
    if broker_answers(settings.kafka_bootstrap_servers):
        click.echo(f"Using the Kafka broker that answers at {settings.kafka_bootstrap_servers}")
    else:
        click.echo(f"Starting a local Kafka broker at {broker.bootstrap} (official jars, KRaft) …")
        started_broker = broker.start()
    try:
        asyncio.run(ensure_topics(settings))
        logs = settings.state_dir / "logs"
        env = service_env()
        services = [
            ServiceProcess(name, service_port(name), logs / f"{name}.log", env=env) for name in SERVICES
        ]
        click.echo("Starting services: " + ", ".join(f"{s.name} ({s.url})" for s in services))
        with running(services):
            portal = services[0]
            click.echo(f"Portal answering at {portal.url}  (logs in {logs})")
            click.echo(
                f"Business time runs {86400 / DAY_SECONDS:,.0f}× faster: one day every {DAY_SECONDS} s.\n"
            )
            dossiers = _play(portal.url, province, count=count, seed=seed)
            _report(settings, province, dossiers)
        click.echo("\nServices stopped.")
    finally:
        if started_broker and not keep_broker:
            broker.stop()
            click.echo("Kafka broker stopped.")


def _play(
    portal_url: str, province: Province, *, count: int, seed: int, timeout: float = 180.0
) -> list[Dossier]:
    rng = random.Random(seed)
    with httpx.Client(base_url=portal_url, timeout=10.0) as client:
        bad = submission(rng, [p.code for p in province.procedures])
        bad["applicant"]["id_number"] = "060" + "9" + bad["applicant"]["id_number"][4:]
        answer = client.post("/api/v1/dossiers", json=bad)
        click.echo(f"A dossier with a wrong ID number is refused at the portal: HTTP {answer.status_code}")
        for error in answer.json()["errors"]:
            click.echo(f"  {error['field']}: {error['message']}")
        click.echo("")

        dossiers = scenario(province, count=count, seed=seed)
        for dossier in dossiers:
            answer = client.post("/api/v1/dossiers", json=dossier.body)
            answer.raise_for_status()
            dossier.submission_id = answer.json()["submission_id"]
        click.echo(f"Submitted {len(dossiers)} dossiers; following them to the end of their journey …")
        deadline = time.monotonic() + timeout
        while not all(d.done for d in dossiers):
            if time.monotonic() > deadline:
                waiting = ", ".join(
                    f"{d.code or d.submission_id} ({d.view.get('status', 'no code')})"
                    for d in dossiers
                    if not d.done
                )
                logs = get_settings().state_dir / "logs"
                raise DemoError(
                    f"not finished within {timeout:.0f}s: {waiting}; the services' logs are in {logs}"
                )
            for dossier in dossiers:
                if not dossier.done:
                    _follow(client, dossier)
            time.sleep(0.3)
    return dossiers


def _follow(client: httpx.Client, dossier: Dossier) -> None:
    """Look the dossier up; answer a supplement request as the citizen would."""
    if not dossier.code:
        found = client.get(f"/api/v1/submissions/{dossier.submission_id}").json()
        dossier.code = found.get("dossier_code") or ""
        if not dossier.code:
            return
    dossier.view = client.get(f"/api/v1/dossiers/{dossier.code}").json()
    if dossier.view.get("status") == "SUPPLEMENT_REQUESTED":
        files = dossier.body["attachments"]
        answer = client.post(
            f"/api/v1/dossiers/{dossier.code}/supplements",
            json={"attachments": files, "note": "Đã bổ sung theo yêu cầu."},
            headers={"Idempotency-Key": f"{dossier.code}/supplement"},
        )
        if answer.status_code not in (202, 409):
            raise DemoError(f"the supplement of {dossier.code} was refused: {answer.text}")


def summary(dossiers: list[Dossier], traced: dict[str, list[TraceStep]]) -> list[str]:
    """Dossiers by final status, the on-time rate of the results returned, and the signed documents issued."""
    by_status = Counter(f"{d.view['status']} ({d.view['status_code']})" for d in dossiers)
    results = [d.view["result"] for d in dossiers if d.view.get("result")]
    on_time = sum(1 for r in results if r["on_time"])
    documents = sum(
        1
        for steps in traced.values()
        for s in steps
        if s.short_type == "AgencyDecisionMade" and s.writer == "agency"
    )
    signed = sum(1 for r in results if r.get("document_id"))
    lines = ["", "Summary: " + ", ".join(f"{n} {status}" for status, n in by_status.most_common())]
    if results:
        lines.append(
            f"  on time or early: {on_time} of {len(results)} results ({100 * on_time / len(results):.0f} %)"
        )
    lines.append(
        f"  department decisions: {documents}; results carried by a signed, issued document: {signed}"
    )
    return lines


def _report(settings: Settings, province: Province, dossiers: list[Dossier]) -> None:
    click.echo(f"\n  {'dossier code':27} {'final status':21} {'result':10} path")
    for d in dossiers:
        result = d.view.get("result") or {}
        on_time = {True: "on time", False: "late", None: "—"}[result.get("on_time")]
        status = f"{d.view['status']} ({d.view['status_code']})"
        click.echo(f"  {d.code:27} {status:21} {on_time:10} {d.path}")
    traced = journeys(settings, [d.code for d in dossiers])
    for line in summary(dossiers, traced):
        click.echo(line)
    layers = layer_names(get_model(), SERVICES)
    click.echo(
        "\nEach dossier's journey across the layers (business time in the province; + days since submission):"
    )
    for d in dossiers:
        click.echo("")
        procedure = province.procedure(d.view["procedure_code"])
        click.echo(f"{d.path} — {procedure.name if procedure else d.view['procedure_code']}")
        for line in render(d.code, traced[d.code], timezone=province.timezone, layers=layers):
            click.echo(line)
