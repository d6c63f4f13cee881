"""The Docker compose stack stays in step with `services.SERVICES`, the settings the services read and the
broker's secure profile (infra/kafka/security-sasl.properties.template): every service present and checked
for health, each connecting as itself with only its own password in reach, the admin step before the services,
the broker's data and secrets on named volumes, the clock from the environment, the image built once; and the
identity provider (docs/adr/0012-people-identities.md): Keycloak's official image at the version of the local
one, its realms read-only, one issuer for everybody, the services that check tokens or sign people in waiting
for it, and no file that turns authentication off."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from egov.runtime.settings import Settings
from egov.tools.identity.keycloak import BUILD_OPTIONS
from egov.tools.identity.realms import CITIZENS, KEYCLOAK_DIR, OFFICIALS, REALMS_DIR
from egov.tools.kafkasecrets import BROKER_FILES, CLUSTER_ID_FILE, SERVICE_SECRETS
from services import SERVICES, load_services

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = ROOT / "infra" / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
ENTRYPOINT = DOCKER_DIR / "kafka-entrypoint.sh"
SASL_TEMPLATE = ROOT / "infra" / "kafka" / "security-sasl.properties.template"

#: Compose services that are infrastructure rather than entries of SERVICES.
INFRA_SERVICES = {"kafka", "kafka-format", "secrets", "provision", "keycloak"}
#: The official Keycloak image; its tag is the version of the local distribution (infra/keycloak/pom.xml).
KEYCLOAK_IMAGE = "quay.io/keycloak/keycloak"
#: Where the official image imports realm files from (`--import-realm`), and its management port (health).
KEYCLOAK_IMPORT_DIR = "/opt/keycloak/data/import"
KEYCLOAK_MANAGEMENT_PORT = 9000
#: The one-shot jobs on the egov image.
EGOV_JOBS = {"secrets", "provision"}
#: `EGOV_` variables read outside `Settings` (by egov/paths.py), allowed in the image.
NON_SETTINGS_VARIABLES = {"EGOV_HOME"}
#: Where the entry script reads the broker's secrets (the official image's secrets folder).
BROKER_SECRETS_DIR = "/etc/kafka/secrets"
#: The variables the official image's KafkaDockerWrapper leaves out of server.properties.
IMAGE_EXCLUDED = {
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
}


class _Loader(yaml.SafeLoader):
    """Reads compose override files: `!reset` and `!override` keep the value they carry."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node) or None  # type: ignore[arg-type]


for _tag in ("!reset", "!override"):
    _Loader.add_constructor(_tag, _tagged)


def _load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def _compose() -> dict[str, Any]:
    return _load(COMPOSE_FILE)


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _egov_containers() -> list[str]:
    return sorted(set(SERVICES) | EGOV_JOBS)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of NAME=value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _option(service: dict[str, Any], name: str) -> str | None:
    command = _command(service)
    return command[command.index(name) + 1] if name in command else None


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (`service_started` for the short list form)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _all_dependencies(name: str) -> set[str]:
    services, seen, todo = _services(), set(), [name]
    while todo:
        for dep in _depends_on(services[todo.pop()]):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Mount target -> (source, read-only), from the short or the long volume syntax."""
    found = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            found[volume["target"]] = (str(volume.get("source", "")), bool(volume.get("read_only")))
            continue
        source, target, *mode = str(volume).split(":")
        found[target] = (source, "ro" in mode)
    return found


def _named_volumes(service: dict[str, Any]) -> set[str]:
    declared = set(_compose().get("volumes") or {})
    return {source for source, _ in _mounts(service).values() if source in declared}


def _published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(host port, container port) pairs, from the short or the long port syntax."""
    pairs = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        pairs.add((int(parts[-2]) if len(parts) > 1 else int(parts[-1]), int(parts[-1])))
    return pairs


def _kafka_properties(env: dict[str, str]) -> dict[str, str]:
    """server.properties as the apache/kafka image writes it from KAFKA_* variables (KafkaDockerWrapper)."""
    properties = {}
    for name, value in env.items():
        if name.startswith("KAFKA_") and name not in IMAGE_EXCLUDED:
            key = name.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_")
            properties[key] = value
    return properties


def _kafka_variable(key: str) -> str:
    """The KAFKA_* variable the image turns into property `key` (the inverse of _kafka_properties)."""
    return "KAFKA_" + key.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def _template_properties() -> dict[str, str]:
    text = string.Template(SASL_TEMPLATE.read_text()).safe_substitute()
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _broker() -> dict[str, str]:
    return _kafka_properties(_environment(_services()["kafka"]))


def _listeners(value: str) -> dict[str, str]:
    """NAME -> host:port of a listeners value."""
    return dict(entry.strip().split("://", 1) for entry in value.split(",") if entry.strip())


def _kafka_internal_bootstrap() -> str:
    """host:port the kafka service advertises on its inter-broker (in-network) listener."""
    broker = _broker()
    listener = broker["inter.broker.listener.name"]
    advertised = _listeners(broker["advertised.listeners"])
    assert listener in advertised, f"kafka advertises no {listener} listener: {advertised}"
    return advertised[listener]


def _setting_variables() -> set[str]:
    return {f"EGOV_{field.upper()}" for field in Settings.model_fields}


# -- the containers ----------------------------------------------------------------------------------------
def test_compose_file_defines_the_broker_and_the_jobs_before_the_services() -> None:
    missing = INFRA_SERVICES - _services().keys()
    assert not missing, f"compose.yaml lacks the infrastructure service(s) {sorted(missing)}"
    assert "topics" not in _services(), "the topics job is gone: the provision job creates the topics"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_container_that_runs_it(name: str) -> None:
    services = _services()
    assert name in services, f"service {name!r} of services.SERVICES has no container in compose.yaml"
    command = _command(services[name])
    assert command[-2:] == ["run", name], f"service {name!r}: command {command} does not end in `run {name}`"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_listens_and_publishes_its_own_port(name: str) -> None:
    service = _services()[name]
    port = SERVICES[name].port
    env = _environment(service)
    assert env.get("EGOV_WEB_PORT") == str(port), (
        f"service {name!r}: EGOV_WEB_PORT is {env.get('EGOV_WEB_PORT')!r}, services.SERVICES says {port}"
    )
    assert (port, port) in _published_ports(service), (
        f"service {name!r}: port {port} is not published as {port}:{port} (ports: {service.get('ports')})"
    )


@pytest.mark.parametrize("name", _egov_containers())
def test_every_egov_container_reaches_kafka_on_its_internal_listener_with_sasl(name: str) -> None:
    env = _environment(_services()[name])
    expected = _kafka_internal_bootstrap()
    assert env.get("EGOV_KAFKA_BOOTSTRAP_SERVERS") == expected, (
        f"{name!r}: EGOV_KAFKA_BOOTSTRAP_SERVERS is {env.get('EGOV_KAFKA_BOOTSTRAP_SERVERS')!r}, "
        f"the kafka service's internal listener is {expected!r}"
    )
    assert env.get("EGOV_KAFKA_SECURITY", "sasl") == "sasl", f"{name!r}: not on the secure profile"
    assert "EGOV_KAFKA_PASSWORD" not in env, f"{name!r}: a password in the compose file"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_checks_its_health_endpoint(name: str) -> None:
    healthcheck = _services()[name].get("healthcheck")
    assert healthcheck, f"service {name!r} has no healthcheck"
    test = healthcheck.get("test")
    test_text = test if isinstance(test, str) else " ".join(str(part) for part in test or [])
    url = f"http://127.0.0.1:{SERVICES[name].port}/health"
    assert url in test_text, f"service {name!r}: healthcheck {test_text!r} does not call {url}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_starts_after_the_provision_job_succeeded(name: str) -> None:
    deps = _depends_on(_services()[name])
    assert deps.get("provision") == "service_completed_successfully", (
        f"service {name!r} does not depend on `provision` with condition service_completed_successfully "
        f"(depends_on: {deps})"
    )


def test_compose_has_no_container_for_an_unknown_service() -> None:
    extra = _services().keys() - SERVICES.keys() - INFRA_SERVICES
    assert not extra, f"compose.yaml has container(s) {sorted(extra)} that are not in services.SERVICES"


@pytest.mark.parametrize("name", _egov_containers())
def test_containers_set_only_egov_variables_that_settings_reads(name: str) -> None:
    env = _environment(_services()[name])
    unknown = sorted(var for var in env if var.startswith("EGOV_") and var not in _setting_variables())
    assert not unknown, f"service {name!r} sets {unknown}, which are not fields of egov Settings"


# -- the broker's secure profile ---------------------------------------------------------------------------
def test_kafka_is_an_apache_kafka_broker_and_controller_with_topics_from_the_admin_step() -> None:
    kafka = _services()["kafka"]
    assert str(kafka.get("image", "")).startswith("apache/kafka:"), f"kafka: image {kafka.get('image')!r}"
    assert _services()["kafka-format"]["image"] == kafka["image"], "kafka-format runs another image"
    broker = _broker()
    assert {role.strip() for role in broker["process.roles"].split(",")} == {"broker", "controller"}
    assert broker["auto.create.topics.enable"] == "false", "auto topic creation must be off (provision)"
    assert kafka.get("healthcheck"), "kafka service has no healthcheck"


def test_the_broker_has_the_security_settings_of_the_secure_profile() -> None:
    """The same settings as the jar broker's secure profile, except those about its listeners' names."""
    template, broker = _template_properties(), _broker()
    shared = {
        key
        for key in template
        if not key.startswith(("listeners", "advertised.listeners", "listener.security", "listener.name."))
    }
    differing = {key: (template[key], broker.get(key)) for key in shared if broker.get(key) != template[key]}
    assert not differing, f"kafka differs from {SASL_TEMPLATE.name} (template, compose): {differing}"
    assert broker["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    protocols = dict(entry.split(":") for entry in broker["listener.security.protocol.map"].split(","))
    listeners = _listeners(broker["listeners"])
    assert set(listeners) <= set(protocols), f"a listener without a protocol: {listeners} / {protocols}"
    plain = sorted(name for name in listeners if protocols[name] != "SASL_PLAINTEXT")
    assert not plain, f"listener(s) {plain} do not authenticate their clients (SASL_PLAINTEXT)"
    assert listeners["CONTROLLER"].startswith(("localhost:", "127.0.0.1:")), "the controller is not loopback"


def test_the_host_reaches_the_broker_on_a_published_listener_that_also_requires_scram() -> None:
    broker = _broker()
    advertised = _listeners(broker["advertised.listeners"])
    host = [name for name, address in advertised.items() if address == "localhost:29092"]
    assert host, f"no listener advertised as localhost:29092: {advertised}"
    assert (29092, 29092) in _published_ports(_services()["kafka"])
    protocols = dict(entry.split(":") for entry in broker["listener.security.protocol.map"].split(","))
    assert protocols[host[0]] == "SASL_PLAINTEXT"


def test_the_entry_script_exports_a_jaas_setting_for_every_sasl_listener_and_no_password_is_in_compose() -> (
    None
):
    broker = _broker()
    script = ENTRYPOINT.read_text(encoding="utf-8")
    for listener in _listeners(broker["listeners"]):
        mechanisms = broker.get(f"listener.name.{listener.lower()}.sasl.enabled.mechanisms")
        mechanism = (mechanisms or broker["sasl.enabled.mechanisms"]).lower()
        variable = _kafka_variable(f"listener.name.{listener.lower()}.{mechanism}.sasl.jaas.config")
        assert f"export {variable}=" in script, f"{ENTRYPOINT.name} does not export {variable}"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "password=" not in text.lower() and "JAAS_CONFIG" not in text, "JAAS settings in compose.yaml"
    for name in (*BROKER_FILES, CLUSTER_ID_FILE):
        assert f"value {name}" in script, f"{ENTRYPOINT.name} does not read {name}"
    assert f"secrets={BROKER_SECRETS_DIR}" in script
    assert "set -x" not in script and "xtrace" not in script


@pytest.mark.parametrize("name", ["kafka-format", "kafka"])
def test_the_broker_containers_start_through_the_entry_script_with_its_secrets_and_data(name: str) -> None:
    service, kafka = _services()[name], _services()["kafka"]
    entrypoint = [str(part) for part in service.get("entrypoint") or []]
    mounts = _mounts(service)
    script = [target for target, (source, _) in mounts.items() if source == "./kafka-entrypoint.sh"]
    assert script and entrypoint == ["/bin/sh", script[0]], f"{name}: entrypoint {entrypoint}"
    assert mounts.get(BROKER_SECRETS_DIR) == ("kafka-secrets", True), f"{name}: {BROKER_SECRETS_DIR} mounts"
    data = _broker()["log.dirs"]
    assert mounts.get(data, ("", False))[0] == "kafka-data", f"{name}: the data volume is not at {data}"
    assert "kafka-data" in _compose()["volumes"], "the broker's data is not a named volume"
    assert _environment(service) == _environment(kafka), f"{name}: another broker configuration than kafka's"
    assert _command(service) == (["format"] if name == "kafka-format" else ["run"])


def test_the_storage_is_formatted_after_the_secrets_and_before_the_broker_starts() -> None:
    services = _services()
    assert _depends_on(services["kafka-format"]).get("secrets") == "service_completed_successfully"
    assert _depends_on(services["kafka"]).get("kafka-format") == "service_completed_successfully"
    assert services["kafka-format"].get("restart", "no") == "no"


# -- secrets per installation, each container its own ------------------------------------------------------
def _secrets_file(name: str) -> str:
    return (
        _environment(_services()[name]).get("EGOV_KAFKA_SECRETS_FILE") or "/var/lib/egov/secrets/kafka.json"
    )


def test_the_secrets_job_generates_the_installations_passwords_and_lays_them_out() -> None:
    job = _services()["secrets"]
    assert _command(job)[:2] == ["kafka", "secrets"], f"secrets job: command {_command(job)}"
    mounts = _mounts(job)
    assert mounts.get(str(Path(_secrets_file("secrets")).parent), ("", False))[0] == "secrets"
    assert mounts.get(_option(job, "--broker-dir") or "", ("", False))[0] == "kafka-secrets"
    assert _option(job, "--owner") == "egov" and _option(job, "--broker-owner"), (
        "files for the containers' users"
    )
    assert str(job.get("user")) in {"root", "0"}, "only root can give files to two containers' users"
    assert job.get("restart", "no") == "no"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_mounts_only_its_own_password(name: str) -> None:
    services, job = _services(), _services()["secrets"]
    service = services[name]
    assert _named_volumes(service).isdisjoint({"secrets", "kafka-secrets"}), f"{name} mounts others' secrets"
    secrets_file = Path(_secrets_file(name))
    state = _environment(service).get("EGOV_STATE_DIR", "/var/lib/egov")
    volume = _mounts(service).get(state, ("", False))[0]
    assert volume == f"{name}-state", f"{name}: its state folder {state} is not its own volume"
    assert secrets_file.is_relative_to(state) and secrets_file.relative_to(state) == SERVICE_SECRETS, (
        f"{name}: its secrets file {secrets_file} is not {state}/{SERVICE_SECRETS} (where the job writes it)"
    )
    users = sorted(other for other, spec in services.items() if volume in _named_volumes(spec))
    assert users == sorted([name, "secrets"]), f"{name}'s volume (and password) is mounted by {users}"
    services_dir = _option(job, "--services-dir")
    assert _mounts(job).get(f"{services_dir}/{name}", ("", False))[0] == volume, (
        f"the secrets job does not write {name}'s password into {volume}"
    )


def test_no_volume_is_carved_by_subpath() -> None:
    """An engine older than 26 mounts the whole volume for a `subpath` mount, without a word."""
    for name, service in _services().items():
        for volume in service.get("volumes") or []:
            assert not (isinstance(volume, dict) and (volume.get("volume") or {}).get("subpath")), name


def test_the_provision_job_runs_as_admin_with_every_password_once_kafka_is_healthy() -> None:
    provision = _services()["provision"]
    assert _command(provision)[-2:] == ["kafka", "provision"], f"provision job: command {_command(provision)}"
    deps = _depends_on(provision)
    assert deps.get("kafka") == "service_healthy", f"provision does not wait for a healthy kafka: {deps}"
    assert deps.get("secrets") == "service_completed_successfully"
    assert _mounts(provision).get(str(Path(_secrets_file("provision")).parent), ("", False))[0] == "secrets"
    assert provision.get("restart", "no") == "no"


# -- as users run it ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _egov_containers())
def test_the_business_clock_comes_from_the_environment_with_real_time_by_default(name: str) -> None:
    env = _environment(_services()[name])
    assert env.get("EGOV_CLOCK_SPEED") == "${EGOV_CLOCK_SPEED:-1}", f"{name}: {env.get('EGOV_CLOCK_SPEED')!r}"
    assert env.get("EGOV_CLOCK_ANCHOR") == "${EGOV_CLOCK_ANCHOR:-}", (
        f"{name}: {env.get('EGOV_CLOCK_ANCHOR')!r}"
    )


def test_the_clocks_defaults_as_compose_passes_them_are_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOV_CLOCK_SPEED", "1")
    monkeypatch.setenv("EGOV_CLOCK_ANCHOR", "")  # `${EGOV_CLOCK_ANCHOR:-}` when it is not set
    settings = Settings()
    assert settings.clock_speed == 1 and settings.clock_anchor is None


def test_the_image_is_built_once_by_the_first_job_and_never_pulled() -> None:
    services = _services()
    builders = sorted(name for name, spec in services.items() if "build" in spec)
    assert builders == ["secrets"], f"the egov image is built by {builders}, not once by the secrets job"
    image = services["secrets"]["image"]
    for name in _egov_containers():
        assert services[name]["image"] == image, f"{name}: image {services[name]['image']!r}, not {image!r}"
        if name != "secrets":
            assert services[name].get("pull_policy") == "never", f"{name}: would pull the image built here"
            assert "secrets" in _all_dependencies(name), f"{name} may start before the image's builder"


def test_dockerfile_sets_egov_home_and_only_known_egov_variables() -> None:
    assert DOCKERFILE.is_file(), f"{DOCKERFILE.relative_to(ROOT)} is missing"
    text = DOCKERFILE.read_text()
    assert re.search(r"^\s*FROM\s+python:3\.11-slim\b", text, re.MULTILINE), (
        "Dockerfile: not python:3.11-slim"
    )
    variables = set(re.findall(r"\b(EGOV_[A-Z0-9_]+)=", text))
    assert "EGOV_HOME" in variables, (
        "Dockerfile does not set EGOV_HOME (the copy of contracts/, architecture/)"
    )
    unknown = sorted(variables - _setting_variables() - NON_SETTINGS_VARIABLES)
    assert not unknown, f"Dockerfile sets {unknown}, which are not fields of egov Settings"
    assert re.search(r"^\s*USER\s+(?!root\b|0\b)\S+", text, re.MULTILINE), "Dockerfile does not drop root"


def test_dockerfile_installs_the_dependencies_in_a_layer_before_the_source() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    copies = [i for i, line in enumerate(lines) if line.startswith("COPY ")]
    first_copy, source = copies[0], next(i for i in copies if lines[i].startswith("COPY . "))
    assert lines[first_copy].startswith("COPY pyproject.toml"), f"the first COPY is {lines[first_copy]!r}"
    between = "\n".join(lines[first_copy:source])
    assert "pip install" in between, "no dependency install between pyproject.toml and the source"
    assert re.search(r"pip install [^\n]*\s\.(\s|$)", "\n".join(lines[source:])), "no `pip install .` after"


def test_the_scale_out_example_runs_two_workers_of_an_existing_service_on_the_secure_profile() -> None:
    override = _load(DOCKER_DIR / "scale-out.yaml")
    [(name, service)] = override["services"].items()
    assert name in SERVICES and name in _services()
    assert service["deploy"]["replicas"] == 2
    assert service["ports"] == []  # two containers cannot publish the same host port
    assert "environment" not in service and "volumes" not in service  # its own password, the secure profile


def test_the_plaintext_variant_is_only_an_override_of_its_own() -> None:
    override = _load(DOCKER_DIR / "plaintext.yaml")
    assert override.get("name") not in (None, _compose()["name"]), (
        "plaintext shares the secure stack's volumes"
    )
    services = override["services"]
    for name in sorted(set(SERVICES) | {"provision"}):
        assert _environment(services[name]).get("EGOV_KAFKA_SECURITY") == "plaintext", name
    broker = _kafka_properties(_environment(services["kafka"]))
    assert "authorizer.class.name" not in broker
    assert set(broker["listener.security.protocol.map"].replace(",", ":").split(":")[1::2]) == {"PLAINTEXT"}


# -- people signed in --------------------------------------------------------------------------------------
def _keycloak() -> dict[str, Any]:
    return _services()["keycloak"]


def _keycloak_version() -> str:
    found = re.search(r"<keycloak.version>([^<]+)</keycloak.version>", (KEYCLOAK_DIR / "pom.xml").read_text())
    assert found, "infra/keycloak/pom.xml names no keycloak.version"
    return found.group(1)


def _keycloak_option(name: str) -> str | None:
    """The value of `--name=value` in the keycloak service's command."""
    values = [part.split("=", 1)[1] for part in _command(_keycloak()) if part.startswith(f"--{name}=")]
    assert len(values) <= 1, f"keycloak: --{name} given {len(values)} times"
    return values[0] if values else None


def _keycloak_url() -> str:
    url = _keycloak_option("hostname")
    assert url and re.fullmatch(r"https?://[^/:]+:\d+", url), (
        f"keycloak: --hostname={url!r} is not a full URL with a port (the issuer must not depend on who asks)"
    )
    return url


def _guarded_services() -> set[str]:
    """The services whose API has routes that need a token (they refuse to start without issuers)."""
    return {
        name
        for name, service in load_services(Settings()).items()
        if any(not access.public for access in service.access.values())
    }


def _signs_people_in() -> set[str]:
    """The services that check tokens, and those that sign people in (the department stand-in, when it issues
    its decisions through the document system)."""
    signers = {name for name in SERVICES if "EGOV_DOCUMENTS_URL" in _environment(_services()[name])}
    return _guarded_services() | signers


def test_keycloak_is_the_official_image_at_the_version_of_the_local_provider() -> None:
    image = str(_keycloak().get("image"))
    assert image == f"{KEYCLOAK_IMAGE}:{_keycloak_version()}", (
        f"keycloak: image {image!r}, infra/keycloak/pom.xml pins {_keycloak_version()}"
    )
    assert "build" not in _keycloak(), "keycloak: an image of our own instead of the official one"


def test_keycloak_runs_in_production_mode_with_the_local_providers_build_options() -> None:
    command = _command(_keycloak())
    assert command[:1] == ["start"], f"keycloak: command {command} (production mode `start`, not start-dev)"
    missing = [option for option in BUILD_OPTIONS if option not in command]
    assert not missing, f"keycloak: lacks the build option(s) {missing} of egov/tools/identity/keycloak.py"
    for option in ("--http-enabled=true", "--health-enabled=true", "--import-realm"):
        assert option in command, f"keycloak: {option} is not in {command}"


def test_keycloak_imports_the_realm_files_read_only() -> None:
    source, read_only = _mounts(_keycloak()).get(KEYCLOAK_IMPORT_DIR, ("", False))
    assert source, f"keycloak: nothing mounted at {KEYCLOAK_IMPORT_DIR}"
    assert (DOCKER_DIR / source).resolve() == REALMS_DIR.resolve(), (
        f"keycloak: imports {source}, not the realms"
    )
    assert read_only, f"keycloak: {source} is mounted writable"
    assert {path.name for path in REALMS_DIR.glob("*-realm.json")} == {
        f"{CITIZENS}-realm.json",
        f"{OFFICIALS}-realm.json",
    }


def test_keycloak_names_itself_by_the_address_the_containers_reach_it_on() -> None:
    url = _keycloak_url()
    host, port = url.split("://", 1)[1].split(":")
    assert host in {"keycloak", _keycloak().get("hostname")}, (
        f"keycloak: --hostname {url} is not its own name"
    )
    assert _keycloak_option("http-port") == port, (
        f"keycloak: listens on {_keycloak_option('http-port')}, not {port}"
    )
    assert (int(port), int(port)) in _published_ports(_keycloak()), (
        f"keycloak: {port} is not published as itself"
    )
    assert any(str(spec).startswith("127.0.0.1:") for spec in _keycloak().get("ports") or []), (
        "keycloak: published beyond loopback"
    )


def test_keycloak_is_healthy_when_its_management_interface_says_ready() -> None:
    healthcheck = _keycloak().get("healthcheck") or {}
    test = healthcheck.get("test")
    text = test if isinstance(test, str) else " ".join(str(part) for part in test or [])
    assert f"/{KEYCLOAK_MANAGEMENT_PORT}" in text and "/health/ready" in text, (
        f"keycloak: healthcheck {text!r}"
    )
    assert "curl" not in text and "wget" not in text, "keycloak: the official image has neither curl nor wget"


@pytest.mark.parametrize("name", _egov_containers())
def test_every_egov_container_trusts_the_issuers_of_the_keycloak_service(name: str) -> None:
    env, url = _environment(_services()[name]), _keycloak_url()
    for variable, realm in (("EGOV_OIDC_CITIZEN_ISSUER", CITIZENS), ("EGOV_OIDC_OFFICIAL_ISSUER", OFFICIALS)):
        assert env.get(variable) == f"{url}/realms/{realm}", (
            f"{name}: {variable} is {env.get(variable)!r}, keycloak issues realm {realm} as {url}"
        )


def test_the_services_that_check_tokens_or_sign_people_in_wait_for_a_healthy_keycloak() -> None:
    needing = _signs_people_in()
    assert {"portal", "documents", "agency"} <= needing, f"the services that need the provider: {needing}"
    for name in sorted(needing):
        deps = _depends_on(_services()[name])
        assert deps.get("keycloak") == "service_healthy", (
            f"{name} does not wait for a healthy keycloak: {deps}"
        )
        assert deps.get("provision") == "service_completed_successfully", f"{name}: {deps}"


@pytest.mark.parametrize("path", ["compose.yaml", "plaintext.yaml", "scale-out.yaml", "Dockerfile"])
def test_no_file_sets_egov_auth_whose_default_checks_tokens(path: str) -> None:
    """EGOV_AUTH=off opens every route: for debugging only, never a file's default."""
    assert "EGOV_AUTH" not in (DOCKER_DIR / path).read_text(encoding="utf-8").replace("EGOV_AUTH_", ""), (
        f"{path} sets EGOV_AUTH"
    )


def test_the_overrides_keep_the_identity_provider() -> None:
    for path in ("plaintext.yaml", "scale-out.yaml"):
        services = _load(DOCKER_DIR / path)["services"]
        assert "keycloak" not in services, f"{path} changes the identity provider"
        for name, service in services.items():
            env = service.get("environment") or {}
            assert not any(var.startswith("EGOV_OIDC_") for var in env), f"{path}: {name} changes its issuers"
            assert "depends_on" not in service, f"{path}: {name} changes what it waits for"
