"""The indicators, from facts folded out of events, per procedure, agency and month."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.reporting.domain import (
    INDICATOR_IDS,
    InvalidQuery,
    Query,
    document_facts,
    dossier_facts,
    parse_query,
    report,
    settlement_facts,
)

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC)
PKH, XD = "000.00.04.H11", "000.00.16.H11"
NAMES = {PKH: "Sở Kế hoạch và Đầu tư", XD: "Sở Xây dựng"}
RECEIVED = "vn.egov.dossier.DossierReceived"
RESULT = "vn.egov.dossier.ResultReturned"
CHANGED = "vn.egov.dossier.DossierStatusChanged"
SETTLED = "vn.egov.dossier.FeeSettled"


def at(day: str, hour: int = 3) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def dossier(
    procedure: str,
    agency: str,
    channel: str,
    received: dt.datetime,
    *,
    returned: dt.datetime | None = None,
    on_time: bool = True,
    electronic: bool = True,
    final: str | None = None,
) -> dict[str, Any]:
    facts = dossier_facts(
        None,
        RECEIVED,
        {
            "procedure_code": procedure,
            "procedure_name": f"Thủ tục {procedure}",
            "responsible_agency_code": agency,
            "channel": channel,
            "received_at": received,
        },
    )
    if returned is not None:
        record = {"returned_at": returned, "on_time": on_time, "electronic": electronic}
        facts = dossier_facts(facts, RESULT, record)
    if final is not None:
        facts = dossier_facts(
            facts, CHANGED, {"to_status": final, "changed_at": received + dt.timedelta(days=1)}
        )
    return facts


def run(
    dossiers: dict[str, dict[str, Any]],
    settlements: dict[str, dict[str, Any]] | None = None,
    documents: list[dict[str, Any]] | None = None,
    query: Query | None = None,
) -> dict[str, Any]:
    return report(
        dossiers.items(),
        settlements or {},
        documents or [],
        query or Query(),
        zone=ZONE,
        agency_names=NAMES,
        generated_at=NOW,
    )


def figures(result: dict[str, Any], indicator: str) -> tuple[float, int, float | None]:
    found = result["indicators"][indicator]
    return found["numerator"], found["denominator"], found["value"]


def test_each_indicator_is_its_numerator_over_its_denominator() -> None:
    dossiers = {
        "A": dossier("P1", PKH, "ONLINE", at("2026-11-02"), returned=at("2026-11-04"), electronic=True),
        "B": dossier("P1", PKH, "IN_PERSON", at("2026-11-03"), returned=at("2026-11-09"), on_time=False),
        "C": dossier("P1", PKH, "ONLINE", at("2026-11-05"), returned=at("2026-11-06"), electronic=False),
        "D": dossier("P1", PKH, "ONLINE", at("2026-11-05"), final="STOPPED"),
    }
    settlements = {
        "A": settlement_facts(
            None, SETTLED, {"payment_reference": "PAY-A", "paid_online": True, "settled_at": at("2026-11-03")}
        ),
        "B": settlement_facts(
            None,
            SETTLED,
            {"payment_reference": "PAY-B", "paid_online": False, "settled_at": at("2026-11-05")},
        ),
    }
    totals = run(dossiers, settlements)["totals"]
    assert figures(totals, "online_share") == (3, 4, 0.75)  # D was stopped, but it was accepted at intake
    assert figures(totals, "on_time_rate") == (2, 3, 0.6667)
    assert figures(totals, "electronic_result_share") == (2, 3, 0.6667)
    assert figures(totals, "average_processing_days") == (9.0, 3, 3.0)  # 2 + 6 + 1 days
    assert figures(totals, "online_payment_share") == (1, 2, 0.5)
    assert figures(totals, "signed_document_share") == (0, 0, None)  # nothing to divide: no value, not 0
    assert totals["counts"] == {
        "received": 4,
        "results": 3,
        "stopped": 1,
        "not_accepted": 0,
        "fees_settled": 2,
        "documents": 0,
        "documents_issued": 0,
    }


def test_each_indicator_counts_in_the_month_of_its_own_event_in_the_provinces_time_zone() -> None:
    # Received on 30 November at 20:00 UTC, which is already 1 December in Phan Thiết; result on 3 December.
    received = dt.datetime(2026, 11, 30, 20, tzinfo=dt.UTC)
    late_november = dt.datetime(2026, 11, 30, 16, 59, tzinfo=dt.UTC)  # 23:59 in the province
    dossiers = {
        "A": dossier("P1", PKH, "ONLINE", received, returned=at("2026-12-03")),
        "B": dossier("P1", PKH, "IN_PERSON", late_november, returned=at("2027-01-04")),
    }
    groups = {g["month"]: g for g in run(dossiers, query=Query(by=("month",)))["groups"]}
    assert sorted(groups) == ["2026-11", "2026-12", "2027-01"]
    assert figures(groups["2026-11"], "online_share") == (0, 1, 0.0)
    assert figures(groups["2026-12"], "online_share") == (1, 1, 1.0)
    assert figures(groups["2026-12"], "on_time_rate") == (1, 1, 1.0)
    assert figures(groups["2027-01"], "on_time_rate") == (1, 1, 1.0)
    assert figures(groups["2026-11"], "on_time_rate")[1] == 0


def test_groups_by_procedure_agency_and_month_with_names_and_filters() -> None:
    dossiers = {
        "A": dossier("P1", PKH, "ONLINE", at("2026-11-02")),
        "B": dossier("P2", XD, "ONLINE", at("2026-11-02")),
        "C": dossier("P2", XD, "IN_PERSON", at("2026-12-02")),
    }
    result = run(dossiers)
    keys = [(g["procedure"]["code"], g["agency"]["code"], g["month"]) for g in result["groups"]]
    assert keys == [("P1", PKH, "2026-11"), ("P2", XD, "2026-11"), ("P2", XD, "2026-12")]
    assert result["groups"][1]["agency"]["name"] == "Sở Xây dựng"
    assert result["groups"][1]["procedure"]["name"] == "Thủ tục P2"

    by_agency = run(dossiers, query=Query(by=("agency",), month="2026-11"))
    assert [(g["agency"]["code"], g["counts"]["received"]) for g in by_agency["groups"]] == [
        (PKH, 1),
        (XD, 1),
    ]
    assert by_agency["totals"]["counts"]["received"] == 2 and by_agency["filters"] == {"month": "2026-11"}
    totals_only = run(dossiers, query=Query(by=(), procedure="P2"))
    assert totals_only["groups"] == [] and figures(totals_only["totals"], "online_share") == (1, 2, 0.5)


def test_a_redelivered_event_changes_no_fact() -> None:
    record = {"returned_at": at("2026-11-04"), "on_time": True, "electronic": True}
    facts = dossier(
        "P1", PKH, "ONLINE", at("2026-11-02"), returned=record["returned_at"], electronic=record["electronic"]
    )
    assert dossier_facts(facts, RESULT, record) == facts
    assert (
        dossier_facts(facts, CHANGED, {"to_status": "IN_PROGRESS", "changed_at": at("2026-11-03")}) == facts
    )
    settled = {"payment_reference": "PAY-A", "paid_online": True, "settled_at": at("2026-11-03")}
    once = settlement_facts(None, SETTLED, settled)
    assert settlement_facts(once, SETTLED, settled) == once


def test_events_before_the_receipt_count_once_the_receipt_is_known() -> None:
    early = dossier_facts(
        None, RESULT, {"returned_at": at("2026-11-04"), "on_time": False, "electronic": True}
    )
    assert run({"A": early})["totals"]["counts"]["results"] == 0
    facts = dossier_facts(
        early,
        RECEIVED,
        {
            "procedure_code": "P1",
            "procedure_name": "Thủ tục P1",
            "responsible_agency_code": PKH,
            "channel": "ONLINE",
            "received_at": "2026-11-02T03:00:00+00:00",
        },
    )
    assert figures(run({"A": facts})["totals"], "on_time_rate") == (0, 1, 0.0)


def test_outgoing_documents_count_by_issuing_agency_with_no_procedure() -> None:
    agency = {"code": XD, "name": "Sở Xây dựng"}
    registered = "vn.egov.document.DocumentRegistered"
    issued = "vn.egov.document.DocumentIssued"
    signed = document_facts(None, registered, {"issuing_agency": agency, "registered_at": at("2026-11-10")})
    signed = document_facts(signed, issued, {"issuing_agency": agency, "signature": b"\x30\x82"})
    waiting = document_facts(None, registered, {"issuing_agency": agency, "registered_at": at("2026-11-11")})
    unsigned = document_facts(None, registered, {"issuing_agency": agency, "registered_at": at("2026-11-12")})
    unsigned = document_facts(unsigned, issued, {"issuing_agency": agency, "signature": b""})
    result = run({}, documents=[signed, waiting, unsigned], query=Query(by=("procedure", "agency")))
    [group] = result["groups"]
    assert group["procedure"] is None and group["agency"] == {"code": XD, "name": "Sở Xây dựng"}
    assert figures(group, "signed_document_share") == (1, 3, 0.3333)
    assert group["counts"]["documents"] == 3 and group["counts"]["documents_issued"] == 2
    assert run({}, documents=[signed], query=Query(procedure="P1"))["totals"]["counts"]["documents"] == 0


def test_every_indicator_has_a_definition_and_a_source() -> None:
    result = run({})
    assert [d["id"] for d in result["definitions"]] == list(INDICATOR_IDS)
    for definition in result["definitions"]:
        assert definition["source"] and definition["numerator"] and definition["denominator"]
        assert definition["unit"] in ("ratio", "days")


def test_the_query_string_is_read_and_every_wrong_parameter_is_named() -> None:
    assert parse_query([]) == Query()
    assert parse_query([("by", "month,agency"), ("agency", PKH)]) == Query(by=("agency", "month"), agency=PKH)
    assert parse_query([("by", "")]) == Query(by=())
    assert parse_query([("month", "2026-01")]).month == "2026-01"
    with pytest.raises(InvalidQuery) as refused:
        parse_query([("by", "district"), ("month", "2026-13"), ("colour", "red")])
    assert {e.path for e in refused.value.errors} == {"by", "month", "colour"}
    for wrong in ("2026-1", "11/2026", "2026-00", " 2026-01"):
        with pytest.raises(InvalidQuery, match="month"):
            parse_query([("month", wrong)])
    with pytest.raises(InvalidQuery) as twice:
        parse_query([("by", "month,month")])
    assert [e.path for e in twice.value.errors] == ["by"]
    with pytest.raises(InvalidQuery) as repeated:
        parse_query([("month", "2026-01"), ("month", "2026-02")])
    assert [(e.path, e.rule) for e in repeated.value.errors] == [("month", "unique")]


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        settlement_facts(
            None, SETTLED, {"payment_reference": "P", "paid_online": True, "settled_at": "2026-11-03T03:00"}
        )
    with pytest.raises(ValueError, match="does not count"):
        settlement_facts(None, "vn.egov.dossier.FeeRequested", {"payment_reference": "P"})


def test_a_dossier_refused_at_intake_counts_as_received_but_not_in_the_channel_share() -> None:
    dossiers = {
        "A": dossier("P1", PKH, "ONLINE", at("2026-11-02")),
        "B": dossier("P1", PKH, "ONLINE", at("2026-11-30"), final="NOT_ACCEPTED"),  # refused on 1 December
        "C": dossier("P1", PKH, "IN_PERSON", at("2026-11-03"), final="STOPPED"),
    }
    result = run(dossiers, query=Query(by=("month",)))
    assert figures(result["totals"], "online_share") == (1, 2, 0.5)
    assert result["totals"]["counts"]["received"] == 3
    november, december = result["groups"]
    assert (november["counts"]["not_accepted"], december["counts"]["not_accepted"]) == (0, 1)
    assert (november["counts"]["stopped"], november["counts"]["received"]) == (1, 3)
