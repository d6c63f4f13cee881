"""The processes of one chaos run, and the faults that strike them.

A run owns its broker (one node or a cluster, in a throw-away folder on free ports: faults kill it) and its
services' workers (on free ports, a fresh topic prefix and state folder); the identity provider is the local
stack's, started if it does not run and stopped afterwards if the run started it. Everything the run started
is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from egov.runtime.credentials import ADMIN
from egov.runtime.settings import Settings
from egov.tools.identity.keycloak import provider_env
from egov.tools.localkafka import LocalBroker, LocalCluster
from egov.tools.processes import free_port
from egov.tools.provision import provision
from egov.tools.stack import ServiceProcess, running, workers
from services import SERVICES

#: Real seconds per business day: slow enough that no dossier of a run falls overdue during a stall.
DAY_SECONDS = 20.0
#: How the department stand-in behaves in a run: it approves every dossier the day it is assigned.
PROFILE = {"default": {"duration_days": 0, "supplement_chance": 0.0, "reject_chance": 0.0}, "procedures": {}}


@dataclass
class Fault:
    """One fault of a plan, with when it struck and when what it struck answered again (wall time, s)."""

    name: str
    struck: float
    back: float | None = None


@dataclass
class Rig:
    """A run's broker, settings and workers."""

    settings: Settings
    broker: LocalBroker | LocalCluster
    processes: list[ServiceProcess]
    #: The services the plan kills, in the order it kills them.
    struck: list[str]
    faults: list[Fault] = field(default_factory=list)

    @property
    def brokers(self) -> int:
        return len(self.broker.nodes) if isinstance(self.broker, LocalCluster) else 1

    def workers_of(self, name: str) -> list[ServiceProcess]:
        return [p for p in self.processes if p.name == name]

    @property
    def portal_urls(self) -> list[str]:
        return [p.url for p in self.workers_of("portal")]

    # -- faults of workers --------------------------------------------------------------------------------
    def kill(self, process: ServiceProcess) -> None:
        """SIGKILL one worker, as a crash would."""
        process.kill()

    def restart(self, process: ServiceProcess, timeout: float = 180.0) -> None:
        process.start()
        process.wait_healthy(timeout)

    # -- faults of brokers --------------------------------------------------------------------------------
    def busiest_leader(self) -> int:
        """The node leading the partitions that hold the most records (of this run's topics)."""
        return asyncio.run(_busiest_leader(self.settings))

    def kill_node(self, node_id: int) -> None:
        node = self.broker.node(node_id) if isinstance(self.broker, LocalCluster) else self.broker
        node.kill()

    def restart_node(self, timeout: float = 300.0) -> None:
        """Start the killed node again; returns once it answers (on a cluster: once it is a broker of the
        cluster again: on a machine as loaded as the run's, that has taken over two minutes)."""
        self.broker.start(timeout)


async def _busiest_leader(settings: Settings) -> int:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_options(ADMIN)
    )
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_options(ADMIN)
    )
    await consumer.start()
    try:
        leaders = {
            TopicPartition(t["topic"], p["partition"]): p["leader"]
            for t in described
            for p in t["partitions"]
        }
        ends = await consumer.end_offsets(list(leaders))
    finally:
        await consumer.stop()
    load: dict[int, int] = {}
    for tp, leader in leaders.items():
        load[leader] = load.get(leader, 0) + ends.get(tp, 0)
    return max(load, key=lambda node: load[node])


@contextmanager
def rig(
    home: Path,
    *,
    brokers: int,
    workers_per_service: int,
    user_settings: Settings,
    services: Sequence[str] = tuple(SERVICES),
    struck: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Rig]:
    """Start a run's broker, provision it, start the identity provider (if none runs) and the workers of
    `services` (every one by default), of which the plan strikes `struck` (default: all of them); stop what
    it started on the way out."""
    unknown = sorted(set(services) - set(SERVICES)) + sorted(set(struck or ()) - set(services))
    if unknown:
        raise ValueError(f"not a service of the run: {', '.join(unknown)}")
    if home.exists():
        for pid_file in home.glob("kafka/**/broker.pid"):  # a broker an interrupted run left behind
            LocalBroker(home=pid_file.parent).stop()
        shutil.rmtree(home)
    home.mkdir(parents=True)
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(brokers)]
    secrets = home / "secrets" / "kafka.json"
    broker: LocalBroker | LocalCluster
    if brokers == 1:
        host, _, port = addresses[0].rpartition(":")
        broker = LocalBroker(
            home=home / "kafka",
            host=host,
            port=int(port),
            controller_port=free_port(),
            secrets_file=secrets,
        )
    else:
        controllers = [free_port() for _ in range(brokers)]
        broker = LocalCluster.of(
            home / "kafka", addresses, controller_ports=controllers, secrets_file=secrets
        )
    identity_env, provider = provider_env(user_settings)
    started_provider = False
    try:
        broker.start(180)
        settings = Settings(
            kafka_bootstrap_servers=",".join(addresses),
            kafka_secrets_file=secrets,
            kafka_security="sasl",
            topic_prefix=f"chaos{uuid.uuid4().hex[:8]}.",
            state_dir=home / "state",
            oidc_citizen_issuer=identity_env.get("EGOV_OIDC_CITIZEN_ISSUER"),
            oidc_official_issuer=identity_env.get("EGOV_OIDC_OFFICIAL_ISSUER"),
        )
        provision(settings)
        if provider is not None:
            started_provider = provider.start()
        profile = home / "agency-profile.yaml"
        profile.write_text(yaml.safe_dump(PROFILE), encoding="utf-8")
        ports = {name: free_port() for name in services}
        spread = {name: _spread_ports(ports[name], workers_per_service) for name in services}
        service_env = {
            "EGOV_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "EGOV_KAFKA_SECRETS_FILE": str(secrets),
            "EGOV_KAFKA_SECURITY": "sasl",
            "EGOV_TOPIC_PREFIX": settings.topic_prefix,
            "EGOV_STATE_DIR": str(settings.state_dir),
            "EGOV_CLOCK_SPEED": str(86400 / DAY_SECONDS),
            "EGOV_CLOCK_ANCHOR": dt.datetime.now(dt.UTC).isoformat(),
            "EGOV_TIMER_INTERVAL": "0.5",
            "EGOV_AGENCY_PROFILE": str(profile),
            **identity_env,
            **(env or {}),
        }
        if "documents" in services:  # the department stand-in issues its decisions there
            service_env["EGOV_DOCUMENTS_URL"] = f"http://127.0.0.1:{spread['documents'][0]}"
        processes = workers(
            services,
            workers_per_service,
            port_of=lambda name: ports[name],
            logs=settings.state_dir / "logs",
            env=service_env,
        )
        for process in processes:  # free ports for every worker (worker n is not port + 1000·(n-1) here)
            process.port = spread[process.name][process.worker - 1]
        with running(processes, timeout=240):
            yield Rig(settings, broker, processes, [n for n in services if struck is None or n in struck])
    finally:
        if started_provider and provider is not None:
            provider.stop()
        broker.stop()


def _spread_ports(first: int, count: int) -> list[int]:
    return [first, *(free_port() for _ in range(count - 1))]


def stamp() -> float:
    """Wall time (s), comparable with the broker's record times."""
    return time.time()


def describe(rig: Rig) -> dict[str, Any]:
    return {
        "bootstrap": rig.settings.kafka_bootstrap_servers,
        "prefix": rig.settings.topic_prefix,
        "workers": {name: len(rig.workers_of(name)) for name in SERVICES},
    }
