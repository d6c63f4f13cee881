"""The reporting service's wiring on the fake runtime: facts folded from the events, the indicators over
HTTP, the dashboard page."""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from egov.runtime.testing import FakeRuntime
from services.reporting.app import build
from tests.handlers.conftest import example

RECEIVED = example(EventTypes.DOSSIER_RECEIVED, applicant=None)
CODE = str(RECEIVED["dossier_code"])


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
