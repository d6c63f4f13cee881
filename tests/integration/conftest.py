"""A private slice of the stack per test: its own topic prefix, state folder and ports."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from egov.localkafka import free_port
from egov.runtime.admin import ensure_topics
from egov.runtime.settings import Settings
from egov.stack import ServiceProcess, running
from services import SERVICES

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    settings: Settings
    services: dict[str, ServiceProcess]

    @property
    def portal(self) -> httpx.Client:
        return httpx.Client(base_url=self.services["portal"].url, timeout=10.0)

    def topic(self, spec) -> str:  # type: ignore[no-untyped-def]
        return spec.full_name(self.settings.topic_prefix)


@pytest.fixture
def isolated_settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        state_dir=tmp_path / "state",
    )
    asyncio.run(ensure_topics(settings))
    return settings


@pytest.fixture
def stack(isolated_settings: Settings) -> Iterator[Stack]:
    """portal and onestop running against the real broker, stopped after the test whatever happens."""
    settings = isolated_settings
    env = {
        "EGOV_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "EGOV_TOPIC_PREFIX": settings.topic_prefix,
        "EGOV_STATE_DIR": str(settings.state_dir),
        # A killed worker's partitions move to its successor within seconds (the crash test).
        "EGOV_KAFKA_SESSION_TIMEOUT": "10",
        # Lets `tests/cleanup.py` find this worker if the run is killed before the fixture stops it.
        "EGOV_TEST_SESSION": str(os.getpid()),
    }
    processes = {
        name: ServiceProcess(name, free_port(), settings.state_dir / "logs" / f"{name}.log", env=env)
        for name in SERVICES
    }
    with running(list(processes.values()), timeout=120):
        yield Stack(settings, processes)
