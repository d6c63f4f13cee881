"""`egov demo`: a real broker, the services, a few citizens' dossiers, and what became of them."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
import httpx

from egov.paths import REPO_ROOT
from egov.platform.province import Procedure, Province, get_province
from egov.runtime.settings import Settings, get_settings
from egov.tools.architecture.model import get_model
from egov.tools.identity.keycloak import provider_env
from egov.tools.identity.realms import citizens_with_accounts
from egov.tools.identity.signin import DocumentsAuth, PortalAuth, SignIn
from egov.tools.localkafka import LocalBroker, broker_answers
from egov.tools.provision import provision
from egov.tools.samples import official_document, submission
from egov.tools.stack import ServiceProcess, running
from egov.tools.trace import TraceStep, journeys, layer_names, render
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
    # Citizens who submit online sign in through the VNeID stand-in: they are people with an account there.
    with_accounts = citizens_with_accounts()
    people = rng.sample([p for p in with_accounts if p.answers], 5 + count)
    fee, supplement, refused, late, free = path_procedures(province, Profile.load(DEMO_PROFILE))
    paths = [
        ("accepted online, fee paid, result on time", fee, people[0].as_citizen()),
        ("identity mismatch: refused (form 03)", fee, altered(people[1], "full_name")),
        ("unknown ID number: refused (form 03)", fee, register.stranger(rng)),
        ("supplement asked (form 02), then supplied", supplement, people[2].as_citizen()),
        ("the department refuses", refused, people[3].as_citizen()),
        (
            "population database time-out: checked by hand",
            free,
            rng.choice([p for p in with_accounts if not p.answers]).as_citizen(),
        ),
        ("late: apology, extension asked (form 04), new date", late, people[4].as_citizen()),
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
    dossiers[0].body["channel"] = "ONLINE"  # the happy path shows the electronic result; the rest as drawn
    # nobody signs in with a number the register does not know: a counter officer receives that one in person
    dossiers[2].body["channel"] = "IN_PERSON"
    return dossiers


@dataclass
class Letter:
    """One official document the scenario sends from a department to others, through the LGSP."""

    body: dict[str, Any]
    document_id: str = ""
    draft_id: str = ""
    approved: bool = False
    statuses: dict[str, list[str]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Every recipient has finished with it: completed (06) or refused (02)."""
        recipients = self.body["recipients"]
        return len(self.statuses) == len(recipients) and all(
            history and history[-1] in ("COMPLETED", "REFUSED") for history in self.statuses.values()
        )


def letters(province: Province, *, count: int, seed: int) -> list[Letter]:
    """`count` letters (công văn) between the province's departments, reproducible from `seed`."""
    rng = random.Random(f"letters-{seed}")
    return [Letter(official_document(rng, province)) for _ in range(count)]


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


def run_demo(*, count: int, seed: int, letter_count: int, keep_broker: bool, hold: bool) -> None:
    """Everything the demo starts is stopped on the way out: at the end, on Ctrl-C, and on SIGTERM or SIGHUP
    (a closed terminal: the services run in sessions of their own and would outlive it)."""
    stops = (signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, _interrupted) for signum in stops}
    try:
        _run_demo(count=count, seed=seed, letter_count=letter_count, keep_broker=keep_broker, hold=hold)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupted(signum: int, frame: object) -> None:
    """Stop as on Ctrl-C, once: the same signal again must not interrupt the clean-up it starts."""
    signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def _run_demo(*, count: int, seed: int, letter_count: int, keep_broker: bool, hold: bool) -> None:
    settings = get_settings()
    province = get_province(settings.province)
    broker = LocalBroker.from_settings(settings)
    started_broker = False
    if broker_answers(settings.kafka_bootstrap_servers, options=broker.admin_options()):
        click.echo(f"Using the Kafka broker that answers at {settings.kafka_bootstrap_servers}")
    else:
        click.echo(
            f"Starting a local Kafka broker at {broker.bootstrap} (official jars, KRaft, "
            f"{settings.kafka_security} profile) …"
        )
        started_broker = broker.start()
    identity_env, provider = provider_env(settings)
    started_provider = False
    try:
        done = provision(settings)
        click.echo(f"Provisioned the broker from the architecture model: {done.summary()}")
        if provider is not None:
            click.echo(
                f"Starting the identity provider at {provider.url} (Keycloak; realms vneid, officials) …"
            )
            started_provider = provider.start()
        sign_in = SignIn(
            identity_env["EGOV_OIDC_CITIZEN_ISSUER"],
            identity_env["EGOV_OIDC_OFFICIAL_ISSUER"],
            client_id=settings.oidc_client_id,
        )
        logs = settings.state_dir / "logs"
        env = {**service_env(), **identity_env}
        services = [
            ServiceProcess(name, service_port(name), logs / f"{name}.log", env=env) for name in SERVICES
        ]
        click.echo("Starting services: " + ", ".join(f"{s.name} ({s.url})" for s in services))
        with running(services):
            urls = {s.name: s.url for s in services}
            click.echo(f"Portal answering at {urls['portal']}  (logs in {logs})")
            click.echo(f"Indicators dashboard at {urls['reporting']}/")
            click.echo(
                f"Business time runs {86400 / DAY_SECONDS:,.0f}× faster: one day every {DAY_SECONDS} s.\n"
            )
            before = _indicators(urls["reporting"])  # the broker may hold earlier runs
            dossiers, sent = _play(
                urls, province, count=count, letter_count=letter_count, seed=seed, sign_in=sign_in
            )
            _report(settings, province, dossiers, sent, urls["reporting"], before)
            if hold:
                _hold(urls["reporting"])
        click.echo("\nServices stopped.")
    finally:
        if started_provider and provider is not None and not keep_broker:
            provider.stop()
            click.echo("Identity provider stopped.")
        if started_broker and not keep_broker:
            broker.stop()
            click.echo("Kafka broker stopped.")


def _play(
    urls: dict[str, str],
    province: Province,
    *,
    count: int,
    letter_count: int,
    seed: int,
    sign_in: SignIn,
    timeout: float = 180.0,
) -> tuple[list[Dossier], list[Letter]]:
    rng = random.Random(seed)
    with (
        httpx.Client(
            base_url=urls["portal"], timeout=10.0, auth=PortalAuth(sign_in, province.slug)
        ) as client,
        contextlib.ExitStack() as clients,
    ):
        bad = submission(rng, [p.code for p in province.procedures])
        bad["channel"] = "IN_PERSON"  # a counter officer types the citizen's papers in
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
        sent = letters(province, count=letter_count, seed=seed)
        # each letter as its agency's people handle it: the clerk submits it, the leader approves it
        offices = {
            agency: clients.enter_context(
                httpx.Client(base_url=urls["documents"], timeout=10.0, auth=DocumentsAuth(sign_in, agency))
            )
            for agency in {letter.body["issuing_agency"] for letter in sent}
        }
        for letter in sent:
            answer = offices[letter.body["issuing_agency"]].post("/api/v1/documents", json=letter.body)
            answer.raise_for_status()
            letter.draft_id = answer.json()["draft_id"]
        click.echo(
            f"Submitted {len(dossiers)} dossiers and sent {len(sent)} letters between departments; "
            "following them to the end …"
        )
        deadline = time.monotonic() + timeout
        with click.progressbar(
            length=len(dossiers) + len(sent), label="Finished", show_pos=True, width=30
        ) as progress:
            finished = 0
            while True:
                for dossier in dossiers:
                    if not dossier.done:
                        _follow(client, dossier)
                for letter in sent:
                    if not letter.done:
                        _follow_letter(offices[letter.body["issuing_agency"]], letter)
                now_finished = sum(d.done for d in dossiers) + sum(letter.done for letter in sent)
                progress.update(now_finished - finished)
                finished = now_finished
                if finished == len(dossiers) + len(sent):
                    break
                if time.monotonic() > deadline:
                    waiting = [
                        f"{d.code or d.submission_id} ({d.view.get('status', 'no code')})"
                        for d in dossiers
                        if not d.done
                    ] + [f"{x.document_id or x.draft_id} ({x.statuses})" for x in sent if not x.done]
                    logs = get_settings().state_dir / "logs"
                    raise DemoError(
                        f"not finished within {timeout:.0f}s: {', '.join(waiting)}; "
                        f"the services' logs are in {logs}"
                    )
                time.sleep(0.3)
    return dossiers, sent


def _follow_letter(documents: httpx.Client, letter: Letter) -> None:
    """Look the letter up at its sender's document system: its number, then (once its signer approved it,
    signed in anew) its recipients' statuses."""
    if not letter.document_id:
        letter.document_id = (
            documents.get(f"/api/v1/drafts/{letter.draft_id}").json().get("document_id") or ""
        )
        if not letter.document_id:
            return
    if not letter.approved:
        answer = documents.post("/api/v1/documents/approve", params={"id": letter.document_id})
        if answer.status_code == 404:
            return  # its record follows the draft's registration by a hop: approved at the next look
        answer.raise_for_status()
        letter.approved = True
    view = documents.get("/api/v1/documents/by-id", params={"id": letter.document_id}).json()
    outgoing = view.get("outgoing") or {}
    letter.statuses = {
        code: [step["status"] for step in history] for code, history in outgoing.get("statuses", {}).items()
    }


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
            auth=(
                client.auth.of_applicant(dossier.body)
                if isinstance(client.auth, PortalAuth)
                else httpx.USE_CLIENT_DEFAULT
            ),
        )
        if answer.status_code not in (202, 409):
            raise DemoError(f"the supplement of {dossier.code} was refused: {answer.text}")


def summary(
    dossiers: list[Dossier],
    traced: dict[str, list[TraceStep]],
    sent: list[Letter],
    indicators: dict[str, Any] | None,
) -> list[str]:
    """Dossiers by final status, the on-time rate of the results returned, the documents exchanged, and the
    indicators as the reporting service computed them."""
    by_status = Counter(f"{d.view['status']} ({d.view['status_code']})" for d in dossiers)
    results = [d.view["result"] for d in dossiers if d.view.get("result")]
    on_time = sum(1 for r in results if r["on_time"])
    decisions = sum(
        1
        for steps in traced.values()
        for s in steps
        if s.short_type == "AgencyDecisionMade" and s.writer == "agency"
    )
    signed = sum(1 for r in results if r.get("document_id"))
    answers = Counter(history[-1] for letter in sent for history in letter.statuses.values() if history)
    lines = ["", "Summary: " + ", ".join(f"{n} {status}" for status, n in by_status.most_common())]
    if results:
        lines.append(
            f"  on time or early: {on_time} of {len(results)} results ({100 * on_time / len(results):.0f} %)"
        )
    lines.append(
        f"  department decisions: {decisions}; results carried by a signed, issued decision: {signed}"
    )
    recipients = sum(len(letter.body["recipients"]) for letter in sent)
    lines.append(
        f"  documents exchanged through the LGSP: {signed} signed decisions to the service centre, "
        f"{len(sent)} letters between departments to {recipients} recipients ("
        + ", ".join(f"{n} {status}" for status, n in sorted(answers.items()))
        + ")"
    )
    if indicators is not None:
        lines.append("Indicators (reporting service: every dossier and document on this broker, all months):")
        totals = indicators["totals"]["indicators"]
        for definition in indicators["definitions"]:
            figures = totals[definition["id"]]
            numerator = "—" if figures["numerator"] is None else figures["numerator"]
            lines.append(
                f"  {definition['name_en']:45} {_shown(definition['unit'], figures):>10}"
                f"   ({numerator} / {figures['denominator']})"
            )
    return lines


def _shown(unit: str, figures: dict[str, Any]) -> str:
    """A figure as the dashboard shows it: from the exact quotient, to 0.1 % or 0.01 of a time unit; "—" when
    there is none (nothing to divide, or an average over several procedures, which QĐ 766 does not give)."""
    if figures.get("value") is None or not figures["denominator"]:
        return "—"
    value = figures["numerator"] / figures["denominator"]
    if unit == "time":
        return f"{value:.2f} {str(figures.get('unit', '')).replace('_', ' ')}"
    return f"{100 * value:.1f} %"


def _indicators(reporting_url: str) -> dict[str, Any] | None:
    """The reporting service's totals, or None if it does not answer with them."""
    try:
        with httpx.Client(base_url=reporting_url, timeout=10.0) as client:
            answer = client.get("/api/v1/indicators", params={"by": ""})
            answer.raise_for_status()
            return dict(answer.json())
    except (httpx.HTTPError, ValueError):
        return None


def indicators_when_counted(
    reporting_url: str,
    before: dict[str, Any] | None,
    dossiers: list[Dossier],
    sent: list[Letter],
    timeout: float = 20.0,
) -> dict[str, Any] | None:
    """The reporting service's totals once they count this run (it reads the same events a moment after the
    portal does): `before` the run plus its dossiers, results, fees and issued documents; None if they do not
    within `timeout`."""
    results = [d.view["result"] for d in dossiers if d.view.get("result")]
    added = {
        "received": len(dossiers),
        "results": len(results),
        "fees_settled": sum(
            1 for d in dossiers if any(step["status_code"] == 6 for step in d.view.get("history", []))
        ),
        "documents_issued": len(sent) + sum(1 for r in results if r.get("document_id")),
    }
    base = before["totals"]["counts"] if before else {}
    wanted = {name: base.get(name, 0) + n for name, n in added.items()}
    deadline = time.monotonic() + timeout
    while True:
        report = _indicators(reporting_url)
        if report is not None:
            counts = report["totals"]["counts"]
            if all(counts[name] >= n for name, n in wanted.items()):
                return report
        if time.monotonic() > deadline:
            return None
        time.sleep(0.3)


def _report(
    settings: Settings,
    province: Province,
    dossiers: list[Dossier],
    sent: list[Letter],
    reporting_url: str,
    before: dict[str, Any] | None,
) -> None:
    click.echo(f"\n  {'dossier code':27} {'final status':21} {'result':10} path")
    for d in dossiers:
        result = d.view.get("result") or {}
        on_time = {True: "on time", False: "late", None: "—"}[result.get("on_time")]
        status = f"{d.view['status']} ({d.view['status_code']})"
        click.echo(f"  {d.code:27} {status:21} {on_time:10} {d.path}")
    click.echo(f"\n  {'letter':45} {'to':14} statuses")
    for letter in sent:
        for code, history in letter.statuses.items():
            click.echo(f"  {letter.document_id:45} {code:14} {' → '.join(history)}")
    traced = journeys(settings, [d.code for d in dossiers])
    indicators = indicators_when_counted(reporting_url, before, dossiers, sent)
    for line in summary(dossiers, traced, sent, indicators):
        click.echo(line)
    if indicators is None:
        click.echo(f"  (the reporting service had not counted every dossier; see {reporting_url}/)")
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


def _hold(reporting_url: str) -> None:
    """Keep the stack up for a look at the dashboard, until Ctrl-C."""
    click.echo(
        f"\nThe stack keeps running: the dashboard is at {reporting_url}/ and its JSON at "
        f"{reporting_url}/api/v1/indicators. Press Ctrl-C to stop everything."
    )
    try:
        signal.pause()
    except KeyboardInterrupt:
        click.echo("")
