"""`egov`: the one command in front of everything a user does."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import httpx

from egov.runtime.settings import get_settings
from egov.tools.architecture.cli import arch as arch_group
from egov.tools.conformance.cli import conformance as conformance_group
from egov.tools.contracts.cli import contracts as contracts_group
from egov.tools.localkafka import LocalBroker, LocalCluster, broker_answers, local_broker
from egov.tools.openapi import http as http_group
from egov.tools.processes import ProcessError
from services import SERVICES


@click.group()
@click.version_option(package_name="egov-reference")
def main() -> None:
    """Reference implementation of a provincial e-Government Architecture v1.0 on Kafka."""


# -- kafka ------------------------------------------------------------------------------------------------
@main.group()
def kafka() -> None:
    """The local Apache Kafka broker (official jars from Maven Central, KRaft): one node, or a cluster."""


def _broker() -> LocalBroker | LocalCluster:
    return local_broker(get_settings())


@kafka.command()
def fetch() -> None:
    """Fetch the pinned broker jars with Maven (a no-op when they are there)."""
    try:
        _broker().fetch_jars(quiet=False)
    except ProcessError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Kafka jars ready in {_broker().libs_dir}")


def _use_brokers(brokers: int | None) -> None:
    """Make this command, and the services it starts, see a local cluster of `brokers` nodes
    (EGOV_KAFKA_BROKERS)."""
    if brokers is None:
        return
    if brokers < 1:
        raise click.BadParameter("at least one", param_hint="--brokers")
    os.environ["EGOV_KAFKA_BROKERS"] = str(brokers)
    get_settings.cache_clear()


BROKERS_OPTION = click.option(
    "--brokers",
    type=int,
    default=None,
    help="Nodes of the local KRaft cluster (default: EGOV_KAFKA_BROKERS, else one): 3 for replication "
    "factor 3 and min.insync.replicas 2. Other commands reach it with EGOV_KAFKA_BROKERS set alike.",
)


@kafka.command()
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for the broker to answer.")
@BROKERS_OPTION
def start(timeout: float, brokers: int | None) -> None:
    """Start the broker (one node, or a cluster: --brokers) in the background and wait until it answers."""
    _use_brokers(brokers)
    broker = _broker()
    try:
        started = broker.start(timeout=timeout)
    except ProcessError as exc:
        raise click.ClickException(str(exc)) from exc
    state = "started" if started else "already running"
    what = (
        "Kafka broker" if isinstance(broker, LocalBroker) else f"Kafka cluster of {len(broker.nodes)} nodes"
    )
    click.echo(f"{what} {state} at {broker.bootstrap} (pid {broker.pid()}, logs {broker.log_file})")
    if brokers is not None and brokers > 1:
        click.echo(
            f"Other commands (egov up, egov kafka stop, …) reach it with EGOV_KAFKA_BROKERS={brokers}."
        )


@kafka.command()
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds to wait after SIGTERM before SIGKILL."
)
@BROKERS_OPTION
def stop(timeout: float, brokers: int | None) -> None:
    """Stop the broker (every node of a cluster): SIGTERM, then SIGKILL after the time-out."""
    _use_brokers(brokers)
    broker = _broker()
    click.echo("Kafka broker stopped" if broker.stop(timeout) else "Kafka broker was not running")


@kafka.command()
@BROKERS_OPTION
def status(brokers: int | None) -> None:
    """Is our broker running (every node of a cluster), and does it answer?"""
    _use_brokers(brokers)
    info = _broker().status()
    click.echo(json.dumps(info, indent=2))
    sys.exit(0 if info["answers"] else 1)


@kafka.command()
@click.option("--prune", is_flag=True, help="Also remove this prefix's ACLs that the model does not give.")
def provision(prune: bool) -> None:
    """The admin step, as the broker's super user: the model's principals (SCRAM credentials, passwords kept
    in the state folder's secrets file), every topic and table changelog, and the ACLs the model gives each
    principal (architecture/model.yaml). Idempotent; `egov up`, `egov demo` and the tests run it."""
    done = _provision(get_settings(), prune=prune)
    click.echo(f"Provisioned: {done.summary()}")


def _provision(settings: Any, *, prune: bool = False) -> Any:
    from egov.runtime.admin import BrokerUnavailable
    from egov.runtime.credentials import CredentialsMissing
    from egov.tools.provision import ProvisionError, provision

    try:
        return provision(settings, prune=prune)
    except (BrokerUnavailable, CredentialsMissing, ProvisionError) as exc:
        raise click.ClickException(str(exc)) from exc


@kafka.command("secrets")
@click.option(
    "--broker-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the broker's own, its controller's and admin's passwords and the cluster id here, one "
    "value per file (for the broker image's entry script).",
)
@click.option(
    "--services-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write <dir>/<service>/secrets/kafka.json for every service, each with only that service's "
    "password (<dir>/<service>: the service's own state folder).",
)
@click.option(
    "--owner", metavar="USER|UID:GID", help="Give the secrets file and the services' files to this user."
)
@click.option("--broker-owner", metavar="USER|UID:GID", help="Give the broker's files to this user.")
def secrets_command(
    broker_dir: Path | None, services_dir: Path | None, owner: str | None, broker_owner: str | None
) -> None:
    """The installation's broker passwords: generated into the secrets file on the first run and kept (every
    principal of the model, the broker, its controller, admin), and laid out for containers that may see only
    their part (the compose file's first job). Prints no password."""
    from egov.tools.kafkasecrets import Owner, lay_out

    try:
        owners = [Owner.parse(text) if text else None for text in (owner, broker_owner)]
        done = lay_out(
            get_settings(),
            broker_dir=broker_dir,
            services_dir=services_dir,
            owner=owners[0],
            broker_owner=owners[1],
        )
    except (ValueError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Broker secrets: {done.summary()}")


@kafka.command("client-config")
@click.option(
    "--principal",
    "name",
    required=True,
    help="A service (`lgsp`), a principal of the model (`vendor-agency`, `operator`), or a principal's name.",
)
@click.option(
    "--format",
    "form",
    type=click.Choice(["java", "librdkafka", "env"]),
    default="java",
    show_default=True,
    help="Java client properties, librdkafka properties, or this project's EGOV_* variables.",
)
def client_config(name: str, form: str) -> None:
    """Print a client's connection settings for one principal (bootstrap, security protocol, mechanism, user,
    password), so a vendor's system or an operator's tool connects with only the rights the model gives it.
    The output holds a password: write it to a file only its owner reads."""
    from egov.runtime.credentials import CredentialsMissing, service_principal
    from egov.tools.architecture.acls import external_principal
    from egov.tools.architecture.model import get_model
    from services import SERVICES

    settings = get_settings()
    if settings.kafka_security == "plaintext":
        raise click.ClickException("the plaintext profile has no principals: any client connects as it is")
    prefix = settings.topic_prefix
    if name in SERVICES:
        principal = service_principal(prefix, name)
    elif name in {p.id for p in get_model().principals}:
        principal = external_principal(prefix, name)
    else:
        principal = name
    try:
        credentials = settings.kafka_credentials(principal)
    except CredentialsMissing as exc:
        raise click.ClickException(str(exc)) from exc
    assert credentials is not None
    bootstrap = settings.kafka_bootstrap_servers
    if form == "java":
        click.echo(credentials.java_properties(bootstrap), nl=False)
    elif form == "librdkafka":
        for key, value in credentials.librdkafka(bootstrap).items():
            click.echo(f"{key}={value}")
    else:
        click.echo(f"EGOV_KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
        click.echo(f"EGOV_KAFKA_PRINCIPAL={credentials.principal}")
        click.echo(f"EGOV_KAFKA_PASSWORD={credentials.password}")


# -- identity provider -----------------------------------------------------------------------------------
@main.group()
def idp() -> None:
    """The local identity provider: Keycloak's official distribution, the VNeID and officials' realms."""


def _idp() -> Any:
    from egov.tools.identity.keycloak import local_provider

    return local_provider(get_settings())


@idp.command("fetch")
def idp_fetch() -> None:
    """Fetch the pinned distribution with Maven and build it once (a no-op when done)."""
    try:
        _idp().fetch(quiet=False)
    except ProcessError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Keycloak ready in {_idp().dist}")


@idp.command("start")
@click.option("--timeout", default=240.0, show_default=True, help="Seconds to wait until it is ready.")
def idp_start(timeout: float) -> None:
    """Start the identity provider in the background (realms imported from infra/keycloak/realms/)."""
    provider = _idp()
    try:
        started = provider.start(timeout=timeout)
    except ProcessError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Identity provider {'started' if started else 'already running'} at {provider.url}")
    click.echo(f"  citizens (VNeID stand-in): {provider.citizen_issuer}")
    click.echo(f"  officials (single sign-on): {provider.official_issuer}")


@idp.command("stop")
def idp_stop() -> None:
    """Stop the identity provider: SIGTERM, then SIGKILL after a time-out."""
    click.echo("Identity provider stopped" if _idp().stop() else "Identity provider was not running")


@idp.command("status")
def idp_status() -> None:
    """Is it running and ready?"""
    info = _idp().status()
    click.echo(json.dumps(info, indent=2))
    sys.exit(0 if info["ready"] else 1)


@idp.command("realms")
@click.option("--check", is_flag=True, help="Write nothing; fail when a committed realm file is stale.")
def idp_realms(check: bool) -> None:
    """Generate infra/keycloak/realms/*.json from the population register, the provinces and
    infra/keycloak/users.yaml."""
    from egov.tools.generated import write_or_check
    from egov.tools.identity.realms import realm_files

    for path, text in realm_files().items():
        write_or_check(path, text, check=check, command="egov idp realms")
        click.echo(f"{path.name} {'is up to date' if check else 'written'}")


@idp.command("token")
@click.option("--citizen", "id_number", help="A citizen's ID number (see `egov people`).")
@click.option("--official", "official_id", help="An official's id, e.g. 000.00.01.H11/mot-cua-01.")
def idp_token(id_number: str | None, official_id: str | None) -> None:
    """Print an access token for a fictional person (password grant), for the portal and the document
    system, e.g. `curl -H "Authorization: Bearer $(egov idp token --citizen 060171358490)" …`."""
    from egov.runtime.auth import AuthError
    from egov.tools.identity.keycloak import provider_env
    from egov.tools.identity.signin import SignIn

    if (id_number is None) == (official_id is None):
        raise click.UsageError("give exactly one of --citizen and --official")
    settings = get_settings()
    env, _ = provider_env(settings)
    if "EGOV_AUTH" in env:
        raise click.ClickException("EGOV_AUTH=off: the APIs take no tokens")
    sign_in = SignIn(
        env["EGOV_OIDC_CITIZEN_ISSUER"], env["EGOV_OIDC_OFFICIAL_ISSUER"], client_id=settings.oidc_client_id
    )
    try:
        token = sign_in.citizen(id_number) if id_number else sign_in.official(str(official_id))
    except AuthError as exc:
        raise click.ClickException(exc.message) from exc
    except (OSError, httpx.HTTPError) as exc:
        raise click.ClickException(
            f"no identity provider answers ({exc}): `egov idp start` or `egov up`"
        ) from exc
    click.echo(token)


@idp.command("officials")
@click.option("--agency", "agency_code", help="Only this agency's (its code, e.g. 000.00.04.H11).")
def idp_officials(agency_code: str | None) -> None:
    """The fictional officials of the officials' realm, as JSON lines: id (for `egov idp token --official`),
    user name, name, position and agency."""
    from egov.tools.identity.realms import officials

    for member in officials():
        if agency_code and member.agency.code.upper() != agency_code.upper():
            continue
        line = {"official_id": member.official_id, "username": member.username, "name": member.name}
        line |= {"position": member.role, "title": member.title, "agency": member.agency.code}
        click.echo(json.dumps(line, ensure_ascii=False))


# -- topics -----------------------------------------------------------------------------------------------
@main.group()
def topics() -> None:
    """The registry's topics."""


@topics.command("list")
def topics_list() -> None:
    """Every topic with its owner, key and event types."""
    from services import all_topics

    prefix = get_settings().topic_prefix
    for spec in all_topics():
        events = ", ".join(spec.events)
        click.echo(f"{spec.full_name(prefix):45} owner={spec.owner:8} key={spec.key_description:22} {events}")


@topics.command("create")
def topics_create() -> None:
    """Create the registry's topics on the broker (idempotent)."""
    from egov.runtime.admin import BrokerUnavailable, ensure_topics
    from services import all_topics

    try:
        created = asyncio.run(ensure_topics(get_settings(), all_topics()))
    except BrokerUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created: {', '.join(created)}" if created else "all topics exist")


main.add_command(contracts_group)
main.add_command(arch_group)
main.add_command(http_group)
main.add_command(conformance_group)


@main.group()
def audit() -> None:
    """The tamper-evident audit log of every event."""


@audit.command(name="verify")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    help="The audit log's folder (default: <state dir>/audit).",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The checkpoint key's public half, kept apart from the log (default: the copy in the log's folder).",
)
@click.option(
    "--broker/--no-broker",
    default=True,
    show_default=True,
    help="Compare the log with the broker of the settings (EGOV_KAFKA_BOOTSTRAP_SERVERS, EGOV_TOPIC_PREFIX): "
    "name the records it holds that the log does not. --no-broker checks a log alone (a copy elsewhere).",
)
def audit_verify(directory: Path | None, public_key: Path | None, broker: bool) -> None:
    """Check the hash chain and the signed checkpoints of every topic partition, segment by segment (one per
    instance of the topic: created again, or on another broker), and compare the log with the broker. Name
    the first altered, missing or reordered line of each partition and every record on the broker the audit
    passed without logging (exit 1); list the segments and the records not logged yet."""
    from egov.platform.audit_verify import describe
    from egov.runtime.brokerview import BrokerViewError
    from egov.runtime.credentials import CredentialsMissing
    from egov.tools.auditcheck import check_audit_log

    settings = get_settings()
    folder = directory or settings.state_dir / "audit"
    if not (folder / "checkpoint-key.pub.pem").exists():
        raise click.ClickException(
            f"no audit log in {folder} (no checkpoint key): is the audit service running?"
        )
    try:
        checked = check_audit_log(folder, settings if broker else None, public_key_file=public_key)
    except (BrokerViewError, CredentialsMissing) as exc:
        raise click.ClickException(
            f"{exc}\nThe log was not compared with the broker; `egov audit verify --no-broker` checks it "
            "alone."
        ) from exc
    result = checked.verification
    for problem in result.problems:
        click.echo(str(problem))
    gaps = checked.gaps or []
    for gap in gaps:
        if gap.fails:
            click.echo(str(gap))
    for line in describe(result.segments):
        click.echo(f"segment: {line}")
    behind = [gap for gap in gaps if not gap.fails]
    for gap in behind:
        click.echo(str(gap))
    if not checked.ok:
        raise SystemExit(1)
    segments = f", {len(result.segments)} segments" if len(result.segments) > len(result.runs) else ""
    click.echo(
        f"audit log intact: {result.entries} entries in {result.partitions} partitions, "
        f"{result.checkpoints} signed checkpoints{segments} ({folder})"
    )
    if checked.gaps is None:
        click.echo("not compared with the broker (--no-broker)")
    else:
        waiting = sum(g.last - g.first + 1 for g in behind)
        click.echo(
            f"the broker ({', '.join(checked.clusters) or 'no topics'}): every record of its "
            f"{checked.compared} partitions that the audit passed is in the log"
            + (f"; {waiting} not logged yet" if waiting else "")
        )


# -- services ---------------------------------------------------------------------------------------------
@main.command()
@click.argument("service")
def run(service: str) -> None:
    """Run one service's worker in the foreground (SIGTERM or Ctrl-C stops it)."""
    from services import SERVICES, build_service

    if service not in SERVICES:
        raise click.BadParameter(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
    build_service(service, get_settings()).run()


@main.command()
@click.option(
    "--count", default=3, show_default=True, help="Citizens to add to the scenario's one dossier per path."
)
@click.option(
    "--letters", "letter_count", default=3, show_default=True, help="Letters to send between departments."
)
@click.option(
    "--seed", default=2017, show_default=True, help="Seed of the sample citizens, procedures, letters."
)
@click.option("--keep-broker", is_flag=True, help="Leave a broker this command started running afterwards.")
@click.option(
    "--hold", is_flag=True, help="Keep the stack running after the summary (the dashboard) until Ctrl-C."
)
def demo(count: int, letter_count: int, seed: int, keep_broker: bool, hold: bool) -> None:
    """Start the broker and the services, play every path of the citizen journey and a few letters between
    departments, print a summary with the indicators and each dossier's journey, stop what it started."""
    from egov.tools.demo import DemoError, run_demo
    from egov.tools.stack import ServiceStartError

    try:
        run_demo(count=count, seed=seed, letter_count=letter_count, keep_broker=keep_broker, hold=hold)
    except (ProcessError, ServiceStartError, DemoError) as exc:
        raise click.ClickException(str(exc)) from exc


def _identity(settings: Any) -> Any:
    from egov.tools.identity.keycloak import provider_env

    return provider_env(settings)


def _stack_processes(
    identity_env: dict[str, str] | None = None, without: tuple[str, ...] = (), workers: int | None = None
) -> list[Any]:
    from egov.runtime.settings import get_settings
    from egov.tools.stack import workers as service_workers
    from services import SERVICES, service_port

    settings = get_settings()
    # The department stand-in issues its approvals as signed documents in the document system (when it runs:
    # a vendor's document system has an API of its own); the APIs trust the identity provider's issuers.
    env = dict(identity_env if identity_env is not None else _identity(settings)[0])
    if "documents" not in without:
        env["EGOV_DOCUMENTS_URL"] = f"http://127.0.0.1:{service_port('documents')}"
    count = workers if workers is not None else _recorded_workers(settings)
    names = [name for name in SERVICES if name not in without]
    return service_workers(names, count, port_of=service_port, logs=settings.state_dir / "logs", env=env)


def _workers_file(settings: Any) -> Path:
    return Path(settings.state_dir) / "stack" / "workers"


def _recorded_workers(settings: Any) -> int:
    """How many workers per service the running stack was started with (`egov up --workers`)."""
    try:
        return max(1, int(_workers_file(settings).read_text().strip()))
    except (OSError, ValueError):
        return 1


def _check_workers(workers: int, settings: Any) -> None:
    if workers < 1:
        raise click.BadParameter("at least one", param_hint="--workers")
    if workers > settings.partitions:
        raise click.BadParameter(
            f"{workers} workers would share {settings.partitions} partitions (EGOV_PARTITIONS): the "
            "extra ones would hold none",
            param_hint="--workers",
        )


WORKERS_OPTION = click.option(
    "--workers",
    default=1,
    show_default=True,
    envvar="EGOV_WORKERS",
    help="Workers per service, sharing its partitions (at most EGOV_PARTITIONS); also EGOV_WORKERS.",
)


@main.command()
@click.option(
    "--timeout", default=120.0, show_default=True, help="Seconds to wait for every service to be healthy."
)
@click.option(
    "--without",
    multiple=True,
    type=click.Choice(sorted(SERVICES)),
    help="Leave this service out (repeatable): a vendor's system takes its place (docs/conformance.md).",
)
@WORKERS_OPTION
@BROKERS_OPTION
def up(timeout: float, without: tuple[str, ...], workers: int, brokers: int | None) -> None:
    """Start the broker (unless one answers) and every service in the background, each worker logging to its
    own file in the state folder; return once all answer healthy. `egov down` stops what this started."""
    from egov.tools.stack import ServiceStartError, start_detached

    _use_brokers(brokers)
    settings = get_settings()
    _check_workers(workers, settings)
    marker = settings.state_dir / "stack" / "broker-started"
    broker = _broker()
    if broker_answers(settings.kafka_bootstrap_servers, options=broker.admin_options()):
        click.echo(f"Kafka broker answering at {settings.kafka_bootstrap_servers}")
    else:
        try:
            broker.start()
        except ProcessError as exc:
            raise click.ClickException(str(exc)) from exc
        marker.parent.mkdir(parents=True, exist_ok=True)
        nodes = len(broker.nodes) if isinstance(broker, LocalCluster) else 1
        marker.write_text(f"started by egov up\nbrokers={nodes}\n")
        click.echo(
            f"Kafka broker started at {settings.kafka_bootstrap_servers} ({settings.kafka_security} profile)"
        )
    click.echo(f"Provisioned: {_provision(settings).summary()}")
    identity_env, provider = _identity(settings)
    if provider is not None:
        try:
            if provider.start():
                idp_marker = settings.state_dir / "stack" / "idp-started"
                idp_marker.parent.mkdir(parents=True, exist_ok=True)
                idp_marker.write_text("started by egov up\n")
        except ProcessError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Identity provider at {provider.url} (realms vneid, officials)")
    services = _stack_processes(identity_env, without, workers)
    _workers_file(settings).parent.mkdir(parents=True, exist_ok=True)
    _workers_file(settings).write_text(f"{workers}\n")
    try:
        started, _ = start_detached(services, settings.state_dir, timeout=timeout)
    except ServiceStartError as exc:
        raise click.ClickException(str(exc)) from exc
    for svc in services:
        how = "started" if svc.label in started else "already running"
        click.echo(f"  {svc.label:13} {svc.url:24} {how:16} log {svc.log_file}")
    urls = {svc.name: svc.url for svc in services if svc.worker == 1}
    click.echo(f"Portal API at {urls['portal']}/api/v1/dossiers; dashboard at {urls['reporting']}/")
    click.echo("Stack up; `egov status` shows it, `egov down` stops it.")


@main.command(name="status")
def stack_status_command() -> None:
    """Whether the broker answers and each service runs and answers healthy (exit 1 if anything is down)."""
    from egov.runtime.settings import get_settings
    from egov.tools.stack import stack_status

    settings = get_settings()
    answers = broker_answers(settings.kafka_bootstrap_servers, options=_broker().admin_options())
    click.echo(f"  {'kafka':13} {settings.kafka_bootstrap_servers:24} {'answers' if answers else 'DOWN'}")
    states = stack_status(_stack_processes(), settings.state_dir)
    for state in states:
        health = "healthy" if state.healthy else ("running, not healthy" if state.running else "DOWN")
        pid = f"pid {state.pid}" if state.pid else ""
        click.echo(f"  {state.name:13} {state.url:24} {health:21} {pid}")
    if not answers or not all(s.healthy for s in states):
        raise SystemExit(1)


@main.command()
@click.option("--timeout", default=15.0, show_default=True, help="Seconds before SIGKILL.")
def down(timeout: float) -> None:
    """Stop every service `egov up` started, then the broker if `egov up` started it."""
    from egov.runtime.settings import get_settings
    from egov.tools.stack import recorded_labels, stop_detached
    from services import SERVICES

    settings = get_settings()
    stopped = stop_detached(
        recorded_labels(settings.state_dir, SERVICES), settings.state_dir, timeout=timeout
    )
    _workers_file(settings).unlink(missing_ok=True)
    click.echo(f"Stopped {', '.join(stopped)}" if stopped else "No service was running.")
    idp_marker = settings.state_dir / "stack" / "idp-started"
    if idp_marker.exists():
        _idp().stop()
        idp_marker.unlink()
        click.echo("Identity provider stopped.")
    marker = settings.state_dir / "stack" / "broker-started"
    if marker.exists():
        recorded = [line for line in marker.read_text().splitlines() if line.startswith("brokers=")]
        _use_brokers(int(recorded[0].removeprefix("brokers=")) if recorded else None)  # as `up` started it
        _broker().stop(timeout)
        marker.unlink()
        click.echo("Kafka broker stopped.")


# -- chaos ------------------------------------------------------------------------------------------------
@main.group()
def chaos() -> None:
    """Faults under load, and throughput, on a broker and services of their own (egov/tools/chaos)."""


@chaos.command("run")
@click.option(
    "--plan",
    type=click.Choice(["services", "cluster"]),
    default="services",
    show_default=True,
    help="services: each service in turn, one worker at a time, killed and restarted at once, then the "
    "broker (on a cluster, the node leading the busiest partitions); cluster: that broker node down a while, "
    "then one worker of every service down while the others take over.",
)
@click.option(
    "--brokers", default=1, show_default=True, help="Nodes of the run's KRaft cluster (3: a cluster)."
)
@click.option("--workers", default=1, show_default=True, help="Workers per service.")
@click.option("--rate", default=2.0, show_default=True, help="Dossiers submitted a second.")
@click.option(
    "--strike",
    "struck",
    multiple=True,
    type=click.Choice(sorted(SERVICES)),
    help="Kill only this service (repeatable; default: every service).",
)
@click.option(
    "--settle", default=15.0, show_default=True, help="Seconds of steady load before and after each fault."
)
def chaos_run(
    plan: str, brokers: int, workers: int, rate: float, struck: tuple[str, ...], settle: float
) -> None:
    """Submit dossiers at a steady rate while the plan's faults strike (SIGKILL), then check that every
    dossier reached its final state, no dossier code was issued twice and no notice sent twice; print the
    figures, with the longest stall after each fault (exit 1 when something was lost or duplicated)."""
    from egov.tools.chaos.run import Timings, run_chaos

    settings = get_settings()
    report = run_chaos(
        plan,
        home=settings.state_dir / "chaos" / plan,
        brokers=brokers,
        workers=workers,
        rate=rate,
        user_settings=settings,
        struck=struck or None,
        timings=Timings(warm_up=settle, settle=settle),
    )
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)


@chaos.command("scaling")
@click.option("--brokers", default=1, show_default=True, help="Nodes of the run's KRaft cluster.")
@click.option(
    "--workers", default="1,2", show_default=True, help="Worker counts to measure, comma-separated."
)
@click.option("--count", default=300, show_default=True, help="Dossiers per measurement.")
@click.option("--concurrency", default=24, show_default=True, help="Submissions in flight at once.")
def chaos_scaling(brokers: int, workers: str, count: int, concurrency: int) -> None:
    """Dossiers a second from the portal's POST to their assignment to a department, with each worker count
    (a stack of its own for each)."""
    from egov.tools.chaos.run import measure_throughput

    settings = get_settings()
    counts = [int(n) for n in workers.split(",") if n.strip()]
    found = measure_throughput(
        home=settings.state_dir / "chaos" / "scaling",
        brokers=brokers,
        workers=counts,
        count=count,
        concurrency=concurrency,
        user_settings=settings,
    )
    click.echo(f"Throughput ({count} dossiers, {concurrency} in flight, one machine):")
    for figure in found:
        click.echo(figure.line())


@main.command()
@click.argument("keys", nargs=-1, required=True)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to read the topics within.")
def trace(keys: tuple[str, ...], timeout: float) -> None:
    """Every event of a dossier (by code) or an official document (by id) across the layers, in time order:
    the time, the time since the step before, the service that wrote it, its layer, the event, its status."""
    from aiokafka.errors import KafkaError

    from egov.platform.province import get_province
    from egov.runtime.admin import BrokerUnavailable
    from egov.runtime.settings import get_settings
    from egov.tools.architecture.model import get_model
    from egov.tools.trace import journeys, layer_names, render
    from services import SERVICES

    settings = get_settings()
    try:
        found = journeys(settings, keys, timeout=timeout)
    except (BrokerUnavailable, KafkaError, TimeoutError, LookupError, OSError) as exc:
        raise click.ClickException(
            f"cannot read the topics at {settings.kafka_bootstrap_servers}: {exc}"
        ) from exc
    layers = layer_names(get_model(), SERVICES)
    zone = get_province(settings.province).timezone
    for i, key in enumerate(keys):
        click.echo(
            "\n".join(render(key, found[key], timezone=zone, layers=layers))
            + ("\n" if i < len(keys) - 1 else "")
        )
    if not all(found[key] for key in keys):
        raise SystemExit(1)


@main.command()
@click.option("--count", default=3, show_default=True, help="How many people to print.")
@click.option("--silent", is_flag=True, help="People the stand-in never answers for (the time-out path).")
def people(count: int, silent: bool) -> None:
    """Fictional people of the population register stand-in, as JSON `applicant` values for a dossier."""
    from services.population.domain import get_register

    register = get_register()
    chosen = register.silent() if silent else register.answering()
    for person in chosen[:count]:
        click.echo(json.dumps(person.as_citizen(), ensure_ascii=False))


if __name__ == "__main__":
    main()
