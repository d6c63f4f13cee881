"""What a `Service` runs on: the broker client, the changelog-backed tables, the periodic checks, the web
server and the business clock. `FaustEngine` is the real one (faust-streaming on a Kafka broker);
`egov.runtime.testing.FakeEngine` keeps tables in dicts and records what is sent, for handler tests.

A service's wiring never touches the engine's framework: it asks its `Service` for topics, tables, timers and
routes, and the service asks the engine.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import faust
import httpx
from aiohttp.web_exceptions import HTTPRequestEntityTooLarge
from faust.web import Request, Response, View

from egov.contracts.envelope import APP_ID_PREFIX
from egov.runtime.clock import Clock
from egov.runtime.credentials import MECHANISM, service_principal
from egov.runtime.events import Message
from egov.runtime.http import JSON, HttpError, HttpRequest, HttpResponse, Route, error_response
from egov.runtime.kafkaclients import DurableTable, ServiceApp
from egov.runtime.placement import Placement
from egov.runtime.routing import FORWARD_TIMEOUT
from egov.runtime.settings import Settings

#: Called with each record of a subscribed topic, in partition order; the record's offset is committed only
#: once the callback returns.
RecordCallback = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Outgoing:
    """A record to send, as bytes."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


#: Runs a route and answers (the service's `answer`: the same error body everywhere).
Responder = Callable[[Route, HttpRequest], Awaitable[HttpResponse]]


class Engine(Protocol):
    """The adapters a `Service` needs."""

    clock: Clock

    def table(self, name: str, *, help: str) -> MutableMapping[Any, Any]: ...

    def subscribe(self, topic: str, callback: RecordCallback, *, name: str, concurrency: int = 1) -> None:
        """Call `callback` with each record of `topic`; with `concurrency` > 1, with up to that many records
        at once (taken in partition order; the engine commits an offset only once every record before it
        is done)."""

    async def hand_over(self, records: Sequence[Outgoing]) -> Awaitable[None]:
        """Hand the records to the producer, in this order (per partition), and return what settles once the
        broker acknowledged every one of them (and raises when it refused or did not answer one)."""
        ...

    def every(self, seconds: float, check: Callable[[], Awaitable[None]], *, name: str) -> None: ...

    def on_start(self, task: Callable[[], Awaitable[None]]) -> None: ...

    def route(self, path: str, methods: Mapping[str, Route], responder: Responder) -> None: ...

    def is_ready(self) -> bool: ...

    def lag(self) -> Mapping[tuple[str, int], int]:
        """Records not read yet, per (topic, partition) assigned to this worker."""

    def changelog_topics(self) -> list[str]: ...

    @property
    def web_url(self) -> str: ...

    def placement(self) -> Placement | None:
        """Which worker of the service holds each partition now; None before the first assignment."""
        ...

    async def forward(self, url: str, request: HttpRequest) -> HttpResponse:
        """The answer of the worker at `url` to `request` (503 when it does not answer)."""
        ...

    def run(self) -> None: ...


def group_timings(session_timeout: float) -> dict[str, Any]:
    """How fast a service's consumer group notices a worker gone and hands its partitions on: the one place
    these are set (docs/adr/0016, "Faults").

    - The **session time-out** (EGOV_KAFKA_SESSION_TIMEOUT, 10 s) is how long the group coordinator waits
      for a silent worker before giving its partitions to the others: the stall of a service whose worker
      died and does not come back. A worker restarted at once comes back under its static membership
      (EGOV_KAFKA_GROUP_INSTANCE_ID) and takes its partitions back without waiting for it.
    - A **heartbeat** every tenth of it (at least 1 s), well under Kafka's rule of a third: a worker under
      load misses a few and is not thrown out.
    - The **rebalance time-out**, Faust's 60 s by default, is how long the coordinator waits for the live
      workers to rejoin once a rebalance starts; a worker finishing its events in flight (at most
      EGOV_AGENT_CONCURRENCY of them, each send bounded by the producer's 30 s) rejoins well within twice
      the session time-out, and a worker stuck longer is left out instead of stalling the whole group.
    - The client's request time-out (Faust's 90 s) stays above the session time-out, as the client requires.
    """
    return {
        "broker_session_timeout": session_timeout,
        "broker_heartbeat_interval": max(1.0, session_timeout / 10),
        "broker_rebalance_timeout": max(20.0, 2 * session_timeout),
    }


def static_member(instance_id: str | None, web_url: str) -> str | None:
    """The worker's static membership id: the one given, with the URL it serves on. A worker restarted on
    the same URL takes its partitions back at once; one on another URL joins as a new member, for the group
    keeps a static member's metadata (its URL, which Faust's assignor insists on) from its last join."""
    if instance_id is None:
        return None
    return f"{instance_id}.{re.sub(r'[^A-Za-z0-9._-]', '_', web_url)}"


class FaustEngine:
    """faust-streaming on the broker of the settings: one Faust app per service process."""

    def __init__(self, service: str, settings: Settings, *, default_port: int) -> None:
        self.settings = settings
        self.clock = settings.clock
        prefix = settings.topic_prefix
        #: The service's broker principal, named like its app id (egov.runtime.credentials).
        self.principal = service_principal(prefix, service)
        web_port = settings.web_port or default_port
        self._web_url = settings.web_url or advertised_url(settings.web_host, web_port)
        self.app = ServiceApp(
            f"{prefix}{APP_ID_PREFIX}{service}",
            broker=[f"kafka://{server}" for server in settings.bootstrap_list],
            store="memory://",
            autodiscover=False,
            web_enabled=True,
            web_bind=settings.web_host,
            web_host=settings.web_host,
            web_port=web_port,
            # Where the other workers of the service send the requests for this worker's keys (it travels
            # with the group's assignment: egov.runtime.placement).
            canonical_url=self._web_url,
            topic_partitions=settings.partitions,
            topic_replication_factor=settings.replicas,
            # No standby copies of other workers' partitions: the in-memory store recovers a partition it is
            # given from the changelog's start anyway, and a standby's keys would show in the worker's own
            # answers (docs/adr/0016).
            table_standby_replicas=0,
            consumer_group_instance_id=static_member(settings.kafka_group_instance_id, self._web_url),
            producer_acks=-1,
            # Fail a send after 30 s rather than Faust's 20 minutes: a citizen waiting on a POST, or an
            # agent retrying with back-off, learns of a broker outage in time.
            producer_request_timeout=30.0,
            **group_timings(settings.kafka_session_timeout),
            consumer_auto_offset_reset="earliest",
            datadir=str(settings.state_dir / "faust" / f"{prefix}{service}"),
            # Topics, table changelogs included, are created by the admin step, never by a service: under the
            # broker's ACLs a service may not create topics (and Faust asks even for existing ones).
            topic_allow_declare=False,
            # No leader election: no service runs leader-only work, and the leader topic would be one more
            # topic to create and authorise.
            topic_disable_leader=True,
        )
        self._topics: dict[str, faust.TopicT] = {}
        #: The client that hands requests to the other workers (made on the worker's event loop).
        self._http: httpx.AsyncClient | None = None

    @property
    def web_url(self) -> str:
        return self._web_url

    def placement(self) -> Placement | None:
        """The partitions' workers, from the assignment the group's leader handed out with every worker's URL
        (Faust's partition assignor); a partition the tables disagree on is left out (being moved)."""
        distribution: Any = self.app.assignor.tables_metadata()  # url → changelog topic → partitions
        owners: dict[int, str] = {}
        disputed: set[int] = set()
        for url, topics in distribution.items():
            for partitions in topics.values():
                for partition in partitions:
                    if owners.setdefault(partition, str(url)) != str(url):
                        disputed.add(partition)
        if not owners:
            return None
        count = max(max(owners) + 1, len(owners))
        me = str(self.app.conf.canonical_url)
        return Placement(me, count, {p: u for p, u in owners.items() if p not in disputed})

    async def forward(self, url: str, request: HttpRequest) -> HttpResponse:
        """Hand `request` to the worker at `url` as it came, and return its answer (egov.runtime.routing)."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=FORWARD_TIMEOUT)
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        try:
            answer = await self._http.request(
                request.method,
                url + request.path,
                params=list(request.query),
                headers=headers,
                content=request.body,
            )
        except httpx.HTTPError as exc:
            message = f"the worker at {url}, which holds this key, does not answer ({type(exc).__name__})"
            return error_response(HttpError.one(503, "(service)", "unavailable", message))
        media_type = answer.headers.get("content-type", "").split(";")[0].strip()
        if media_type and media_type != JSON:  # an HTML page, metrics: handed on as they came
            return HttpResponse(answer.text, status=answer.status_code, media_type=media_type)
        try:
            body = answer.json()
        except ValueError:
            message = f"the worker at {url} answered {answer.status_code} without a JSON body"
            return error_response(HttpError.one(503, "(service)", "unavailable", message))
        return HttpResponse(body, status=answer.status_code)

    def _topic(self, name: str) -> faust.TopicT:
        """The Faust topic of that name (raw bytes: the runtime does the Avro serde)."""
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=self.settings.partitions,
            )
        return self._topics[name]

    def table(self, name: str, *, help: str) -> MutableMapping[Any, Any]:
        table = DurableTable(
            self.app,
            name=name,
            default=None,
            partitions=self.settings.partitions,
            help=help,
            beacon=self.app.tables.beacon,
        )
        self.app.tables.add(table)
        return table

    def subscribe(self, topic: str, callback: RecordCallback, *, name: str, concurrency: int = 1) -> None:
        async def agent(stream: faust.StreamT) -> None:
            consumer: Any = self.app.consumer
            async for event in stream.events():
                if not consumer.passes_over(event.message):  # after a skipped record: it comes first
                    await callback(event.message)

        self.app.agent(self._topic(topic), name=name, concurrency=concurrency)(agent)

    async def hand_over(self, records: Sequence[Outgoing]) -> Awaitable[None]:
        # Every record is handed to the producer first (in order: it batches them), then the
        # acknowledgements are awaited together: one round trip for all of an event's outputs.
        pending = [
            await self._topic(r.topic).send(key=r.key, value=r.value, headers=r.headers) for r in records
        ]
        acknowledged = asyncio.gather(*pending)

        async def settled() -> None:
            await acknowledged

        return settled()

    def every(self, seconds: float, check: Callable[[], Awaitable[None]], *, name: str) -> None:
        self.app.timer(seconds, name=name)(check)

    def on_start(self, task: Callable[[], Awaitable[None]]) -> None:
        self.app.task(task)

    def route(self, path: str, methods: Mapping[str, Route], responder: Responder) -> None:
        self.app.page(path)(_view(path, methods, responder))

    def is_ready(self) -> bool:
        app = self.app
        recovery: Any = getattr(app.tables, "recovery")  # noqa: B009 - not in faust's TableManagerT interface
        return bool(not app.rebalancing and not app.in_recovery and recovery.completed.is_set())

    def changelog_topics(self) -> list[str]:
        return [table.changelog_topic.get_topic_name() for table in self.app.tables.values()]

    def lag(self) -> Mapping[tuple[str, int], int]:
        consumer: Any = self.app.consumer
        behind: dict[tuple[str, int], int] = {}
        try:
            assigned = list(consumer.assignment())
        except Exception:  # not started, or between assignments: nothing to say
            return behind
        for tp in assigned:
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # no fetch answered for it yet
                continue
            if highwater is None:
                continue
            read = consumer._read_offset.get(tp)  # the last offset read (Faust's bookkeeping)
            behind[(tp.topic, tp.partition)] = max(highwater - (read + 1 if read is not None else 0), 0)
        return behind

    def run(self) -> None:
        """Run the worker until SIGTERM or SIGINT, connected as the service's principal."""
        credentials = self.settings.kafka_credentials(self.principal)
        if credentials is not None:
            self.app.conf.broker_credentials = faust.SASLCredentials(
                username=credentials.principal, password=credentials.password, mechanism=MECHANISM
            )
        Path(self.app.conf.datadir).mkdir(parents=True, exist_ok=True)
        # The worker's own console output (banner, spinner, terminal codes) is not JSON: discard it; what
        # matters reaches the JSON log through the logging handlers the service configured.
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


#: Headers that belong to one connection, not to the request handed on.
_HOP_BY_HOP = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive"})


def advertised_url(host: str, port: int) -> str:
    """The URL of a server bound to `host`: the host's own address when it listens on every interface."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostbyname(socket.gethostname())
    return f"http://{host}:{port}"


def _view(path: str, methods: Mapping[str, Route], responder: Responder) -> type[View]:
    """A Faust web view serving one path: each request goes to the route registered for its method in
    `methods` (looked up when the request comes, so a method added after the first is served too)."""

    async def dispatch(view: View, request: Request, params: Mapping[str, Any]) -> Response:
        native: Any = request  # aiohttp's request under Faust's interface
        try:
            body = await native.read()
        except HTTPRequestEntityTooLarge as exc:
            # aiohttp's own limit (1 MiB), above every route's: the same error body as a route's 413
            too_large = HttpError.one(413, "(body)", "size", f"is larger than the server takes: {exc.text}")
            return view.json(error_response(too_large).body, status=413)
        incoming = HttpRequest(
            method=str(native.method).upper(),
            path=str(native.path),
            params={k: str(v) for k, v in params.items()},
            query=tuple((str(k), str(v)) for k, v in native.query.items()),
            headers={str(k).lower(): str(v) for k, v in native.headers.items()},
            body=body,
        )
        route = methods.get(incoming.method)
        if route is None:
            answer = error_response(
                HttpError.one(405, "(method)", "method", f"{incoming.method} is not served on {path}")
            )
        else:
            answer = await responder(route, incoming)
        if answer.media_type != JSON:
            # The media type as the header itself: aiohttp refuses a charset parameter in `content_type`,
            # and Prometheus' exposition type carries one. The body is UTF-8 and says so.
            media_type = answer.media_type
            if "charset=" not in media_type:
                media_type += "; charset=utf-8"
            return view.bytes(
                answer.body.encode(), status=answer.status, headers={"Content-Type": media_type}
            )
        return view.json(answer.body, status=answer.status)

    async def handle(view: View, request: Request, **params: Any) -> Response:
        return await dispatch(view, request, params)

    attributes = {method: handle for method in ("get", "post", "put", "patch", "delete")}
    return type(f"View{_safe_name(path)}", (View,), attributes)


def _safe_name(path: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in path)
