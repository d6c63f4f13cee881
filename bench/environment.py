"""What a benchmark run stands on: a throw-away broker (the project's own, secure profile), the admin step for
each topic prefix, the identity provider for the HTTP phases, and the services as real processes.

Everything is started on free ports under a temporary state folder and stopped on the way out, so a run
leaves nothing behind and never touches the user's `.egov/` stack.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from egov.contracts.envelope import Envelope, decode_headers
from egov.contracts.serde import get_registry
from egov.contracts.topics import TopicSpec, key_of
from egov.contracts.validation import RuleContext, get_validator
from egov.paths import REPO_ROOT
from egov.runtime.credentials import ADMIN
from egov.runtime.settings import Settings
from egov.tools.identity.keycloak import LocalIdentityProvider
from egov.tools.localkafka import LocalBroker
from egov.tools.processes import free_port
from egov.tools.provision import provision
from egov.tools.stack import ServiceProcess, stop_all

EXAMPLES_DIR = REPO_ROOT / "contracts" / "examples"


def example(event_type: str, **changes: Any) -> dict[str, Any]:
    """The golden example of `event_type` as an Avro-ready record, with `changes` applied (natural JSON)."""
    body = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    body.update(changes)
    record, errors = get_validator().from_json(event_type, body, context=RuleContext(today=None))
    if record is None:
        raise ValueError(f"{event_type}: {errors}")
    return record


@dataclass
class Outbound:
    """One record as a producer of the architecture would send it."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def outbound(spec: TopicSpec, event_type: str, record: Mapping[str, Any], *, source: str) -> Outbound:
    """The record encoded (Avro single-object), keyed by its topic's key field, with a fresh envelope."""
    key = key_of(spec, record) or str(uuid.uuid4())
    envelope = Envelope.new(
        source=f"/egov/{source}", type=event_type, subject=key, time=_now(), id=str(uuid.uuid4())
    )
    return Outbound(key.encode(), get_registry().encode(event_type, record), envelope.to_headers())


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


@dataclass
class Seen:
    """A record the benchmark read back, with the moment it arrived (monotonic seconds)."""

    at: float
    topic: str
    key: bytes | None
    type: str
    value: bytes | None


@dataclass
class Bench:
    """The broker of this run, its settings, and what the run started."""

    home: Path
    broker: LocalBroker
    base: Settings
    provider: LocalIdentityProvider | None = None
    services: list[ServiceProcess] = field(default_factory=list)

    def settings(self, prefix: str) -> Settings:
        """The settings of processes under `prefix` (their own topics, groups and principals)."""
        return self.base.model_copy(update={"topic_prefix": prefix})

    def env(self, prefix: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a service process of this run."""
        env = {
            "EGOV_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "EGOV_KAFKA_CONTROLLER_PORT": str(self.broker._controller_port()),
            "EGOV_STATE_DIR": str(self.home / "state"),
            "EGOV_TOPIC_PREFIX": prefix,
            "EGOV_LOG_LEVEL": "WARNING",
        }
        if self.provider is not None:
            env |= {
                "EGOV_OIDC_CITIZEN_ISSUER": self.provider.citizen_issuer,
                "EGOV_OIDC_OFFICIAL_ISSUER": self.provider.official_issuer,
            }
        else:
            env["EGOV_AUTH"] = "off"  # the phases without HTTP only: nothing is served to anyone
        return env | dict(extra or {})

    def provision(self, prefix: str) -> None:
        provision(self.settings(prefix))

    def start_services(
        self, names: Iterable[str], prefix: str, extra: Mapping[str, str] | None = None
    ) -> list[ServiceProcess]:
        started = [
            ServiceProcess(
                name,
                free_port(),
                self.home / "logs" / f"{prefix}{name}.log",
                env=self.env(prefix, extra),
            )
            for name in names
        ]
        self.services.extend(started)
        for process in started:
            process.start()
        for process in started:
            process.wait_healthy(180.0)
        return started

    def stop_services(self, processes: list[ServiceProcess]) -> None:
        stop_all(processes)
        for process in processes:
            if process in self.services:
                self.services.remove(process)

    def admin(self) -> dict[str, Any]:
        """aiokafka's keywords for the super user of this run's broker."""
        return self.base.kafka_options(ADMIN)


@contextmanager
def bench_environment(*, identity: bool, keep: bool = False) -> Iterator[Bench]:
    """A throw-away broker (and identity provider), stopped and removed on the way out."""
    home = Path(tempfile.mkdtemp(prefix="egov-bench-"))
    port = free_port()
    base = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{port}",
        kafka_controller_port=free_port(),
        state_dir=home / "state",
    )
    broker = LocalBroker.from_settings(base)
    bench = Bench(home=home, broker=broker, base=base)
    try:
        broker.start(timeout=120.0)
        if identity:
            bench.provider = LocalIdentityProvider(home=home / "keycloak", port=free_port())
            bench.provider.management_port = free_port()
            bench.provider.start(timeout=240.0)
        yield bench
    finally:
        stop_all(bench.services)
        if bench.provider is not None:
            bench.provider.destroy()
        broker.stop()
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


# -- reading and writing topics ------------------------------------------------------------------------
async def produce_all(
    bootstrap: str, options: Mapping[str, Any], topic: str, records: list[Outbound]
) -> float:
    """Send every record (not one acknowledgement at a time: the client batches) and return the seconds
    until the broker acknowledged them all."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=512 * 1024, **options
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value=r.value, key=r.key, headers=r.headers) for r in records]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


@dataclass
class Reader:
    """A consumer on some topics from their beginning, assigned before anything is sent, keeping what it
    reads with the moment it arrived."""

    bootstrap: str
    options: Mapping[str, Any]
    topics: list[str]
    seen: list[Seen] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Reader:
        self._consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=f"bench-reader-{uuid.uuid4().hex[:8]}",
            fetch_max_wait_ms=50,
            **self.options,
        )
        await self._consumer.start()
        deadline = time.monotonic() + 30
        while not self._consumer.assignment():  # assigned before the run sends anything
            if time.monotonic() > deadline:
                raise TimeoutError(f"the benchmark's reader was not assigned {self.topics} within 30 s")
            await self._consumer.getmany(timeout_ms=100)
        for tp in self._consumer.assignment():
            await self._consumer.seek_to_beginning(tp)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for messages in batch.values():
                for m in messages:
                    headers = decode_headers(m.headers)
                    self.seen.append(Seen(now, m.topic, m.key, headers.get("ce_type", ""), m.value))

    async def until(self, check: Callable[[list[Seen]], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check(self.seen):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} within {timeout:.0f} s (read {len(self.seen)} records)")
            await asyncio.sleep(0.05)  # polling interval of the condition, bounded by the deadline

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()


def run(awaitable: Awaitable[Any]) -> Any:
    return asyncio.run(_await(awaitable))


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
