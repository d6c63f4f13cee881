"""What a service measures, as Prometheus metrics (the maintained `prometheus-client` library), served at
`GET /metrics` on every service.

Counted as they happen: events handled per topic, type and outcome (handled, duplicate, dead-lettered,
passed over), the time a handler takes, events published and the time the broker takes to acknowledge
them, HTTP requests per route and status. Read when scraped: the consumer lag per partition and the number
of entries in each table. No label carries personal data: topics, event types, routes and statuses only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: Seconds, from a millisecond (a hop inside one process) to a minute (a broker outage waited out).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: What `/metrics` answers with: the Prometheus text exposition format.
MEDIA_TYPE = CONTENT_TYPE_LATEST

#: Outcomes of an event at a consumer.
HANDLED, DUPLICATE, DEAD_LETTERED, PASSED_OVER = "handled", "duplicate", "dead_lettered", "passed_over"
#: An event delivered again whose effects a crash left half done: redone from its memory entry.
REDONE = "redone"


class _Scraped(Collector):
    """Gauges computed when scraped: consumer lag and table sizes."""

    def __init__(
        self,
        service: str,
        lag: Callable[[], Mapping[tuple[str, int], int]],
        tables: Callable[[], Mapping[str, int]],
    ) -> None:
        self.service = service
        self.lag = lag
        self.tables = tables

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "egov_consumer_lag",
            "Records on the broker the service has not read yet, per topic partition assigned to it.",
            labels=["service", "topic", "partition"],
        )
        for (topic, partition), behind in sorted(self.lag().items()):
            lag.add_metric([self.service, topic, str(partition)], behind)
        yield lag
        sizes = GaugeMetricFamily(
            "egov_table_entries",
            "Entries of each of the service's tables held by this worker.",
            labels=["service", "table"],
        )
        for table, size in sorted(self.tables().items()):
            sizes.add_metric([self.service, table], size)
        yield sizes


class Metrics:
    """One service's metrics, in a registry of its own (no process-wide state: the handler tests build many
    services in one process)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        labels = ["service", "topic", "type"]
        self.events = Counter(
            "egov_events",
            "Events a consumer took, by outcome: handled, duplicate (handled before), dead_lettered, "
            "passed_over (a type of the topic it has no use for), redone (its effects redone after a crash).",
            [*labels, "outcome"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "egov_handler_seconds",
            "Seconds from decoding an event to its handler's return (the acknowledgements of its writes and "
            "outputs, awaited after, are in egov_publish_seconds).",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.published = Counter(
            "egov_events_published",
            "Events published, acknowledged by the broker.",
            labels,
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "egov_publish_seconds",
            "Seconds until the broker acknowledged an event's outputs (after its table writes), or one "
            "publish outside a handling.",
            ["service"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.http = Counter(
            "egov_http_requests",
            "HTTP requests answered, by route and status.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "egov_http_seconds",
            "Seconds to answer an HTTP request, by route.",
            ["service", "method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(
        self,
        lag: Callable[[], Mapping[tuple[str, int], int]],
        tables: Callable[[], Mapping[str, int]],
    ) -> None:
        """Gauges read from the engine when scraped."""
        self.registry.register(_Scraped(self.service, lag, tables))

    def event(self, topic: str, event_type: str, outcome: str) -> None:
        self.events.labels(self.service, topic, event_type, outcome).inc()

    @contextmanager
    def handling(self, topic: str, event_type: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.handler_seconds.labels(self.service, topic, event_type).observe(
                time.perf_counter() - started
            )

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http.labels(self.service, method, route, str(status)).inc()
        self.http_seconds.labels(self.service, method, route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
