"""The LGSP's access policy and the life of a mediated request: pure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from egov.paths import REPO_ROOT
from services import SERVICES
from services.lgsp.domain import (
    AGENCY_ID_INCORRECT,
    DATA_INCORRECT,
    DEFAULT_CLOCK_SKEW,
    DEFAULT_POLICY,
    DELIVER_CASE_EVENT,
    DELIVER_DOSSIER,
    EXCHANGE_DOCUMENTS,
    VERIFY_IDENTITY,
    AccessPolicy,
    GiveUp,
    LgspError,
    Retry,
    after_deadline,
    agencies_named,
    backoff,
    check_agency,
    check_assigned,
    check_not_ahead,
    closed,
    correlation_id,
    identity_answer,
    lookup_request,
    open_request,
)

POLICY = AccessPolicy.load()
REQUEST = {
    "dossier_code": "000.00.04.H11-261125-0001",
    "request_id": "r-1",
    "citizen": {
        "full_name": "Lê Văn An",
        "date_of_birth": dt.date(1980, 1, 2),
        "sex": "MALE",
        "id_number": "060080000001",
    },
}
NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)


def code_of(call: object) -> int:
    with pytest.raises(LgspError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code


def test_the_default_policy_lets_each_system_call_only_what_it_needs() -> None:
    assert POLICY.may_call == {
        "onestop": frozenset({VERIFY_IDENTITY, DELIVER_DOSSIER}),
        "agency": frozenset({DELIVER_CASE_EVENT}),
        "documents": frozenset({EXCHANGE_DOCUMENTS}),
    }
    assert set(POLICY.may_call) <= set(SERVICES)
    POLICY.authorise(topic_owner="onestop", source="/egov/onestop", operation=VERIFY_IDENTITY)


def test_each_refusal_has_its_lgsp_code() -> None:
    assert (
        code_of(
            lambda: POLICY.authorise(topic_owner="onestop", source="/egov/portal", operation=VERIFY_IDENTITY)
        )
        == 100
    )
    assert (
        code_of(
            lambda: POLICY.authorise(topic_owner="portal", source="/egov/portal", operation=VERIFY_IDENTITY)
        )
        == 100
    )
    assert (
        code_of(
            lambda: POLICY.authorise(topic_owner="agency", source="/egov/agency", operation=VERIFY_IDENTITY)
        )
        == 101
    )
    assert code_of(lambda: check_agency("000.00.99.H11", {"000.00.04.H11"})) == 106
    with pytest.raises(
        LgspError, match=r"^LGSP 101 IP_DISALLOWED: agency may not call population.verify-identity"
    ):
        POLICY.authorise(topic_owner="agency", source="/egov/agency", operation=VERIFY_IDENTITY)


def test_a_policy_naming_an_unknown_service_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("callers:\n  onestop:\n    may_call: [land.lookup]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"land\.lookup: not one of"):
        AccessPolicy.load(path)
    assert DEFAULT_POLICY.is_relative_to(REPO_ROOT)


def test_a_request_is_retried_with_a_growing_back_off_then_answered_timeout() -> None:
    pending = open_request("onestop", REQUEST)
    assert pending["correlation_id"] == correlation_id("onestop", "r-1") != correlation_id("agency", "r-1")
    assert after_deadline(pending, attempts=3) == Retry(backoff(1))
    assert backoff(1) < backoff(2) < backoff(3)
    assert after_deadline(pending | {"attempt": 3}, attempts=3) == GiveUp()
    assert after_deadline(closed(pending, "answered"), attempts=3) is None
    timeout = identity_answer(pending, outcome="TIMEOUT", now=NOW)
    assert (timeout["outcome"], timeout["error_code"], timeout["request_id"]) == ("TIMEOUT", None, "r-1")


def test_the_lookup_carries_the_citizen_and_the_answer_carries_201_for_not_found() -> None:
    pending = open_request("onestop", REQUEST) | {"attempt": 2}
    lookup = lookup_request(pending, now=NOW, deadline=NOW + dt.timedelta(seconds=3))
    assert (
        lookup["citizen"] == REQUEST["citizen"]
        and lookup["attempt"] == 2
        and lookup["calling_system"] == "onestop"
    )
    assert identity_answer(pending, outcome="NOT_FOUND", now=NOW)["error_code"] == 201
    assert "citizen" not in closed(pending, "timed-out")  # no personal data kept once answered


CODE = "000.00.04.H11-261125-0001"
DECISION = {
    "dossier_code": CODE,
    "agency": {"code": "000.00.04.H11", "name": "Sở Kế hoạch và Đầu tư"},
    "decided_by": {"official_id": "SKHDT-0042", "agency": {"code": "000.00.04.H11", "name": "Sở KH&ĐT"}},
    "decided_at": dt.datetime(2026, 11, 26, 3, 15, tzinfo=dt.UTC),
}


def test_a_case_event_may_only_come_from_the_agency_the_dossier_is_assigned_to() -> None:
    named = agencies_named(DECISION)
    assert named == [("agency", "000.00.04.H11"), ("decided_by.agency", "000.00.04.H11")]
    check_assigned(CODE, named, "000.00.04.H11")  # the assigned agency, its own official: accepted
    with pytest.raises(LgspError) as other:
        check_assigned(CODE, named, "000.00.15.H11")
    assert other.value.code == AGENCY_ID_INCORRECT
    assert "assigned to 000.00.15.H11" in other.value.reason and "agency 000.00.04.H11" in other.value.reason
    with pytest.raises(LgspError) as never:
        check_assigned(CODE, named, None)
    assert never.value.code == AGENCY_ID_INCORRECT and "never assigned" in never.value.reason
    # an official of another department deciding for the assigned one is refused too
    borrowed = {**DECISION, "decided_by": {"agency": {"code": "000.00.15.H11"}}}
    with pytest.raises(LgspError, match=r"decided_by\.agency 000\.00\.15\.H11"):
        check_assigned(CODE, agencies_named(borrowed), "000.00.04.H11")
    supplement = {"dossier_code": CODE, "requested_by": {"code": "000.00.04.H11"}}
    assert agencies_named(supplement) == [("requested_by", "000.00.04.H11")]
    with pytest.raises(LgspError, match="names no agency"):
        check_assigned(CODE, agencies_named({"dossier_code": CODE}), "000.00.04.H11")


def test_a_case_event_dated_beyond_the_clock_skew_is_refused_as_incorrect_data() -> None:
    decided = DECISION["decided_at"]
    assert isinstance(decided, dt.datetime)
    # within the skew (the other system's clock a little fast): accepted
    check_not_ahead(DECISION, now=decided - DEFAULT_CLOCK_SKEW, skew=DEFAULT_CLOCK_SKEW)
    with pytest.raises(LgspError) as ahead:
        check_not_ahead(
            DECISION, now=decided - DEFAULT_CLOCK_SKEW - dt.timedelta(seconds=1), skew=DEFAULT_CLOCK_SKEW
        )
    assert ahead.value.code == DATA_INCORRECT
    assert "decided_at 2026-11-26T03:15:00+00:00" in ahead.value.reason and "300 s" in ahead.value.reason
    # ten years ahead, and a time nested in a list: named by their paths
    future = {
        **DECISION,
        "decided_at": decided.replace(year=2036),
        "steps": [{"at": decided.replace(year=2030)}],
    }
    with pytest.raises(LgspError) as far:
        check_not_ahead(future, now=decided, skew=DEFAULT_CLOCK_SKEW)
    assert "decided_at 2036-" in far.value.reason and "steps.0.at 2030-" in far.value.reason
    check_not_ahead(DECISION, now=decided, skew=dt.timedelta(0))  # a time equal to now is not ahead
