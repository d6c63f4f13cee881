"""The one object a service's wiring talks to: typed topics, decoding with dead letters, idempotency,
publishing with the CloudEvents envelope, tables, timers, HTTP routes, health, and the worker's start.

A service's `app.py` has a `build(settings, engine=None)` that makes one `Service`, declares the topics it
writes, registers its handlers with `consume`, its tables, routes and periodic checks, and returns it; `egov
run <service>` builds it and calls `run`. The `engine` is what it runs on: Faust on the broker
(`egov.runtime.engine.FaustEngine`, the default) or the fake of the handler tests
(`egov.runtime.testing.FakeEngine`).

Handlers receive decoded, validated `IncomingEvent`s and publish with `publish`; everything that can go wrong
with a message (undecodable bytes, a broken envelope, a contract violation, a domain refusal) ends on the
service's dead-letter topic with the reason, and the service goes on.

Delivery is at-least-once: a handler's output is acknowledged by the broker before the input's offset can
be committed, and a consumer remembers the `ce_id`s it has handled (in a changelog-backed table) so a
redelivered event changes nothing. A handling that wrote to tables writes ahead (egov.runtime.writes): its
memory entry records its writes and outputs first, then the writes are sent, then the outputs, then the
entry is marked done; a worker that crashes midway leaves nothing visible that the state behind it does not
record, and the event, delivered again, has its effects redone from the entry.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

import httpx
import structlog
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from pydantic import BaseModel, Field

from egov.contracts.envelope import (
    ACTOR_HEADER,
    SOURCE_PREFIX,
    WRITER_HEADER,
    Envelope,
    EnvelopeError,
    actor_of,
)
from egov.contracts.serde import ContractError, ContractRegistry, get_registry
from egov.contracts.topics import TopicSpec, dead_letters
from egov.contracts.validation import get_validator
from egov.runtime import retries
from egov.runtime.admin import wait_for_topics
from egov.runtime.auth import PUBLIC, Access, AuthError, Kind, TokenVerifier, Verifier
from egov.runtime.credentials import service_principal
from egov.runtime.deadletters import dead_letter_event, without_original_value
from egov.runtime.engine import Engine, FaustEngine, Outgoing
from egov.runtime.events import (
    Handler,
    Handlers,
    IncomingEvent,
    Message,
    RejectedEvent,
    business_keys,
    decode,
    header_items,
    require_key,
    require_rules,
)
from egov.runtime.http import (
    DEFAULT_MAX_BODY_BYTES,
    HttpError,
    HttpRequest,
    HttpResponse,
    Operation,
    Reply,
    Route,
    answer,
    limit_body,
)
from egov.runtime.logging import configure_logging, get_logger
from egov.runtime.metrics import DEAD_LETTERED, DUPLICATE, HANDLED, PASSED_OVER, REDONE, Metrics
from egov.runtime.metrics import MEDIA_TYPE as METRICS_MEDIA_TYPE
from egov.runtime.placement import Placement
from egov.runtime.retries import KeyLocks, is_retryable
from egov.runtime.routing import OwnerKey, Part, gather, routed
from egov.runtime.settings import Settings, get_settings
from egov.runtime.writes import ABSENT, TableWrites, same

#: Entries past their retention forgotten per event handled: a bounded cost on each event.
FORGET_AT_ONCE = 8


@dataclass
class _Effects:
    """What handling one event does besides reading: its table writes (held back), the records it publishes
    (held back until the handler returns; with `hand_over_now`, handed to the producer at once and their
    acknowledgements awaited later), and what must wait for all of them (announcing what was published).
    `memory`: the event's memory key, offset and partition, once the handler has run (or its effects are
    to be redone); `ahead`: its memory entry records them already."""

    hand_over_now: bool = False
    writes: TableWrites = field(default_factory=TableWrites)
    outputs: list[Outgoing] = field(default_factory=list)
    acks: list[Awaitable[None]] = field(default_factory=list)
    then: list[Callable[[], None]] = field(default_factory=list)
    memory: tuple[str, int, int] | None = None
    ahead: bool = False


#: Set while a consumer handles an event (each event is its own task, so its own context).
_EFFECTS: ContextVar[_Effects | None] = ContextVar("egov_effects", default=None)


def _ahead(effects: _Effects) -> dict[str, Any]:
    """What a memory entry records ahead of a handling's effects: its writes and its outputs (bytes in
    base64: the table's values are JSON)."""

    def text(data: bytes | None) -> str | None:
        return base64.b64encode(data).decode("ascii") if data is not None else None

    return {
        "writes": effects.writes.entries(),
        "outputs": [
            [o.topic, text(o.key), text(o.value), [[k, text(v)] for k, v in o.headers]]
            for o in effects.outputs
        ],
    }


def _written_ahead(entry: Any) -> Mapping[str, Any] | None:
    """The effects a memory entry records as not done yet, or None (a done entry)."""
    if isinstance(entry, list) and len(entry) > 3 and isinstance(entry[3], Mapping):
        return entry[3]
    return None


def _outgoing(kept: list[Any]) -> Outgoing:
    def data(text: str | None) -> bytes | None:
        return base64.b64decode(text) if text is not None else None

    topic, key, value, headers = kept
    return Outgoing(topic, data(key), data(value), [(k, data(v) or b"") for k, v in headers])


class Publication(NamedTuple):
    """An event to publish: its topic, body, key and envelope."""

    spec: TopicSpec
    record: Mapping[str, Any]
    key: str
    envelope: Envelope


class Service:
    """One service of the architecture: its engine plus the shared conventions."""

    def __init__(
        self,
        name: str,
        *,
        default_port: int,
        settings: Settings | None = None,
        rejection_code: int | None = None,
        error_names: Mapping[int, str] | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or get_settings()
        self.web_port = self.settings.web_port or default_port
        self.engine: Engine = engine or FaustEngine(name, self.settings, default_port=default_port)
        #: Business time (egov.runtime.clock): what dates events and decides deadlines.
        self.clock = self.engine.clock
        #: The error code a dead letter carries when a message cannot be decoded or breaks its contract.
        self.rejection_code = rejection_code
        #: The names of the service's error codes (the LGSP's catalogue): a dead letter names its code, so
        #: that 500 DATA_INCORRECT reads as the sender's bad data, not as the service's own failure.
        self.error_names: Mapping[int, str] = error_names or {}
        self.source = f"{SOURCE_PREFIX}{name}"
        self.registry: ContractRegistry = get_registry()
        self.validator = get_validator()
        self.log = get_logger(f"egov.{name}")
        #: The topics this service reads and writes, as its wiring declares them (for the architecture
        #: checks and the AsyncAPI document: never a hand-kept list).
        self.consumes: list[TopicSpec] = []
        self.produces: list[TopicSpec] = [dead_letters(name)]
        self.dead_letter_topic = dead_letters(name)
        self._tables: dict[str, MutableMapping[Any, Any]] = {}
        self._processed = self.table(
            "processed-events",
            help="ce_id of every event a handler finished, by handler, for a while: the idempotency memory.",
        )
        #: Partition → (when, memory key) of the events it remembers, oldest first (see `_remember`).
        self._expiry: dict[int, deque[tuple[float, str]]] = {}
        self._key_locks = KeyLocks()
        #: Attempts at an event before an error that may pass is raised instead of retried: None (retry
        #: until it passes) on a worker; the fake runtime of the handler tests sets 1, to see the error.
        self.attempts_limit: int | None = None
        self._routes: dict[str, dict[str, Route]] = {}
        self._access: dict[tuple[str, str], Access] = {}
        self._operations: dict[tuple[str, str], Operation] = {}
        self._verifier: Verifier | None = None
        self.metrics = Metrics(name)
        self.metrics.observe(self.engine.lag, lambda: {n: len(t) for n, t in self._tables.items()})
        self.route("GET", "/health", access=PUBLIC, operation=HEALTH)(self._health)
        self.route("GET", "/metrics", access=PUBLIC, operation=METRICS)(self._metrics)

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

    def table(self, name: str, *, help: str) -> MutableMapping[Any, Any]:
        """A changelog-backed table, partitioned like every topic of the project."""
        table = self.engine.table(name, help=help)
        self._tables[name] = table
        return table

    def full_name(self, spec: TopicSpec) -> str:
        return spec.full_name(self.settings.topic_prefix)

    # -- consuming ----------------------------------------------------------------------------------
    def consume(
        self, spec: TopicSpec, handlers: Handlers, *, name: str, release_key_before_acks: bool = False
    ) -> None:
        """Run the handler for every event on `spec`'s topic, decoded and de-duplicated. With a mapping of
        event type to handler, the events of other types are passed over (they are not this consumer's).

        Otherwise an event's outputs are handed to the producer once its handler has returned and its table
        writes are acknowledged (egov.runtime.writes), and the event is remembered once they are too.

        `release_key_before_acks`: the next event of the same key may start once this one's outputs are
        handed to the producer, not acknowledged (they keep their order: one producer, in partition order);
        they are handed over as they are published, before the table writes are acknowledged. Only for a
        handler that writes its state before it publishes and, handled again, rebuilds the same outputs from
        that state, and whose state only later events of its own key read (the one-stop numbering): a retry
        after a refused acknowledgement then finds its own writes. The event is committed and remembered
        only once its writes and outputs are acknowledged."""
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

        async def each(message: Message) -> None:
            await self._handle_with_retries(
                spec, name, message, handler, takes, release_key_before_acks=release_key_before_acks
            )

        # Events of different keys are handled side by side (each awaits its broker acknowledgements); the
        # key locks keep one event per key at a time, in partition order.
        self.engine.subscribe(
            self.full_name(spec),
            each,
            name=f"{self.name}.{name}",
            concurrency=self.settings.agent_concurrency,
        )

    def consume_raw(
        self, spec: TopicSpec, callback: Callable[[Message], Awaitable[None]], *, name: str
    ) -> None:
        """Every record of `spec`'s topic as it is (bytes and headers, valid or not), in partition order: for
        a service that keeps records rather than acts on events (the audit log). The callback must not
        raise: its record's offset is committed once it returns."""
        if spec not in self.consumes:
            self.consumes.append(spec)
        self.engine.subscribe(self.full_name(spec), callback, name=f"{self.name}.{name}")

    async def _handle_with_retries(
        self,
        spec: TopicSpec,
        name: str,
        message: Message,
        handler: Handler,
        takes: frozenset[str] | None = None,
        *,
        release_key_before_acks: bool = False,
    ) -> None:
        """Handle one event; on an infrastructure error, try the same event again with back-off.

        The agent does not move on meanwhile, so the event's offset is not committed and nothing is lost:
        an exception escaping the agent would make Faust restart it and acknowledge the event anyway.

        One event per key at a time, across all of this service's agents, retries and back-off included: a
        handler reads its key's state, publishes, then writes the state, and an event its output caused (a
        reply on another topic, read by another agent) must not see the state from before. A consumer
        declared with `release_key_before_acks` frees the key once its outputs are handed to the producer
        (see `consume`); the event is still committed and remembered only once they are acknowledged.
        """
        handled_at = self.clock.now()

        async def attempt(effects: _Effects) -> None:
            token = _EFFECTS.set(effects)
            try:
                with effects.writes.holding() if not effects.hand_over_now else effects.writes.recording():
                    await self._handle(spec, name, message, handler, takes, handled_at)
            finally:
                _EFFECTS.reset(token)

        if release_key_before_acks:
            await self._retrying(message, lambda: self._settled_after_release(message, attempt))
            return
        async with self._key_locks.hold(message.key):
            effects = _Effects()

            async def handled() -> None:
                nonlocal effects
                effects = _Effects()  # an attempt that failed published nothing: its outputs go
                try:
                    await attempt(effects)
                except BaseException:
                    # What it wrote is in the tables in memory: it reaches their changelogs too, before
                    # whatever the next attempt writes.
                    effects.writes.release()
                    raise

            await self._retrying(message, handled)
            # The handler is not run again once it returned: its state is written in memory. What is retried
            # now is making its writes and outputs durable, as they were built.
            await self._retrying(message, lambda: self._deliver(effects))

    async def _retrying(self, message: Message, attempt: Callable[[], Awaitable[None]]) -> None:
        delay = retries.RETRY_INITIAL_DELAY
        attempts = 0
        while True:
            attempts += 1
            try:
                await attempt()
                return
            except Exception as exc:
                if not is_retryable(exc) or attempts == self.attempts_limit:
                    raise
                self.log.warning(
                    "event.retrying",
                    error=repr(exc),
                    retry_in_s=delay,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                )
                await asyncio.sleep(delay)  # back-off before the next attempt
                delay = min(delay * 2, retries.RETRY_MAX_DELAY)

    async def _deliver(self, effects: _Effects) -> None:
        """Once the handler has returned: when it wrote to tables, record its writes and outputs in the
        event's memory entry and wait for it; send the writes and wait for them; hand the outputs over and
        wait for them; then mark the entry done. Raises (to be retried) when the broker refused something;
        what was acknowledged before is not sent again, apart from outputs sent together."""
        started = time.perf_counter()
        # None: passed over, or undecodable (a dead letter to send, nothing to remember)
        memory = effects.memory
        if memory is not None and len(effects.writes) and not effects.ahead:
            ahead = TableWrites()
            with ahead.recording():
                self._remember(*memory, ahead=_ahead(effects))
            await ahead.acknowledged()
            effects.ahead = True
        await effects.writes.acknowledged()
        if effects.outputs:
            await self._acknowledged(await self.engine.hand_over(effects.outputs), started)
            effects.outputs = []
        for then in effects.then:
            then()
        effects.then = []
        if memory is not None:
            self._remember(*memory)

    async def _settled_after_release(
        self, message: Message, attempt: Callable[[_Effects], Awaitable[None]]
    ) -> None:
        """Handle under the key's lock, sends handed over but not awaited; then, the key free for the next
        event, await the acknowledgements of its writes and sends, and only then remember the event (and let
        its offset go)."""
        effects = _Effects(hand_over_now=True)
        failure: BaseException | None = None
        try:
            async with self._key_locks.hold(message.key):
                await attempt(effects)
        except BaseException as exc:  # the sends already handed over are still awaited, then it is raised
            failure = exc
        acknowledged = await asyncio.gather(
            effects.writes.acknowledged(), *effects.acks, return_exceptions=True
        )
        if failure is not None:
            raise failure
        for result in acknowledged:
            if isinstance(result, BaseException):
                raise result
        for then in effects.then:
            then()
        if effects.memory is not None:
            self._remember(*effects.memory)

    async def _handle(
        self,
        spec: TopicSpec,
        name: str,
        message: Message,
        handler: Handler,
        takes: frozenset[str] | None = None,
        handled_at: dt.datetime | None = None,
    ) -> None:
        raw_headers = header_items(message.headers)
        try:
            envelope, contract, record = decode(spec, message, raw_headers, self.registry, self.validator)
        except (ContractError, EnvelopeError) as exc:
            await self.dead_letter(message, raw_headers, reason=str(exc), error=exc, code=self.rejection_code)
            self.metrics.event(spec.name, "(undecodable)", DEAD_LETTERED)
            return
        if takes is not None and contract.name not in takes:
            self.metrics.event(spec.name, contract.name, PASSED_OVER)
            return  # an event of the topic this consumer has no use for: nothing to do, nothing to remember
        key = message.key.decode("utf-8", errors="replace") if message.key is not None else None
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
            event_id=envelope.id, event_type=contract.name, key=key, **business_keys(record)
        ):
            # CloudEvents: source and id together identify an event.
            with self.metrics.handling(spec.name, contract.name):
                outcome = await self._handle_once(
                    f"{name}:{envelope.source}:{envelope.id}", message, incoming, handler
                )
            self.metrics.event(spec.name, contract.name, outcome)

    async def _handle_once(
        self, memory_key: str, message: Message, incoming: IncomingEvent, handler: Handler
    ) -> str:
        """Run the handler unless the event was handled before; then remember it (inside a consumer's
        handling: once its effects are durable, Service._deliver). An event whose memory entry records
        effects not done yet (a worker crashed while making them durable) has them redone, without its
        handler. Returns the outcome."""
        origin = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        effects = _EFFECTS.get()
        entry = self._processed.get(memory_key)
        if entry is not None:
            undone = _written_ahead(entry)
            if undone is None or effects is None or effects.hand_over_now:
                self.log.info("event.duplicate_ignored", **origin)
                return DUPLICATE
            self._redo(undone, effects)
            effects.memory, effects.ahead = (memory_key, message.offset, message.partition), True
            self.log.warning("event.effects_redone", writes=len(undone["writes"]), **origin)
            return REDONE
        raw_headers = incoming.raw_headers
        outcome = HANDLED
        try:
            await handler(incoming)
        except RejectedEvent as exc:
            code = exc.code if exc.code is not None else self.rejection_code
            await self.dead_letter(message, raw_headers, reason=str(exc), error=exc, code=code)
            outcome = DEAD_LETTERED
        except Exception as exc:
            if is_retryable(exc):
                raise
            self.log.exception("event.handler_failed", **origin)
            await self.dead_letter(message, raw_headers, reason=f"{type(exc).__name__}: {exc}", error=exc)
            outcome = DEAD_LETTERED
        if effects is None:
            self._remember(memory_key, message.offset, message.partition)
        else:  # once its writes and outputs are acknowledged (Service._deliver, _settled_after_release)
            effects.memory = (memory_key, message.offset, message.partition)
        return outcome

    def _redo(self, undone: Mapping[str, Any], effects: _Effects) -> None:
        """Write again what a handling recorded ahead (the tables may have lost it with its worker), and
        keep its outputs to be handed over again."""
        for table_name, key, after, before in undone["writes"]:
            table = self._tables[table_name]
            now = table[key] if key in table else ABSENT  # noqa: SIM401 - no table default involved
            if same(now, after):
                continue  # it landed
            if not same(now, before):  # a later handling wrote it since: its value stays
                self.log.info("event.redo_write_superseded", table=table_name)
                continue
            if same(after, ABSENT):
                del table[key]
            else:
                table[key] = after
        effects.outputs = [_outgoing(o) for o in undone["outputs"]]

    def _remember(
        self, memory_key: str, offset: int, partition: int, *, ahead: Mapping[str, Any] | None = None
    ) -> None:
        """Remember a handled event for `idempotency_retention` seconds, and forget a few older ones; with
        `ahead`, the writes and outputs its handling is about to make durable (not done yet).

        Inside the event's handling, so the table's changelog records both on the event's partition (where
        a worker recovering that partition finds them). Each entry holds its partition and time, so a worker
        that takes over a partition finds what to forget in the table itself."""
        now = (
            self.clock.real_now().timestamp()
        )  # real time: retention is an operational span, not business time
        if partition not in self._expiry:
            self._expiry[partition] = deque(
                sorted(
                    (value[1], key)
                    for key, value in self._processed.items()
                    if isinstance(value, list) and len(value) >= 3 and value[2] == partition
                )
            )
        expiring = self._expiry[partition]
        horizon = now - self.settings.idempotency_retention
        for _ in range(FORGET_AT_ONCE):
            if not expiring or expiring[0][0] >= horizon:
                break
            _, old = expiring.popleft()
            if self._processed.get(old) is not None:
                del self._processed[old]
        self._processed[memory_key] = [offset, now, partition, *([dict(ahead)] if ahead else [])]
        expiring.append((now, memory_key))

    # -- producing ----------------------------------------------------------------------------------
    async def publish(
        self, spec: TopicSpec, record: Mapping[str, Any], *, key: str, envelope: Envelope
    ) -> None:
        """Encode `record` as `envelope.type`, send it, and wait for the broker's acknowledgement."""
        await self.publish_all([Publication(spec, record, key, envelope)])

    async def publish_all(self, publications: Sequence[Publication]) -> None:
        """Publish several events at once: each is checked and encoded first (nothing is sent when one breaks
        its contract), then all are sent in this order and their acknowledgements awaited together."""
        outgoing = [self._encoded(p) for p in publications]

        def announce() -> None:
            for p in publications:
                self.metrics.published.labels(self.name, p.spec.name, p.envelope.type).inc()
                self.log.info(
                    "event.published",
                    topic=p.spec.name,
                    event_id=p.envelope.id,
                    event_type=p.envelope.type,
                    key=p.key,
                )

        await self._send(outgoing, then=announce)

    def _encoded(self, publication: Publication) -> Outgoing:
        spec, record, key, envelope = publication
        if envelope.type not in spec.events:
            raise ContractError(f"{envelope.type} is not an event type of topic {spec.name}")
        require_rules(self.validator, envelope.type, record)
        require_key(spec, key, record)
        value = self.registry.encode(envelope.type, record)
        headers = envelope.to_headers()
        actor = actor_of(record)
        if actor is not None:
            headers.append((ACTOR_HEADER, actor.encode()))
        return self._stamped(spec, key=key, value=value, headers=headers)

    async def publish_for_request(
        self,
        spec: TopicSpec,
        record: Mapping[str, Any],
        *,
        key: str,
        envelope: Envelope,
        unrecorded: str,
    ) -> None:
        """Publish what an HTTP request asked for, or answer why not: 503 with `unrecorded` (what the client
        should do) while the broker is away, 413 for a record the broker refuses as too large. The request's
        event id is deterministic, so a client that sends it again gets it recorded once."""
        try:
            await self.publish(spec, record, key=key, envelope=envelope)
        except KafkaError as exc:
            self.log.error(
                "request.not_recorded", topic=spec.name, key=key, event_id=envelope.id, error=repr(exc)
            )
            if any(isinstance(e, MessageSizeTooLargeError) for e in (exc, exc.__cause__)):
                raise HttpError.one(413, "(body)", "size", f"is refused by the broker: {exc}") from exc
            raise HttpError.one(503, "(service)", "unavailable", unrecorded) from exc

    async def send_raw(
        self,
        spec: TopicSpec,
        *,
        key: str | bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]],
    ) -> None:
        """Send bytes as they are (forwarding an event unchanged) and wait for the acknowledgement."""
        await self._send([self._stamped(spec, key=key, value=value, headers=headers)])

    async def _send(self, outgoing: Sequence[Outgoing], *, then: Callable[[], None] | None = None) -> None:
        """Send and await the acknowledgements, then call `then`. Inside a consumer's handling the records
        are kept for after the handler (Service._deliver); in one that frees its key first, handed over
        now and their acknowledgements awaited after (Service._settled_after_release)."""
        effects = _EFFECTS.get()
        if effects is not None and not effects.hand_over_now:
            effects.outputs.extend(outgoing)
            if then is not None:
                effects.then.append(then)
            return
        started = time.perf_counter()
        acknowledged = self._acknowledged(await self.engine.hand_over(outgoing), started)
        if effects is not None:
            effects.acks.append(acknowledged)
            if then is not None:
                effects.then.append(then)
            return
        await acknowledged
        if then is not None:
            then()

    async def _acknowledged(self, acks: Awaitable[None], started: float) -> None:
        await acks
        self.metrics.publish_seconds.labels(self.name).observe(time.perf_counter() - started)

    def _stamped(
        self,
        spec: TopicSpec,
        *,
        key: str | bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]],
    ) -> Outgoing:
        if spec not in self.produces:
            raise PermissionError(
                f"{self.name} does not declare {spec.name} among the topics it writes (Service.writes)"
            )
        key_bytes = key.encode() if isinstance(key, str) else key
        # `ce_source` says where an event comes from; `egov_writer` which service put this record on this
        # topic (they differ for a forwarded event). `egov arch observe` checks the writer against the model.
        stamped = [(k, v) for k, v in headers if k != WRITER_HEADER] + [(WRITER_HEADER, self.name.encode())]
        return Outgoing(self.full_name(spec), key_bytes, value, stamped)

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
        message: Message,
        headers: Iterable[tuple[str, bytes]],
        *,
        reason: str,
        error: BaseException | None = None,
        code: int | None = None,
    ) -> None:
        """Put a message on this service's dead-letter topic as a DeadLetter event (egov.runtime.deadletters),
        and go on."""
        letter, dlq_headers = dead_letter_event(
            self.name,
            self.source,
            message,
            dict(headers),
            reason=reason,
            error=error,
            code=code,
            code_name=self.error_names.get(code) if code is not None else None,
        )
        try:
            value = self.registry.encode(letter.type, letter.record)
            await self.send_raw(self.dead_letter_topic, key=message.key, value=value, headers=dlq_headers)
        except KafkaError as exc:
            if is_retryable(exc):
                raise
            # The broker refuses the letter itself (too large): keep the facts, drop the original bytes.
            smaller = without_original_value(letter.record, exc)
            value = self.registry.encode(letter.type, smaller)
            await self.send_raw(self.dead_letter_topic, key=message.key, value=value, headers=dlq_headers)
        self.log.warning(
            "event.dead_lettered",
            reason=reason,
            error_code=code,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the effects of the event being handled (its table writes, its outputs) are
        acknowledged; at once outside a consumer's handling."""
        effects = _EFFECTS.get()
        if effects is None:
            callback()
        else:
            effects.then.append(callback)

    # -- periodic checks and HTTP -------------------------------------------------------------------
    def every(self, seconds: float, check: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run `check` every `seconds` (real time) while the worker runs. It may read tables and publish;
        it cannot change tables (no event is being handled): durable timers (egov.runtime.timers) are for
        that."""
        self.engine.every(seconds, check, name=f"{self.name}.{name}")

    def on_start(self, task: Callable[[], Awaitable[None]]) -> None:
        """Run `task` once when the worker starts."""
        self.engine.on_start(task)

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access,
        operation: Operation | None = None,
        owner: OwnerKey | None = None,
    ) -> Callable[[Route], Route]:
        """Serve `method` on `path` (parameters as `{name}`) with the decorated async function, which takes
        an `HttpRequest` and returns an `HttpResponse` or a JSON body, or raises `HttpError`
        (egov.runtime.http). `access` says who may call it (egov.runtime.auth): the runtime checks the
        bearer token first (401 without a valid one, 403 for a person the route does not serve), and the
        route finds the caller in `request.person`. `operation` says what it takes and answers (its OpenAPI
        operation, egov.runtime.openapi); a body larger than it allows is a 413 before anything else. A route
        that reads a key's state names the key with `owner` (e.g. `by_param("dossier_code")`): the worker
        holding that key's partition answers it, whichever worker receives it (egov.runtime.routing)."""

        def register(route: Route) -> Route:
            methods = self._routes.get(path)
            if methods is None:
                methods = self._routes[path] = {}
                self.engine.route(path, methods, self.answer)  # the engine serves this mapping as it grows
            if owner is not None:
                route = routed(route, owner, self.engine, self.is_ready)
            limit = operation.max_body_bytes if operation else DEFAULT_MAX_BODY_BYTES
            guarded = limit_body(self._guarded(route, access), limit)
            methods[method.upper()] = self._measured(method.upper(), path, guarded)
            self._access[(method.upper(), path)] = access
            if operation is not None:
                self._operations[(method.upper(), path)] = operation
            return route

        return register

    def _measured(self, method: str, path: str, route: Route) -> Route:
        """The route, counted and timed in the service's metrics by its path template and status."""

        async def measured(request: HttpRequest) -> HttpResponse | dict[str, Any]:
            started = time.perf_counter()
            status = 500
            try:
                result = await route(request)
                status = result.status if isinstance(result, HttpResponse) else 200
                return result
            except HttpError as exc:
                status = exc.status
                raise
            finally:
                self.metrics.request(method, path, status, time.perf_counter() - started)

        return measured

    def _guarded(self, route: Route, access: Access) -> Route:
        if access.public:
            return route

        async def guarded(request: HttpRequest) -> HttpResponse | dict[str, Any]:
            if self.settings.auth == "off":
                return await route(request)
            try:
                person = await self.verifier.person(request.header("Authorization"))
            except AuthError as exc:
                raise HttpError.one(exc.status, exc.field, "authentication", exc.message) from exc
            except (ConnectionError, httpx.HTTPError) as exc:
                self.log.error("auth.provider_unreachable", error=repr(exc))
                message = "the identity provider cannot be reached to check the token; try again"
                raise HttpError.one(503, "Authorization", "unavailable", message) from exc
            if not access.allows(person):
                message = f"may not do this: it is for {access.describe()}"
                raise HttpError.one(403, "Authorization", "access", message)
            return await route(replace(request, person=person))

        return guarded

    @property
    def verifier(self) -> Verifier:
        """The bearer-token checks of this service's API (egov.runtime.auth), from its settings."""
        if self._verifier is None:
            issuers: dict[Kind, str] = {}
            if self.settings.oidc_citizen_issuer:
                issuers["citizen"] = self.settings.oidc_citizen_issuer
            if self.settings.oidc_official_issuer:
                issuers["official"] = self.settings.oidc_official_issuer
            self._verifier = TokenVerifier(issuers, self.settings.oidc_audience or self.name)
        return self._verifier

    @verifier.setter
    def verifier(self, verifier: Verifier) -> None:
        self._verifier = verifier

    @property
    def routes(self) -> Mapping[str, Mapping[str, Route]]:
        """Path → method → route (guarded), as the wiring declares them."""
        return self._routes

    @property
    def access(self) -> Mapping[tuple[str, str], Access]:
        """(method, path) → who may call it."""
        return self._access

    def placement(self) -> Placement | None:
        """Which worker of this service holds each partition (egov.runtime.placement)."""
        return self.engine.placement()

    async def gather(
        self,
        request: HttpRequest,
        path: str,
        local: Callable[[HttpRequest, frozenset[int]], Awaitable[Mapping[str, Any]]],
    ) -> list[Part]:
        """Every worker's part of an answer about all keys: this worker's from `local`, the others' from their
        route at `path` (egov.runtime.routing.gather); 503 unless the parts cover every partition once."""
        return await gather(self.engine, request, path, local)

    @property
    def operations(self) -> Mapping[tuple[str, str], Operation]:
        """(method, path) → what the route takes and answers, as the wiring declares it."""
        return self._operations

    async def answer(self, route: Route, request: HttpRequest) -> HttpResponse:
        """How every route of the service answers (egov.runtime.http.answer)."""
        return await answer(route, request, self.log)

    # -- health -------------------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self.engine.is_ready()

    async def _metrics(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(self.metrics.exposition().decode(), media_type=METRICS_MEDIA_TYPE)

    async def _health(self, request: HttpRequest) -> HttpResponse:
        ready = self.is_ready()
        placement = self.placement()
        body = Health(
            service=self.name,
            status="ok" if ready else "starting",
            kafka=self.settings.kafka_bootstrap_servers,
            topic_prefix=self.settings.topic_prefix,
            partitions=sorted(placement.mine) if placement else [],
            workers=len(placement.workers) if placement else 0,
        )
        return HttpResponse(body.model_dump(), status=200 if ready else 503)

    # -- running ------------------------------------------------------------------------------------
    @property
    def principal(self) -> str:
        """The service's broker principal (egov.runtime.credentials)."""
        return service_principal(self.settings.topic_prefix, self.name)

    def topic_names(self) -> list[str]:
        """Every topic the service needs on the broker: what it reads and writes, its tables' changelogs."""
        declared = [self.full_name(spec) for spec in [*self.consumes, *self.produces]]
        return sorted({*declared, *self.engine.changelog_topics()})

    def run(self) -> None:
        """Wait until this service's topics and table changelogs are on the broker (the admin step creates
        them: `egov kafka provision`), then run the worker until SIGTERM or SIGINT."""
        configure_logging(self.name, self.settings.log_level)
        guarded = any(not access.public for access in self._access.values())
        if guarded and self.settings.auth == "oidc" and not self.verifier.trusts_anyone:
            raise RuntimeError(
                f"{self.name}'s API checks bearer tokens but no issuer is configured: set "
                "EGOV_OIDC_CITIZEN_ISSUER and EGOV_OIDC_OFFICIAL_ISSUER (`egov up` and `egov demo` set them "
                "for the local identity provider), or EGOV_AUTH=off for debugging"
            )
        asyncio.run(wait_for_topics(self.settings, self.topic_names(), principal=self.principal))
        self.log.info(
            "service.starting",
            kafka=self.settings.kafka_bootstrap_servers,
            web=f"http://{self.settings.web_host}:{self.web_port}",
        )
        self.engine.run()


class Health(BaseModel):
    """What `/health` says of a service."""

    service: str = Field(description="The service's name.")
    status: Literal["ok", "starting"] = Field(
        description="`ok` once it consumes (its partitions assigned, its tables recovered), else `starting`."
    )
    kafka: str = Field(description="The broker it talks to (bootstrap servers).")
    topic_prefix: str = Field(description="The prefix of its topics (isolates tenants and test runs).")
    partitions: list[int] = Field(
        description="The partitions of the service's topics this worker holds (the keys of the others are "
        "answered by the workers holding them)."
    )
    workers: int = Field(
        description="How many workers share the service's partitions now (0 before the first assignment)."
    )


METRICS = Operation(
    summary="The service's metrics, for Prometheus",
    description="Public, on every service, in the Prometheus text format: events handled and dead-lettered "
    "per topic and type, handler and publish latencies, consumer lag per partition, table sizes, HTTP "
    "requests. No personal data.",
    replies={
        200: Reply(
            "The metrics.",
            example='egov_events_total{outcome="handled",service="lgsp",topic="egov.onestop.lgsp-requests.v1",'
            'type="vn.egov.dossier.IdentityVerificationRequested"} 42.0\n',
            media_type=METRICS_MEDIA_TYPE,
        )
    },
)
_HEALTH_EXAMPLE = {"service": "portal", "status": "ok", "kafka": "127.0.0.1:9092", "topic_prefix": ""}
HEALTH = Operation(
    summary="Whether the service is up and consuming",
    description="Public, on every service: what `egov status`, the Docker health checks and the tests "
    "wait on.",
    replies={
        200: Reply("The service consumes its topics.", Health, _HEALTH_EXAMPLE),
        503: Reply(
            "The service runs but is not ready yet (joining its group, recovering its tables).",
            Health,
            {**_HEALTH_EXAMPLE, "status": "starting"},
        ),
    },
)


__all__ = [
    "Handler",
    "Handlers",
    "IncomingEvent",
    "Publication",
    "RejectedEvent",
    "Service",
    "is_retryable",
]
