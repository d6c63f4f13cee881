"""The Docker compose stack stays in step with `services.SERVICES` and the settings the services read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from egov.runtime.settings import Settings
from services import SERVICES

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = ROOT / "infra" / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"

#: Compose services that are infrastructure rather than entries of SERVICES.
INFRA_SERVICES = {"kafka", "topics"}
#: `EGOV_` variables read outside `Settings` (by egov/paths.py), allowed in the image.
NON_SETTINGS_VARIABLES = {"EGOV_HOME"}


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of NAME=value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (`service_started` for the short list form)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


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


def _kafka_internal_bootstrap() -> str:
    """host:port the kafka service advertises on its inter-broker (in-network) listener."""
    env = _environment(_services()["kafka"])
    listener = env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")
    for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(","):
        name, _, address = entry.strip().partition("://")
        if name == listener:
            return address
    raise AssertionError(f"kafka advertises no {listener} listener: {env['KAFKA_ADVERTISED_LISTENERS']}")


def _setting_variables() -> set[str]:
    return {f"EGOV_{field.upper()}" for field in Settings.model_fields}


def test_compose_file_defines_a_kafka_broker_and_a_topics_job() -> None:
    services = _services()
    missing = INFRA_SERVICES - services.keys()
    assert not missing, f"compose.yaml lacks the infrastructure service(s) {sorted(missing)}"


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


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_reaches_kafka_on_its_internal_listener(name: str) -> None:
    env = _environment(_services()[name])
    expected = _kafka_internal_bootstrap()
    assert env.get("EGOV_KAFKA_BOOTSTRAP_SERVERS") == expected, (
        f"service {name!r}: EGOV_KAFKA_BOOTSTRAP_SERVERS is {env.get('EGOV_KAFKA_BOOTSTRAP_SERVERS')!r}, "
        f"the kafka service's internal listener is {expected!r}"
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_checks_its_health_endpoint(name: str) -> None:
    healthcheck = _services()[name].get("healthcheck")
    assert healthcheck, f"service {name!r} has no healthcheck"
    test = healthcheck.get("test")
    test_text = test if isinstance(test, str) else " ".join(str(part) for part in test or [])
    url = f"http://127.0.0.1:{SERVICES[name].port}/health"
    assert url in test_text, f"service {name!r}: healthcheck {test_text!r} does not call {url}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_starts_after_the_topics_job_succeeded(name: str) -> None:
    deps = _depends_on(_services()[name])
    assert deps.get("topics") == "service_completed_successfully", (
        f"service {name!r} does not depend on `topics` with condition service_completed_successfully "
        f"(depends_on: {deps})"
    )


def test_topics_job_creates_the_topics_once_kafka_is_healthy() -> None:
    topics = _services()["topics"]
    assert _command(topics)[-2:] == ["topics", "create"], f"topics job: command is {_command(topics)}"
    assert _depends_on(topics).get("kafka") == "service_healthy", (
        f"topics job does not wait for kafka to be healthy (depends_on: {_depends_on(topics)})"
    )
    assert _environment(topics).get("EGOV_KAFKA_BOOTSTRAP_SERVERS") == _kafka_internal_bootstrap(), (
        "topics job does not reach kafka on its internal listener"
    )


def test_compose_has_no_container_for_an_unknown_service() -> None:
    extra = _services().keys() - SERVICES.keys() - INFRA_SERVICES
    assert not extra, f"compose.yaml has container(s) {sorted(extra)} that are not in services.SERVICES"


def test_kafka_is_an_apache_kafka_broker_and_controller() -> None:
    kafka = _services()["kafka"]
    assert str(kafka.get("image", "")).startswith("apache/kafka"), (
        f"kafka service: image {kafka.get('image')!r} is not apache/kafka"
    )
    roles = _environment(kafka).get("KAFKA_PROCESS_ROLES", "")
    assert {role.strip() for role in roles.split(",")} == {"broker", "controller"}, (
        f"kafka service: KAFKA_PROCESS_ROLES is {roles!r}, expected broker,controller (KRaft, single node)"
    )
    assert _environment(kafka).get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false", (
        "kafka service: auto topic creation must be off (the topics job creates them)"
    )
    assert kafka.get("healthcheck"), "kafka service has no healthcheck"


@pytest.mark.parametrize("name", sorted(set(SERVICES) | {"topics"}))
def test_containers_set_only_egov_variables_that_settings_reads(name: str) -> None:
    env = _environment(_services()[name])
    unknown = sorted(var for var in env if var.startswith("EGOV_") and var not in _setting_variables())
    assert not unknown, f"service {name!r} sets {unknown}, which are not fields of egov Settings"


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


def test_the_scale_out_example_runs_two_workers_of_an_existing_service() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!reset", lambda loader, node: loader.construct_sequence(node))  # type: ignore[arg-type]
    override = yaml.load((DOCKER_DIR / "scale-out.yaml").read_text(encoding="utf-8"), Loader=Loader)
    [(name, service)] = override["services"].items()
    assert name in SERVICES and name in _services()
    assert service["deploy"]["replicas"] == 2
    assert service["ports"] == []  # two containers cannot publish the same host port
