"""`egov demo`: a real broker, the services, a few citizens' dossiers, and what became of them."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from typing import Any

import click
import httpx

from egov.localkafka import LocalBroker, broker_answers
from egov.province import get_province
from egov.runtime.admin import ensure_topics
from egov.runtime.settings import get_settings
from egov.samples import submission
from egov.stack import ServiceProcess, running
from services import SERVICES, service_port

WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


class DemoError(RuntimeError):
    """The scenario did not go as it should; the message says where to look."""


def wait_for_code(client: httpx.Client, submission_id: str, timeout: float) -> str:
    """Poll the portal until the submission has a dossier code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/submissions/{submission_id}").json()
        if body.get("dossier_code"):
            return str(body["dossier_code"])
        time.sleep(0.2)
    log = get_settings().state_dir / "logs" / "onestop.log"
    raise DemoError(
        f"submission {submission_id} got no dossier code within {timeout:.0f}s: the one-stop system did not "
        f"receive it. Its log says why ({log}); a dead-lettered dossier is on egov.onestop.dead-letters.v1. "
        "State left by an older version of the project can be cleared with `make clean`."
    )


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
        services = [ServiceProcess(name, service_port(name), logs / f"{name}.log") for name in SERVICES]
        click.echo("Starting services: " + ", ".join(f"{s.name} ({s.url})" for s in services))
        with running(services):
            portal = services[0]
            click.echo(f"Portal answering at {portal.url}  (logs in {logs})\n")
            _play(portal.url, province, count=count, seed=seed)
        click.echo("\nServices stopped.")
    finally:
        if started_broker and not keep_broker:
            broker.stop()
            click.echo("Kafka broker stopped.")


def _play(portal_url: str, province: Any, *, count: int, seed: int) -> None:
    rng = random.Random(seed)
    codes = [p.code for p in province.procedures]
    with httpx.Client(base_url=portal_url, timeout=10.0) as client:
        bad = submission(rng, codes)
        bad["applicant"]["id_number"] = "060" + "9" + bad["applicant"]["id_number"][4:]
        answer = client.post("/api/v1/dossiers", json=bad)
        click.echo(f"A dossier with a wrong ID number is refused: HTTP {answer.status_code}")
        for error in answer.json()["errors"]:
            click.echo(f"  {error['field']}: {error['message']}")
        click.echo("")

        accepted = []
        for _ in range(count):
            body = submission(rng, codes)
            answer = client.post("/api/v1/dossiers", json=body)
            answer.raise_for_status()
            accepted.append(answer.json()["submission_id"])
        click.echo(f"Submitted {len(accepted)} dossiers; the one-stop system received them:\n")
        click.echo(f"  {'dossier code':27} {'appointment date':25} {'working days':>12}  procedure")
        for submission_id in accepted:
            code = wait_for_code(client, submission_id, timeout=60)
            view = client.get(f"/api/v1/dossiers/{code}").json()
            when = dt.date.fromisoformat(view["appointment_date"])
            procedure = province.procedure(view["procedure_code"])
            click.echo(
                f"  {code:27} {when.isoformat()} {WEEKDAYS_VI[when.weekday()]:14} "
                f"{procedure.processing_days:>12}  {procedure.name}"
            )
