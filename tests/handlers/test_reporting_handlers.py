"""The reporting service's wiring on the fake runtime: facts folded from the events, the indicators over
HTTP, the dashboard page."""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from egov.runtime.http import HttpResponse
from egov.runtime.placement import Placement
from egov.runtime.testing import FAKE_URL, FakeRuntime
from services.reporting.app import PART_PATH, build
from tests.handlers.conftest import example

RECEIVED = example(EventTypes.DOSSIER_RECEIVED, applicant=None)
CODE = str(RECEIVED["dossier_code"])
OTHER = "http://another-worker:8090"


def a_dossier_returned_on_time(reporting: FakeRuntime) -> None:
    reporting.deliver(Topics.DOSSIERS, RECEIVED, key=CODE, event_type=EventTypes.DOSSIER_RECEIVED)
    for step in (("NEWLY_REGISTERED", "ACCEPTED"), ("ACCEPTED", "IN_PROGRESS"), ("IN_PROGRESS", "PROCESSED")):
        changed = example(
            EventTypes.DOSSIER_STATUS_CHANGED, from_status=step[0], to_status=step[1], reason=None
        )
        reporting.deliver(Topics.DOSSIERS, changed, key=CODE, event_type=EventTypes.DOSSIER_STATUS_CHANGED)
    result = example(EventTypes.RESULT_RETURNED)
    reporting.deliver(Topics.DOSSIERS, result, key=CODE, event_type=EventTypes.RESULT_RETURNED)
    changed = example(
        EventTypes.DOSSIER_STATUS_CHANGED, from_status="PROCESSED", to_status="RESULT_RETURNED", reason=None
    )
    reporting.deliver(Topics.DOSSIERS, changed, key=CODE, event_type=EventTypes.DOSSIER_STATUS_CHANGED)


def test_the_indicators_count_a_dossier_from_its_events(start) -> None:  # type: ignore[no-untyped-def]
    # Given a dossier submitted online and returned on time with an electronic result
    reporting = start(build)
    a_dossier_returned_on_time(reporting)
    # When the indicators are asked for
    answer = reporting.request("GET", "/api/v1/indicators", query=[("by", "procedure")])
    # Then each counts it once, by procedure
    assert answer.status == 200
    totals = answer.body["totals"]["indicators"]
    assert totals["online_share"] == {"numerator": 1, "denominator": 1, "value": 1.0, "score": None}
    assert totals["on_time_rate"]["numerator"] == totals["on_time_rate"]["denominator"] == 1
    assert totals["on_time_rate"]["score"] == 20.0  # QĐ 766 criterion 2.1: 20 points × the rate
    # The result carries a signed decision (a result file) for a procedure whose result is on paper
    assert totals["electronic_result_share"]["value"] == 1.0
    # Its procedure has a fee (in the province's catalogue), and nothing was paid online
    assert totals["online_payment_share"] == {"numerator": 0, "denominator": 1, "value": 0.0, "score": 0.0}
    [group] = answer.body["groups"]
    assert group["procedure"]["code"] == RECEIVED["procedure_code"]
    # and the same events again change nothing
    a_dossier_returned_on_time(reporting)
    again = reporting.request("GET", "/api/v1/indicators", query=[("by", "procedure")])
    assert again.body["totals"] == answer.body["totals"]


def test_a_wrong_query_is_a_400_naming_the_parameter(start) -> None:  # type: ignore[no-untyped-def]
    reporting = start(build)
    answer = reporting.request("GET", "/api/v1/indicators", query=[("month", "2026-1")])
    assert answer.status == 400
    assert [e["field"] for e in answer.body["errors"]] == ["month"]


def test_the_dashboard_is_an_html_page(start) -> None:  # type: ignore[no-untyped-def]
    reporting = start(build)
    page = reporting.request("GET", "/")
    assert page.status == 200 and page.html
    assert "/api/v1/indicators" in page.body


def test_the_indicators_add_up_every_workers_part(start) -> None:  # type: ignore[no-untyped-def]
    # Given two reporting workers: this one holds the dossier's partition, the other all the others
    reporting = start(build)
    a_dossier_returned_on_time(reporting)
    mine = reporting.engine.assignment.partition(CODE)
    partitions = reporting.engine.assignment.partitions
    owners = {p: FAKE_URL if p == mine else OTHER for p in range(partitions)}
    own_part = reporting.request("GET", PART_PATH, query=[("by", "procedure")]).body  # all partitions still
    reporting.engine.assignment = Placement(FAKE_URL, partitions, owners)
    # and the other worker's part counts the same figures once more
    others = sorted(set(range(partitions)) - {mine})
    reporting.engine.forwarded_answer = HttpResponse({**own_part, "partitions": others})
    # When the indicators are asked for
    answer = reporting.request("GET", "/api/v1/indicators", query=[("by", "procedure")])
    # Then the other worker was asked for its part of the same query, and the report adds both up
    [(url, asked)] = reporting.engine.forwarded
    assert (url, asked.path, asked.query) == (OTHER, PART_PATH, (("by", "procedure"),))
    assert answer.status == 200
    assert answer.body["totals"]["indicators"]["online_share"]["denominator"] == 2
    assert answer.body["totals"]["counts"]["received"] == 2
    # and this worker's own part counts only the partitions it holds
    assert reporting.request("GET", PART_PATH).body["partitions"] == [mine]


def test_the_indicators_are_503_unless_the_parts_cover_every_partition_once(start) -> None:  # type: ignore[no-untyped-def]
    reporting = start(build)
    partitions = reporting.engine.assignment.partitions
    owners = {p: FAKE_URL if p == 0 else OTHER for p in range(partitions)}
    reporting.engine.assignment = Placement(FAKE_URL, partitions, owners)
    empty = reporting.request("GET", PART_PATH).body
    # The other worker claims a partition this one holds too (the assignment changed meanwhile)
    reporting.engine.forwarded_answer = HttpResponse({**empty, "partitions": list(range(partitions))})
    overlap = reporting.request("GET", "/api/v1/indicators")
    assert overlap.status == 503 and overlap.body["errors"][0]["rule"] == "rebalancing"
    # The other worker does not answer
    reporting.engine.forwarded_answer = HttpResponse({"errors": []}, status=503)
    assert reporting.request("GET", "/api/v1/indicators").status == 503
    # A partition has no worker (one died and its session has not run out)
    reporting.engine.assignment = Placement(FAKE_URL, partitions, {0: FAKE_URL})
    assert reporting.request("GET", "/api/v1/indicators").status == 503
