"""The Kafka broker for the tests that need one.

Order (docs/adr/0003): `KAFKA_BOOTSTRAP_SERVERS` if set; else a throw-away local jar broker on free ports,
started once per test session and removed at its end; else testcontainers when a Docker engine answers.
No broker is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from egov.paths import default_state_dir
from egov.tools.localkafka import BrokerError, LocalBroker, broker_answers, free_port


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
        broker = LocalBroker(
            home=default_state_dir() / f"test-kafka-{os.getpid()}",
            port=free_port(),
            controller_port=free_port(),
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
        if not broker_answers(given, timeout=10):
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={given} is set but no broker answers there")
        yield given
        return
    problems = []
    if shutil.which("java") and shutil.which("mvn"):
        broker = _start_local_broker(problems)
        if broker is not None:
            try:
                yield broker.bootstrap
            finally:
                broker.destroy()
            return
    else:
        problems.append("java and mvn are not both on PATH, so the local jar broker cannot run")
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    problems.append("no Docker engine answers for testcontainers")
    pytest.fail("No Kafka broker for the integration tests: " + "; ".join(problems))
