"""The Kafka broker for the tests that need one.

Order (docs/adr/0003): `KAFKA_BOOTSTRAP_SERVERS` if set; else a throw-away local jar broker on free ports,
started once per test session and removed at its end; else testcontainers when a Docker engine answers.
No broker is an error, never a skip.

The jar broker runs the secure profile, as `egov up` and `egov demo` do (SASL/SCRAM and the model's ACLs):
its passwords are in its own secrets file, which the session names in `EGOV_KAFKA_SECRETS_FILE` for every
client and service process of the tests. A broker given by `KAFKA_BOOTSTRAP_SERVERS` is reached with the
profile and credentials of the environment (`EGOV_KAFKA_SECURITY`, `EGOV_KAFKA_SECRETS_FILE`); the
testcontainers broker is plaintext.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from egov.paths import default_state_dir
from egov.runtime.credentials import ADMIN
from egov.runtime.settings import Settings
from egov.tools.localkafka import BrokerError, LocalBroker, broker_answers
from egov.tools.processes import free_port


@contextmanager
def monkeypatched_env(**values: str) -> Iterator[None]:
    """These environment variables for the session (the processes it starts inherit them), then as before."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _start_local_broker(problems: list[str], attempts: int = 3) -> LocalBroker | None:
    """A throw-away jar broker on free ports; new ports when another process took them meanwhile."""
    for _ in range(attempts):
        home = default_state_dir() / f"test-kafka-{os.getpid()}"
        broker = LocalBroker(
            home=home,
            port=free_port(),
            controller_port=free_port(),
            security="sasl",
            secrets_file=home / "secrets" / "kafka.json",
        )
        try:
            broker.start(timeout=120)
            return broker
        except BrokerError as exc:
            broker.destroy()
            problems.append(f"the local jar broker did not start: {exc}")
            if "is taken by another process" not in str(exc):
                return None
    return None


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """host:port of a real Kafka broker."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        options = Settings(kafka_bootstrap_servers=given).kafka_options(ADMIN)
        if not broker_answers(given, timeout=10, options=options):
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={given} is set but no broker answers there")
        yield given
        return
    problems = []
    if shutil.which("java") and shutil.which("mvn"):
        broker = _start_local_broker(problems)
        if broker is not None:
            with monkeypatched_env(
                EGOV_KAFKA_SECURITY=broker.security, EGOV_KAFKA_SECRETS_FILE=str(broker.secrets.path)
            ):
                try:
                    yield broker.bootstrap
                finally:
                    broker.destroy()
            return
    else:
        problems.append("java and mvn are not both on PATH, so the local jar broker cannot run")
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with (
            KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as container,
            monkeypatched_env(EGOV_KAFKA_SECURITY="plaintext"),
        ):
            yield container.get_bootstrap_server()
        return
    problems.append("no Docker engine answers for testcontainers")
    pytest.fail("No Kafka broker for the integration tests: " + "; ".join(problems))
