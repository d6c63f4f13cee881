"""Every service's /metrics on the fake runtime: what it counts as events come, in the Prometheus format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from egov.contracts.topics import EventTypes, Topics
from services.lgsp.app import build
from tests.handlers.test_lgsp_handlers import CODE, ask_identity


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_events_by_outcome_and_time_handlers_and_publishes(start) -> None:  # type: ignore[no-untyped-def]
    # Given the LGSP that handled an identity check and a message it cannot decode
    lgsp = start(build)
    ask_identity(lgsp)
    lgsp.deliver_bytes(Topics.ONESTOP_TO_LGSP, key=CODE, value=b"\x00not avro")
    # When Prometheus scrapes it (no token: the metrics are public and hold no personal data)
    answer = lgsp.request("GET", "/metrics")
    assert answer.status == 200
    found = samples(answer.body)
    topic, asked = Topics.ONESTOP_TO_LGSP.name, EventTypes.IDENTITY_VERIFICATION_REQUESTED
    base = (("service", "lgsp"), ("topic", topic))

    def events(event_type: str, outcome: str) -> float:
        key = tuple(sorted((*base, ("type", event_type), ("outcome", outcome))))
        return found.get(("egov_events_total", key), 0.0)

    # Then each event is counted once with its outcome, the handler's time observed, the output counted
    assert events(asked, "handled") == 1
    assert events("(undecodable)", "dead_lettered") == 1
    handled = tuple(sorted((*base, ("type", asked))))
    assert found[("egov_handler_seconds_count", handled)] == 1
    published = (("service", "lgsp"), ("topic", Topics.POPULATION_REQUESTS.name))
    lookup = tuple(sorted((*published, ("type", EventTypes.POPULATION_LOOKUP_REQUESTED))))
    assert found[("egov_events_published_total", lookup)] == 1
    assert found[("egov_publish_seconds_count", (("service", "lgsp"),))] >= 2  # the lookup, the dead letter
    # and the tables' sizes, read when scraped
    tables = {dict(k[1])["table"]: v for k, v in found.items() if k[0] == "egov_table_entries"}
    assert tables["timers"] == 1 and tables["processed-events"] == 1
    # and the HTTP requests by route template and status
    request = (("method", "GET"), ("route", "/metrics"), ("service", "lgsp"), ("status", "200"))
    assert ("egov_http_requests_total", request) not in found  # counted once answered
    again = samples(lgsp.request("GET", "/metrics").body)
    assert again[("egov_http_requests_total", request)] == 1


def test_the_idempotency_memory_forgets_events_past_its_retention(start, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Given the population stand-in remembering what it handled for an hour
    from services.population.app import build as build_population
    from tests.handlers.conftest import example

    clock = [1_000_000.0]
    monkeypatch.setattr("egov.runtime.service.time.time", lambda: clock[0])
    population = start(build_population, idempotency_retention=3600.0)

    def lookup(correlation: str) -> list[object]:
        body = example(EventTypes.POPULATION_LOOKUP_REQUESTED, correlation_id=correlation)
        envelope = population.envelope(
            EventTypes.POPULATION_LOOKUP_REQUESTED, subject=CODE, source="/egov/lgsp"
        )
        return population.deliver(Topics.POPULATION_REQUESTS, body, key=CODE, envelope=envelope)

    first = population.envelope(EventTypes.POPULATION_LOOKUP_REQUESTED, subject=CODE, source="/egov/lgsp")
    body = example(EventTypes.POPULATION_LOOKUP_REQUESTED, correlation_id="c-1")
    assert len(population.deliver(Topics.POPULATION_REQUESTS, body, key=CODE, envelope=first)) == 1
    # a redelivery within the hour changes nothing
    assert population.deliver(Topics.POPULATION_REQUESTS, body, key=CODE, envelope=first) == []
    memory = population.table("processed-events")
    assert len(memory) == 1
    # When two hours have passed and other events come
    clock[0] += 7200
    for i in range(3):
        lookup(f"c-later-{i}")
    # Then the first is forgotten, and the memory holds only the recent ones
    assert len(memory) == 3
    assert all(value[1] == clock[0] for value in memory.values())
