"""A fake runtime for handler tests: a service's own wiring (`build(settings, engine=...)`) on an engine whose
tables are dicts, whose sends are recorded, whose clock is given, and whose HTTP routes are called directly.

Between the domain unit tests and the tests on a real broker, this runs a service's handlers exactly as its
worker would (decoding, contract rules, keys, idempotency, dead letters, timers), in milliseconds:

    runtime = FakeRuntime(build, settings, now=NOON)
    runtime.deliver(Topics.DOSSIERS, received, key=code)            # Given / When
    assert runtime.on(Topics.NOTIFICATIONS)[0].record["template"]    # Then

Nothing here talks to a broker. What a service sends to a topic it reads itself comes back only when the
test says so (`pump`), so each step of a flow can be looked at.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json as jsonlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from egov.contracts.envelope import Envelope, decode_headers
from egov.contracts.serde import get_registry
from egov.contracts.topics import TopicSpec
from egov.runtime.auth import AuthError, Person
from egov.runtime.clock import Clock
from egov.runtime.engine import Outgoing, RecordCallback, Responder
from egov.runtime.http import HttpRequest, HttpResponse, Route, match
from egov.runtime.placement import Placement
from egov.runtime.service import Service
from egov.runtime.settings import DEFAULT_PARTITIONS, Settings

#: The URL of the fake runtime's one worker.
FAKE_URL = "http://fake-worker"


class FakeClock:
    """Business time that stands still until a test moves it."""

    def __init__(self, now: dt.datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("the fake clock's time must be timezone-aware")
        self.now = now
        self.clock = Clock(real_now=lambda: self.now)

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass(frozen=True)
class FakeMessage:
    """A record as the engine hands it to a subscriber."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: float | None = None


#: A record the service sent, as the broker would have received it: the engine's own outgoing record.
Sent = Outgoing


class FakeVerifier:
    """Bearer tokens of the fake runtime: a test signs a person in (`FakeRuntime.bearer`) and gets a token
    that stands for them; any other token is refused as a real check would refuse it (401)."""

    def __init__(self) -> None:
        self.people: dict[str, Person] = {}

    @property
    def trusts_anyone(self) -> bool:
        return True

    def issue(self, person: Person) -> str:
        token = f"fake-token-{len(self.people) + 1}"
        self.people[token] = person
        return token

    async def person(self, authorization: str | None) -> Person:
        if not authorization:
            raise AuthError(401, "is missing: sign in and send `Authorization: Bearer <access token>`")
        _, _, token = authorization.partition(" ")
        found = self.people.get(token.strip())
        if found is None:
            raise AuthError(401, "does not hold: the fake runtime issued no such token")
        return found


class FakeEngine:
    """The engine of the fake runtime (egov.runtime.engine.Engine)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.tables: dict[str, dict[Any, Any]] = {}
        self.sent: list[Sent] = []
        self.subscribers: dict[str, list[RecordCallback]] = {}
        self.checks: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self.start_tasks: list[Callable[[], Awaitable[None]]] = []
        self.routes: dict[str, tuple[Mapping[str, Route], Responder]] = {}
        self.ready = True
        #: When set, every send raises it (a broker outage, a refused record).
        self.send_error: BaseException | None = None
        #: Which worker holds each partition: this one alone, unless a test says otherwise.
        self.assignment: Placement | None = Placement.alone(FAKE_URL, DEFAULT_PARTITIONS)
        #: Requests handed to other workers, and the answer they get.
        self.forwarded: list[tuple[str, HttpRequest]] = []
        self.forwarded_answer = HttpResponse({"from": "another worker"})

    def table(self, name: str, *, help: str) -> MutableMapping[Any, Any]:
        return self.tables.setdefault(name, {})

    def subscribe(self, topic: str, callback: RecordCallback, *, name: str, concurrency: int = 1) -> None:
        self.subscribers.setdefault(topic, []).append(callback)

    async def hand_over(self, records: Sequence[Outgoing]) -> Awaitable[None]:
        if self.send_error is not None:
            raise self.send_error
        self.sent.extend(Sent(r.topic, r.key, r.value, list(r.headers)) for r in records)
        settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        settled.set_result(None)
        return settled

    def every(self, seconds: float, check: Callable[[], Awaitable[None]], *, name: str) -> None:
        self.checks.append((name, check))

    def on_start(self, task: Callable[[], Awaitable[None]]) -> None:
        self.start_tasks.append(task)

    def route(self, path: str, methods: Mapping[str, Route], responder: Responder) -> None:
        self.routes[path] = (methods, responder)

    def is_ready(self) -> bool:
        return self.ready

    def lag(self) -> Mapping[tuple[str, int], int]:
        return {}

    def changelog_topics(self) -> list[str]:
        return [f"{name}-changelog" for name in self.tables]

    @property
    def web_url(self) -> str:
        return FAKE_URL

    def placement(self) -> Placement | None:
        """One worker holding every partition, unless a test gives another placement (`assignment`)."""
        return self.assignment

    async def forward(self, url: str, request: HttpRequest) -> HttpResponse:
        """Record a request handed to another worker; its answer is `forwarded_answer` (a test sets it)."""
        self.forwarded.append((url, request))
        return self.forwarded_answer

    def run(self) -> None:
        raise RuntimeError("the fake engine runs no worker: call the runtime's deliver, pump and request")


@dataclass(frozen=True)
class Published:
    """A sent record decoded: what a test asserts on."""

    topic: str
    key: str | None
    type: str
    record: dict[str, Any]
    envelope: Envelope
    headers: dict[str, str] = field(default_factory=dict)


class FakeRuntime:
    """A service built by its wiring function on the fake engine, driven synchronously by a test."""

    def __init__(
        self,
        build: Callable[..., Service],
        settings: Settings,
        *,
        now: dt.datetime,
    ) -> None:
        self.settings = settings
        self.time = FakeClock(now)
        self.engine = FakeEngine(self.time.clock)
        self.registry = get_registry()
        self._loop = asyncio.new_event_loop()
        self._offsets = itertools.count()
        self._pumped = 0
        self.service = build(settings, engine=self.engine)
        self.service.attempts_limit = 1  # an error that a worker would retry reaches the test instead
        self.verifier = FakeVerifier()
        self.service.verifier = self.verifier
        for task in self.engine.start_tasks:  # what the worker does once it starts
            self.run(task())

    def close(self) -> None:
        self._loop.close()

    def run(self, awaitable: Awaitable[Any]) -> Any:
        """Run a coroutine on the runtime's event loop (the one every handler of the service runs on)."""
        return self._loop.run_until_complete(awaitable)

    # -- Given / When -------------------------------------------------------------------------------
    def envelope(
        self,
        event_type: str,
        *,
        source: str = "/egov/test",
        subject: str | None = None,
        id: str | None = None,
    ) -> Envelope:
        return Envelope.new(source=source, type=event_type, subject=subject, time=self.time.now, id=id)

    def deliver(
        self,
        spec: TopicSpec,
        record: Mapping[str, Any],
        *,
        key: str | None,
        event_type: str | None = None,
        envelope: Envelope | None = None,
        source: str = "/egov/test",
        extra_headers: Iterable[tuple[str, bytes]] = (),
        offset: int | None = None,
    ) -> list[Published]:
        """A valid event on `spec`'s topic reaches the service (encoded as a real producer would); returns
        what the service published while handling it. `offset` repeats a record's offset (a redelivery)."""
        chosen = event_type or (envelope.type if envelope else None)
        if chosen is None:
            if len(spec.events) != 1:
                raise ValueError(f"{spec.name} carries {', '.join(spec.events)}: say which (event_type=)")
            chosen = spec.events[0]
        envelope = envelope or self.envelope(chosen, source=source, subject=key)
        value = self.registry.encode(chosen, record)
        headers = [*envelope.to_headers(), *extra_headers]
        return self.deliver_bytes(spec, key=key, value=value, headers=headers, offset=offset)

    def deliver_bytes(
        self,
        spec: TopicSpec,
        *,
        key: str | bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]] = (),
        offset: int | None = None,
    ) -> list[Published]:
        """Any record (valid or not) on `spec`'s topic reaches the service; returns what it published."""
        return self.run(self._deliver(self.service.full_name(spec), key, value, list(headers), offset))

    async def _deliver(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        offset: int | None = None,
    ) -> list[Published]:
        before = len(self.engine.sent)
        callbacks = self.engine.subscribers.get(topic)
        if not callbacks:
            raise LookupError(f"{self.service.name} does not read {topic}")
        message = FakeMessage(
            topic=topic,
            partition=0,
            offset=next(self._offsets) if offset is None else offset,
            key=key.encode() if isinstance(key, str) else key,
            value=value,
            headers=headers,
            timestamp=self.time.now.timestamp(),
        )
        for callback in callbacks:
            await callback(message)
        return [self._decoded(sent) for sent in self.engine.sent[before:]]

    def pump(self, limit: int = 100) -> list[Published]:
        """Deliver to the service what it sent to topics it reads itself (its internal steps), in order,
        until there is nothing more; returns what it published meanwhile."""
        published: list[Published] = []
        for _ in range(limit):
            pending = [s for s in self.engine.sent[self._pumped :]]
            self._pumped = len(self.engine.sent)
            own = [s for s in pending if s.topic in self.engine.subscribers]
            if not own:
                return published
            for sent in own:
                published += self.run(self._deliver(sent.topic, sent.key, sent.value, sent.headers))
        raise RuntimeError(f"{self.service.name} kept sending to itself after {limit} rounds")

    def run_checks(self) -> list[Published]:
        """Run every periodic check once (durable timers that came due fire); returns what was published."""
        before = len(self.engine.sent)
        for _, check in self.engine.checks:
            self.run(check())
        return [self._decoded(sent) for sent in self.engine.sent[before:]]

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Iterable[tuple[str, str]] = (),
    ) -> HttpResponse:
        """An HTTP request to the service's routes, answered as its web server would."""
        for template, (methods, responder) in self.engine.routes.items():
            params = match(template, path)
            if params is None:
                continue
            route = methods.get(method.upper())
            if route is None:
                return HttpResponse({"errors": [{"field": "(method)"}]}, status=405)
            payload = body if body is not None else b"" if json is None else jsonlib.dumps(json).encode()
            incoming = HttpRequest(
                method=method.upper(),
                path=path,
                params=params,
                query=tuple(query),
                headers={k.lower(): v for k, v in (headers or {}).items()},
                body=payload,
            )
            answer: HttpResponse = self.run(responder(route, incoming))
            return answer
        return HttpResponse({"errors": [{"field": "(path)"}]}, status=404)

    def bearer(self, person: Person) -> dict[str, str]:
        """The Authorization header of a request made by `person`, signed in."""
        return {"Authorization": f"Bearer {self.verifier.issue(person)}"}

    # -- Then ----------------------------------------------------------------------------------------
    @property
    def published(self) -> list[Published]:
        return [self._decoded(sent) for sent in self.engine.sent]

    def on(self, spec: TopicSpec) -> list[Published]:
        """What the service published on `spec`'s topic, in order."""
        name = self.service.full_name(spec)
        return [self._decoded(sent) for sent in self.engine.sent if sent.topic == name]

    @property
    def dead_letters(self) -> list[Published]:
        return self.on(self.service.dead_letter_topic)

    def table(self, name: str) -> dict[Any, Any]:
        return self.engine.tables[name]

    def _decoded(self, sent: Sent) -> Published:
        contract, record = self.registry.decode(sent.value)
        headers = decode_headers(sent.headers)
        return Published(
            topic=sent.topic.removeprefix(self.settings.topic_prefix),
            key=sent.key.decode("utf-8", errors="replace") if sent.key is not None else None,
            type=contract.name,
            record=record,
            envelope=Envelope.from_headers(sent.headers),
            headers=headers,
        )
