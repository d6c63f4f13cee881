"""The wiring every service shares: a Faust app, typed topics, decoding with dead letters, idempotency,
publishing with the CloudEvents envelope, a health endpoint, and the worker's start and stop.

A service's `app.py` builds one `Service`, registers its handlers with `consume`, its tables and views, and
calls `run`. Handlers receive decoded, validated `IncomingEvent`s and publish with `publish`; everything
that can go wrong with a message (undecodable bytes, a broken envelope, a contract violation, a domain
refusal) ends on the service's dead-letter topic with the reason, and the service goes on.

Delivery is at-least-once: a handler's output is acknowledged by the broker before the input's offset can
be committed, and a consumer remembers the `ce_id`s it has handled (in a changelog-backed table) so a
redelivered event changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import structlog
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from faust.exceptions import PartitionsMismatch

from egov.contracts.validation import get_validator
from egov.runtime.envelope import Envelope, EnvelopeError, decode_headers
from egov.runtime.logging import configure_logging, get_logger
from egov.runtime.serde import ContractError, ContractRegistry, get_registry
from egov.runtime.settings import Settings, get_settings
from egov.runtime.topics import EventTypes, TopicSpec, dead_letters


def is_retryable(exc: BaseException) -> bool:
    """An error of the infrastructure that may pass (broker away, time-out): the event is tried again,
    never dead-lettered. A Kafka error that cannot pass (a record too large, no authorisation) is not."""
    if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | asyncio.TimeoutError | ConnectionError):
        return True
    if isinstance(exc, PartitionsMismatch):
        # A table's changelog not yet in the client's metadata (just created) looks like 0 partitions, and
        # that passes. A real mismatch (a changelog made by hand) does not: the partition then waits, with a
        # warning at each attempt, until an operator fixes the topic (dead-lettering would drop every event).
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


#: A service's Faust app id (and so its consumer group) is `<topic prefix>egov-<service>`, and the
#: CloudEvents source of what it emits `/egov/<service>`; the architecture checks map both back.
APP_ID_PREFIX = "egov-"
SOURCE_PREFIX = "/egov/"

#: Header naming the service that wrote a record to its topic.
WRITER_HEADER = "egov_writer"

#: Longest reason kept in a dead letter's headers (the DeadLetter body keeps it whole).
MAX_REASON_HEADER = 1000
RETRY_INITIAL_DELAY = 0.5
DEAD_LETTER = EventTypes.DEAD_LETTER
RETRY_MAX_DELAY = 30.0


class RejectedEvent(Exception):
    """A handler refuses an event it cannot act on; the event goes to the dead letters with this reason
    (and `code`, an error code of the service's own catalogue such as the LGSP's, when it has one)."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class IncomingEvent:
    """A decoded event as a handler sees it."""

    envelope: Envelope
    type: str
    record: dict[str, Any]
    key: str | None
    topic: str
    partition: int
    offset: int
    raw_value: bytes
    raw_headers: tuple[tuple[str, bytes], ...]
    #: The business time at which the service handles the event, fixed across retries of the same event,
    #: so a retried step decides (dates, on-time) exactly as its first attempt did.
    handled_at: dt.datetime


Handler = Callable[[IncomingEvent], Awaitable[None]]
#: A handler, or one handler per event type of the topic (types without one are skipped).
Handlers = Handler | Mapping[str, Handler]


class Service:
    """One service of the architecture: a Faust app plus the shared conventions."""

    def __init__(
        self,
        name: str,
        *,
        default_port: int,
        settings: Settings | None = None,
        rejection_code: int | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or get_settings()
        #: Business time (egov.runtime.clock): what dates events and decides deadlines.
        self.clock = self.settings.clock
        #: The error code a dead letter carries when a message cannot be decoded or breaks its contract.
        self.rejection_code = rejection_code
        self.source = f"{SOURCE_PREFIX}{name}"
        self.registry: ContractRegistry = get_registry()
        self.validator = get_validator()
        self.log = get_logger(f"egov.{name}")
        prefix = self.settings.topic_prefix
        self.app = faust.App(
            f"{prefix}{APP_ID_PREFIX}{name}",
            broker=[f"kafka://{server}" for server in self.settings.bootstrap_list],
            store="memory://",
            autodiscover=False,
            web_enabled=True,
            web_bind=self.settings.web_host,
            web_host=self.settings.web_host,
            web_port=self.settings.web_port or default_port,
            topic_partitions=self.settings.partitions,
            topic_replication_factor=self.settings.replication_factor,
            producer_acks=-1,
            # Fail a send after 30 s rather than Faust's 20 minutes: a citizen waiting on a POST, or an
            # agent retrying with back-off, learns of a broker outage in time.
            producer_request_timeout=30.0,
            broker_session_timeout=self.settings.kafka_session_timeout,
            broker_heartbeat_interval=max(1.0, self.settings.kafka_session_timeout / 10),
            consumer_auto_offset_reset="earliest",
            datadir=str(self.settings.state_dir / "faust" / f"{prefix}{name}"),
        )
        self._topics: dict[str, faust.TopicT] = {}
        #: The topics this service reads and writes, as its wiring declares them (for the architecture
        #: checks and the AsyncAPI document: never a hand-kept list).
        self.consumes: list[TopicSpec] = []
        self.produces: list[TopicSpec] = [dead_letters(name)]
        self.dead_letter_topic = dead_letters(name)
        self._processed = self.app.Table(
            "processed-events",
            default=None,
            partitions=self.settings.partitions,
            help="ce_id of every event a handler finished, by handler: the idempotency memory.",
        )
        self._key_locks = KeyLocks()
        self.app.page("/health")(self._health_view())

    # -- topics and tables ------------------------------------------------------------------------------
    def writes(self, *specs: TopicSpec) -> None:
        """Declare the topics this service writes (it must own them: one writer per topic)."""
        for spec in specs:
            if spec.owner != self.name:
                raise PermissionError(
                    f"{self.name} may not write {spec.name}: its only writer is {spec.owner}"
                )
            if spec not in self.produces:
                self.produces.append(spec)

    def topic(self, spec: TopicSpec) -> faust.TopicT:
        """The Faust topic for a registry entry (raw bytes: the runtime does the Avro serde)."""
        if spec.name not in self._topics:
            self._topics[spec.name] = self.app.topic(
                spec.full_name(self.settings.topic_prefix),
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=self.settings.partitions,
            )
        return self._topics[spec.name]

    def table(self, name: str, *, help: str) -> faust.types.TableT:
        """A changelog-backed table, partitioned like every topic of the project."""
        return self.app.Table(name, default=None, partitions=self.settings.partitions, help=help)

    # -- consuming ----------------------------------------------------------------------------------
    def consume(self, spec: TopicSpec, handlers: Handlers, *, name: str) -> None:
        """Run the handler for every event on `spec`'s topic, decoded and de-duplicated. With a mapping of
        event type to handler, the events of other types are passed over (they are not this consumer's)."""
        service = self
        if spec not in self.consumes:
            self.consumes.append(spec)
        takes: frozenset[str] | None = None
        if isinstance(handlers, Mapping):
            unknown = set(handlers) - set(spec.events)
            if unknown:
                raise ValueError(f"{spec.name} carries no {', '.join(sorted(unknown))}")
            by_type = dict(handlers)
            takes = frozenset(by_type)

            async def dispatch(event: IncomingEvent) -> None:
                await by_type[event.type](event)

            handler: Handler = dispatch
        else:
            handler = handlers

        async def agent(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await service._handle_with_retries(spec, name, event, handler, takes)

        self.app.agent(self.topic(spec), name=f"{self.name}.{name}")(agent)

    async def _handle_with_retries(
        self,
        spec: TopicSpec,
        name: str,
        event: faust.EventT,
        handler: Handler,
        takes: frozenset[str] | None = None,
    ) -> None:
        """Handle one event; on an infrastructure error, try the same event again with back-off.

        The agent does not move on meanwhile, so the event's offset is not committed and nothing is lost:
        an exception escaping the agent would make Faust restart it and acknowledge the event anyway.

        One event per key at a time, across all of this service's agents, retries and back-off included: a
        handler reads its key's state, publishes, then writes the state, and an event its output caused (a
        reply on another topic, read by another agent) must not see the state from before.
        """
        async with self._key_locks.hold(event.message.key):
            delay = RETRY_INITIAL_DELAY
            handled_at = self.clock.now()
            while True:
                try:
                    await self._handle(spec, name, event, handler, takes, handled_at)
                    return
                except Exception as exc:
                    if not is_retryable(exc):
                        raise
                    message = event.message
                    self.log.warning(
                        "event.retrying",
                        error=repr(exc),
                        retry_in_s=delay,
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                    )
                    await asyncio.sleep(delay)  # back-off before the next attempt
                    delay = min(delay * 2, RETRY_MAX_DELAY)

    async def _handle(
        self,
        spec: TopicSpec,
        name: str,
        event: faust.EventT,
        handler: Handler,
        takes: frozenset[str] | None = None,
        handled_at: dt.datetime | None = None,
    ) -> None:
        message = event.message
        raw_headers = _header_items(event.headers)
        origin = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        try:
            envelope = Envelope.from_headers(raw_headers)
            contract, record = self.registry.decode(message.value)
            if contract.name not in spec.events:
                raise ContractError(f"{contract.name} is not an event type of topic {spec.name}")
            if envelope.type != contract.name:
                raise EnvelopeError(
                    f"ce_type {envelope.type!r} does not match the body's type {contract.name}"
                )
            self._require_rules(contract.name, record)
            _require_key(spec, message.key, record)
        except (ContractError, EnvelopeError) as exc:
            await self.dead_letter(message, raw_headers, reason=str(exc), error=exc, code=self.rejection_code)
            return
        if takes is not None and contract.name not in takes:
            return  # an event of the topic this consumer has no use for: nothing to do, nothing to remember
        key = message.key.decode("utf-8", errors="replace") if message.key is not None else None
        # CloudEvents: source and id together identify an event.
        memory_key = f"{name}:{envelope.source}:{envelope.id}"
        incoming = IncomingEvent(
            envelope=envelope,
            type=contract.name,
            record=record,
            key=key,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            raw_value=bytes(message.value or b""),
            raw_headers=raw_headers,
            handled_at=handled_at or self.clock.now(),
        )
        with structlog.contextvars.bound_contextvars(
            event_id=envelope.id, event_type=contract.name, key=key, **_business_keys(record)
        ):
            await self._handle_once(memory_key, message, origin, incoming, handler)

    async def _handle_once(
        self, memory_key: str, message: Any, origin: dict[str, Any], incoming: IncomingEvent, handler: Handler
    ) -> None:
        """Run the handler unless the event was handled before; then remember it."""
        if self._processed.get(memory_key) is not None:
            self.log.info("event.duplicate_ignored", **origin)
            return
        raw_headers = incoming.raw_headers
        try:
            await handler(incoming)
        except RejectedEvent as exc:
            code = exc.code if exc.code is not None else self.rejection_code
            await self.dead_letter(message, raw_headers, reason=str(exc), error=exc, code=code)
        except Exception as exc:
            if is_retryable(exc):
                raise
            self.log.exception("event.handler_failed", **origin)
            await self.dead_letter(message, raw_headers, reason=f"{type(exc).__name__}: {exc}", error=exc)
        self._processed[memory_key] = message.offset

    # -- producing ----------------------------------------------------------------------------------
    async def publish(
        self, spec: TopicSpec, record: Mapping[str, Any], *, key: str, envelope: Envelope
    ) -> None:
        """Encode `record` as `envelope.type`, send it, and wait for the broker's acknowledgement."""
        self._check_writer(spec, envelope.type)
        self._require_rules(envelope.type, record)
        value = self.registry.encode(envelope.type, record)
        await self.send_raw(spec, key=key, value=value, headers=envelope.to_headers())
        self.log.info(
            "event.published", topic=spec.name, event_id=envelope.id, event_type=envelope.type, key=key
        )

    async def send_raw(
        self,
        spec: TopicSpec,
        *,
        key: str | bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]],
    ) -> None:
        """Send bytes as they are (forwarding an event unchanged) and wait for the acknowledgement."""
        if spec not in self.produces:
            raise PermissionError(
                f"{self.name} does not declare {spec.name} among the topics it writes (Service.writes)"
            )
        key_bytes = key.encode() if isinstance(key, str) else key
        # `ce_source` says where an event comes from; `egov_writer` which service put this record on this
        # topic (they differ for a forwarded event). `egov arch observe` checks the writer against the model.
        stamped = [(k, v) for k, v in headers if k != WRITER_HEADER] + [(WRITER_HEADER, self.name.encode())]
        pending = await self.topic(spec).send(key=key_bytes, value=value, headers=stamped)
        await pending

    def _require_rules(self, event_type: str, record: Mapping[str, Any]) -> None:
        """The regulation rules of the contract (egov.contracts.validation), on every event in and out."""
        broken = self.validator.check_rules(event_type, record)
        if broken:
            raise ContractError(f"{event_type} breaks its rules: " + "; ".join(map(str, broken)))

    def _check_writer(self, spec: TopicSpec, event_type: str) -> None:
        if event_type not in spec.events:
            raise ContractError(f"{event_type} is not an event type of topic {spec.name}")

    def new_envelope(
        self,
        event_type: str,
        *,
        subject: str,
        time: dt.datetime,
        caused_by: IncomingEvent | None = None,
        purpose: str | None = None,
        id: str | None = None,
    ) -> Envelope:
        """The envelope of an event this service emits. An event caused by another gets a deterministic
        id (same input, same output id) and continues its trace; otherwise `id` (e.g. derived from an
        idempotency key) or a new random one."""
        cause = caused_by.envelope if caused_by else None
        return Envelope.new(
            source=self.source,
            type=event_type,
            subject=subject,
            time=time,
            id=cause.derived_id(purpose or event_type) if cause else id,
            caused_by=cause,
        )

    async def dead_letter(
        self,
        message: Any,
        headers: Iterable[tuple[str, bytes]],
        *,
        reason: str,
        error: BaseException | None = None,
        code: int | None = None,
    ) -> None:
        """Put a message on this service's dead-letter topic as a DeadLetter event: the original key, value
        and headers byte for byte, with the reason, the error code if any, and the origin. The same facts
        travel as `dlq_*` headers too, for tools that only look at headers."""
        now = dt.datetime.now(dt.UTC)
        error_name = type(error).__name__ if error else "Error"
        original_headers = dict(headers)
        letter = {
            "service": self.name,
            "reason": reason,
            "error": error_name,
            "error_code": code,
            "origin_topic": str(message.topic),
            "origin_partition": int(message.partition),
            "origin_offset": int(message.offset),
            "original_key": message.key,
            "original_value": message.value,
            "original_headers": original_headers,
            "failed_at": now,
        }
        subject = f"{message.topic}/{message.partition}/{message.offset}"
        envelope = Envelope.new(
            source=self.source,
            type=DEAD_LETTER,
            subject=subject,
            time=now,
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"dead-letter/{self.name}/{subject}")),
        )
        dlq_headers = [
            *envelope.to_headers(),
            ("dlq_reason", reason[:MAX_REASON_HEADER].encode()),
            ("dlq_error", error_name.encode()),
            ("dlq_service", self.name.encode()),
            ("dlq_origin_topic", str(message.topic).encode()),
            ("dlq_origin_partition", str(message.partition).encode()),
            ("dlq_origin_offset", str(message.offset).encode()),
            *([("dlq_error_code", str(code).encode())] if code is not None else []),
        ]
        try:
            value = self.registry.encode(DEAD_LETTER, letter)
            await self.send_raw(self.dead_letter_topic, key=message.key, value=value, headers=dlq_headers)
        except KafkaError as exc:
            if is_retryable(exc):
                raise
            # The broker refuses the letter itself (too large): keep the facts, drop the original bytes.
            letter["original_value"] = None
            letter["reason"] = f"{reason} (original value not kept: {type(exc).__name__})"
            value = self.registry.encode(DEAD_LETTER, letter)
            await self.send_raw(self.dead_letter_topic, key=message.key, value=value, headers=dlq_headers)
        self.log.warning(
            "event.dead_lettered",
            reason=reason,
            error_code=code,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    # -- health -------------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        app = self.app
        recovery: Any = getattr(app.tables, "recovery")  # noqa: B009 - not in faust's TableManagerT interface
        return bool(not app.rebalancing and not app.in_recovery and recovery.completed.is_set())

    def _health_view(self) -> Callable[..., Any]:
        service = self

        async def health(web_view: Any, request: Any) -> Any:
            ready = service.is_ready()
            body = {
                "service": service.name,
                "status": "ok" if ready else "starting",
                "kafka": service.settings.kafka_bootstrap_servers,
                "topic_prefix": service.settings.topic_prefix,
            }
            return web_view.json(body, status=200 if ready else 503)

        return health

    # -- running ------------------------------------------------------------------------------------
    def run(self) -> None:
        """Create the registry's topics, then run the worker until SIGTERM or SIGINT."""
        from egov.runtime.admin import ensure_topics

        configure_logging(self.name, self.settings.log_level)
        Path(self.app.conf.datadir).mkdir(parents=True, exist_ok=True)
        changelogs = [table.changelog_topic.get_topic_name() for table in self.app.tables.values()]
        created = asyncio.run(ensure_topics(self.settings, changelogs=changelogs))
        if created:
            self.log.info("topics.created", topics=created)
        self.log.info(
            "service.starting",
            kafka=self.settings.kafka_bootstrap_servers,
            web=f"http://{self.settings.web_host}:{self.app.conf.web_port}",
        )
        # The worker's own console output (banner, spinner, terminal codes) is not JSON: discard it; what
        # matters reaches the JSON log through the logging handlers configured above.
        with open(os.devnull, "w") as console:
            worker = faust.Worker(
                self.app,
                loglevel=self.settings.log_level,
                override_logging=False,
                redirect_stdouts=False,
                quiet=True,
                stdout=console,
                stderr=console,
            )
            worker.execute_from_commandline()


def _require_key(spec: TopicSpec, key: bytes | None, record: Mapping[str, Any]) -> None:
    """A topic keyed by a field of its events (dossier_code, submission_id) carries each event under that
    field's value: the partition, the per-key order and the state of the key depend on it."""
    if spec.key not in record:
        return
    expected = str(record[spec.key])
    if key is None or key != expected.encode():
        shown = "no key" if key is None else f"key {key.decode('utf-8', errors='replace')!r}"
        raise ContractError(
            f"{spec.name} is keyed by {spec.key}, but this event has {shown}, not {expected!r}"
        )


class KeyLocks:
    """An asyncio lock per key, dropped when nobody holds or waits for it. Records without a key share one."""

    def __init__(self) -> None:
        self._locks: dict[str | bytes | None, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str | bytes | None) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


def _header_items(headers: Any) -> tuple[tuple[str, bytes], ...]:
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in items)


#: Record fields that identify the business object; they are bound to every log line of the event.
_BUSINESS_KEYS = ("dossier_code", "submission_id", "document_id", "correlation_id")


def _business_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in _BUSINESS_KEYS if k in record}


__all__ = [
    "Handler",
    "Handlers",
    "IncomingEvent",
    "RejectedEvent",
    "Service",
    "decode_headers",
    "is_retryable",
]
