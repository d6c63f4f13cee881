"""The indicators, from facts folded out of events, per procedure, agency and month, by QĐ 766's own
formulas.

The national portal's "Mô tả công thức tính chỉ số 766" (as kept in github.com/ChippedTopaz/qd766; a
secondary source) gives the rules but no worked example with numbers: each test below is an example
built from one of its rules, the rule quoted in the test's docstring."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.reporting.domain import (
    INDICATOR_IDS,
    INDICATORS,
    QD766_GROUPS,
    InvalidQuery,
    ProcedureInfo,
    Query,
    Timeline,
    catalogue,
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
#: The catalogue as the formulas see it: P1 has a fee, P2 none, P3 a result that is not a paper document,
#: D a procedure in calendar days, S a same-day one.
PROCEDURES = {
    "P1": ProcedureInfo("working_days", fee_bearing=True),
    "P2": ProcedureInfo("working_days"),
    "P3": ProcedureInfo("working_days", result_on_paper=False),
    "D": ProcedureInfo("days"),
    "S": ProcedureInfo("same_day"),
}


def at(day: str, hour: int = 3) -> dt.datetime:
    """`day` at `hour` UTC (03:00 UTC is 10:00 in the province)."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def dossier(
    procedure: str,
    agency: str,
    channel: str,
    received: dt.datetime,
    *,
    appointment: str = "2026-11-30",
    steps: tuple[tuple[str | None, str, dt.datetime], ...] = (),
    returned: dt.datetime | None = None,
    document_id: str | None = None,
    on_time: bool = True,
) -> dict[str, Any]:
    """A dossier's facts from its events: its receipt, its status changes (from, to, when), its result."""
    facts = dossier_facts(
        None,
        RECEIVED,
        {
            "procedure_code": procedure,
            "procedure_name": f"Thủ tục {procedure}",
            "responsible_agency_code": agency,
            "channel": channel,
            "received_at": received,
            "appointment_date": dt.date.fromisoformat(appointment),
            "processing_unit": PROCEDURES.get(procedure, ProcedureInfo()).processing_unit,
        },
    )
    for source, target, when in steps:
        facts = dossier_facts(
            facts, CHANGED, {"from_status": source, "to_status": target, "changed_at": when}
        )
    if returned is not None:
        record = {"returned_at": returned, "on_time": on_time, "electronic": channel == "ONLINE"}
        facts = dossier_facts(facts, RESULT, record | {"document_id": document_id})
    return facts


def processed(when: dt.datetime) -> tuple[tuple[str | None, str, dt.datetime], ...]:
    """Accepted and in progress on receipt day, processed at `when`."""
    start = when.replace(day=1) if when.day > 1 else when
    return (
        ("NEWLY_REGISTERED", "ACCEPTED", start),
        ("ACCEPTED", "IN_PROGRESS", start),
        ("IN_PROGRESS", "PROCESSED", when),
    )


def run(
    dossiers: dict[str, dict[str, Any]],
    settlements: dict[str, dict[str, Any]] | None = None,
    documents: list[dict[str, Any]] | None = None,
    query: Query | None = None,
    now: dt.datetime = NOW,
) -> dict[str, Any]:
    return report(
        dossiers.items(),
        settlements or {},
        documents or [],
        query or Query(by=()),
        zone=ZONE,
        agency_names=NAMES,
        generated_at=now,
        procedures=PROCEDURES,
    )


def figures(result: dict[str, Any], indicator: str) -> tuple[float | None, int, float | None]:
    found = result["indicators"][indicator]
    return found["numerator"], found["denominator"], found["value"]


def settled(reference: str, online: bool, when: dt.datetime) -> dict[str, Any]:
    return settlement_facts(
        None, SETTLED, {"payment_reference": reference, "paid_online": online, "settled_at": when}
    )


# -- 2.1 on time ---------------------------------------------------------------------------------------
def test_on_time_counts_every_dossier_received_or_in_processing_not_only_the_results() -> None:
    """“Tổng số hồ sơ được tiếp nhận, xử lý trong kỳ”; the end is the time of “Từ chối, Dừng xử lý, Đã xử lý
    xong, Đã trả kết quả, Công dân yêu cầu rút hồ sơ”."""
    received = at("2026-11-23")
    dossiers = {
        "resolved": dossier("P2", PKH, "ONLINE", received, steps=processed(at("2026-11-27"))),
        "late": dossier("P2", PKH, "ONLINE", received, steps=processed(at("2026-12-02"))),
        "refused": dossier(
            "P2", PKH, "ONLINE", received, steps=(("NEWLY_REGISTERED", "NOT_ACCEPTED", received),)
        ),
        "stopped": dossier(
            "P2", PKH, "ONLINE", received, steps=(("IN_PROGRESS", "STOPPED", at("2026-11-25")),)
        ),
        "withdrawn": dossier(
            "P2", PKH, "ONLINE", received, steps=(("ACCEPTED", "WITHDRAWN", at("2026-11-24")),)
        ),
        "in progress": dossier("P2", PKH, "ONLINE", received, appointment="2027-01-15"),
    }
    totals = run(dossiers)["totals"]
    assert figures(totals, "on_time_rate") == (5, 6, 0.8333)  # only "late" ended after its date
    assert totals["counts"]["withdrawn"] == 1 and totals["counts"]["results"] == 0
    # Scored 20 × the rate (the portal's scoring, secondary).
    assert totals["indicators"]["on_time_rate"]["score"] == round(20 * 0.8333, 2)


def test_processed_is_the_end_even_when_the_result_is_returned_later() -> None:
    """“Nếu tiến trình xử lý có đồng thời trạng thái Đã xử lý xong, Đã trả kết quả thì hệ thống ưu tiên
    lấy thời gian Đã xử lý xong.”"""
    steps = (*processed(at("2026-11-30")), ("PROCESSED", "RESULT_RETURNED", at("2026-12-03")))
    facts = dossier("P2", PKH, "ONLINE", at("2026-11-23"), steps=steps, returned=at("2026-12-03"))
    assert figures(run({"A": facts})["totals"], "on_time_rate") == (1, 1, 1.0)


def test_the_time_waited_for_the_supplement_is_subtracted_from_the_end() -> None:
    """“Thời gian kết thúc xử lý hồ sơ = Thời gian kết thúc xử lý − Thời gian bổ sung hồ sơ. Thời gian
    bổ sung hồ sơ = Thời điểm hoàn thành bổ sung hồ sơ − Thời điểm Yêu cầu bổ sung.”"""

    def processed_on_2_december_after(waited_days: int) -> dict[str, Any]:
        asked = at("2026-11-24")
        steps = (
            ("IN_PROGRESS", "SUPPLEMENT_REQUESTED", asked),
            ("SUPPLEMENT_REQUESTED", "IN_PROGRESS", asked + dt.timedelta(days=waited_days)),
            ("IN_PROGRESS", "PROCESSED", at("2026-12-02")),
        )
        return dossier("P2", PKH, "ONLINE", at("2026-11-23"), steps=steps)

    # Due 30/11, processed 2/12: three days waited bring the end back to 29/11 (on time), one to 1/12 (late).
    assert figures(run({"A": processed_on_2_december_after(3)})["totals"], "on_time_rate")[0] == 1
    assert figures(run({"A": processed_on_2_december_after(1)})["totals"], "on_time_rate")[0] == 0


def test_a_dossier_waiting_for_the_citizen_is_judged_at_the_request_and_two_requests_are_late() -> None:
    """“Nếu hồ sơ đang yêu cầu bổ sung, công dân chưa quay lại bổ sung hồ sơ thì lấy ngày cán bộ yêu cầu
    bổ sung hồ sơ là Thời gian kết thúc xử lý … trừ trường hợp Yêu cầu bổ sung hồ sơ hơn 01 lần thì tính
    quá hạn.”"""
    asked = at("2026-11-26")
    waiting = dossier(
        "P2", PKH, "ONLINE", at("2026-11-23"), steps=(("IN_PROGRESS", "SUPPLEMENT_REQUESTED", asked),)
    )
    twice = dossier(
        "P2",
        PKH,
        "ONLINE",
        at("2026-11-23"),
        steps=(
            ("IN_PROGRESS", "SUPPLEMENT_REQUESTED", at("2026-11-24")),
            ("SUPPLEMENT_REQUESTED", "IN_PROGRESS", at("2026-11-25")),
            ("IN_PROGRESS", "SUPPLEMENT_REQUESTED", at("2026-11-26", 4)),
        ),
    )
    totals = run({"waiting": waiting, "twice": twice})["totals"]  # judged on 31/12, long after the 30/11 date
    assert figures(totals, "on_time_rate") == (1, 2, 0.5)
    assert Timeline.of(waiting).effective_end(NOW) == asked


def test_an_unfinished_dossier_is_judged_at_the_end_of_each_month_it_is_in_processing() -> None:
    """“Chưa có trạng thái hoàn thành → lấy ngày cuối kỳ báo cáo là ngày kết thúc xử lý”: a dossier due
    2/12 and processed on 10/12 is on time in November (it stood within time at the month's end) and
    late in December; in total (judged at its end), late. The months of the on-time rate do not add up
    to its total."""
    facts = dossier(
        "P2", PKH, "ONLINE", at("2026-11-25"), appointment="2026-12-02", steps=processed(at("2026-12-10"))
    )
    result = run({"A": facts}, query=Query(by=("month",)))
    months = {g["month"]: figures(g, "on_time_rate") for g in result["groups"]}
    assert months == {"2026-11": (1, 1, 1.0), "2026-12": (0, 1, 0.0)}
    assert figures(result["totals"], "on_time_rate") == (0, 1, 0.0)
    only = run({"A": facts}, query=Query(by=(), month="2026-11"))
    assert figures(only["totals"], "on_time_rate") == (1, 1, 1.0)
    # Not yet due and still in progress: on time now, whatever the month's last day will bring.
    open_dossier = dossier("P2", PKH, "ONLINE", at("2026-12-28"), appointment="2027-01-08")
    assert figures(run({"B": open_dossier})["totals"], "on_time_rate") == (1, 1, 1.0)


def test_the_citizens_time_to_pay_is_subtracted_like_the_supplement() -> None:
    """This project's choice (labelled): its journey asks for the fee after the decision and stops the
    clock."""
    steps = (
        ("IN_PROGRESS", "PAYMENT_REQUESTED", at("2026-11-27")),
        ("PAYMENT_REQUESTED", "PROCESSED", at("2026-12-04")),
    )
    facts = dossier("P1", PKH, "ONLINE", at("2026-11-23"), steps=steps)
    assert figures(run({"A": facts})["totals"], "on_time_rate") == (1, 1, 1.0)


# -- 2.2 average time ----------------------------------------------------------------------------------
def test_the_average_time_is_per_procedure_in_its_own_unit_without_the_supplement() -> None:
    """“Loại thời gian trung bình tính theo Giờ, Ngày, Ngày làm việc, tháng tính theo thời gian tối đa
    giải quyết TTHC (trường DonViTinh)”; “Chỉ tiêu này chỉ hiển thị khi chọn 1 TTHC cụ thể”; supplement
    time subtracted."""
    monday = at("2026-11-23")  # Monday; 24/11 is Vietnam Cultural Day
    dossiers = {
        # Working days: Monday 23 → Friday 27, the supplement of 26/11 (a day) subtracted: 25 and 26 → 2.
        "W": dossier(
            "P2",
            PKH,
            "ONLINE",
            monday,
            steps=(
                ("IN_PROGRESS", "SUPPLEMENT_REQUESTED", at("2026-11-26")),
                ("SUPPLEMENT_REQUESTED", "IN_PROGRESS", at("2026-11-27")),
                ("IN_PROGRESS", "PROCESSED", at("2026-11-27", 4)),
            ),
        ),
        # Calendar days: 23/11 03:00 → 26/11 15:00 is 3.5 days.
        "D": dossier("D", PKH, "ONLINE", monday, steps=(("IN_PROGRESS", "PROCESSED", at("2026-11-26", 15)),)),
        # Same day: in hours, 03:00 → 09:00.
        "S": dossier("S", XD, "ONLINE", monday, steps=(("IN_PROGRESS", "PROCESSED", at("2026-11-23", 9)),)),
        # Not processed: not in the average.
        "open": dossier("P2", PKH, "ONLINE", monday),
    }
    groups = {
        g["procedure"]["code"]: g["indicators"]["average_processing_time"]
        for g in run(dossiers, query=Query(by=("procedure",)))["groups"]
    }
    assert groups["P2"] == {
        "numerator": 2.0,
        "denominator": 1,
        "value": 2.0,
        "unit": "working_days",
        "score": None,
    }
    assert (groups["D"]["value"], groups["D"]["unit"]) == (3.5, "days")
    assert (groups["S"]["value"], groups["S"]["unit"]) == (6.0, "hours")
    # More than one procedure: no average (nor a sum across units).
    assert run(dossiers)["totals"]["indicators"]["average_processing_time"] == {
        "numerator": None,
        "denominator": 3,
        "value": None,
        "unit": None,
        "score": None,
    }


# -- 3.3 online dossiers -------------------------------------------------------------------------------
def test_an_online_dossier_counts_only_with_a_result_file_when_its_result_is_on_paper() -> None:
    """“KenhThucHien = 2 (Trực tuyến), và (2) cấp kết quả giải quyết điện tử đối với TTHC yêu cầu trả
    kết quả bằng văn bản giấy tờ (có mã kết quả + đường links kết quả)”, over “Tổng số hồ sơ tiếp nhận
    trong kỳ”."""
    day = at("2026-11-23")
    done = processed(at("2026-11-25"))
    dossiers = {
        "with file": dossier(
            "P2", PKH, "ONLINE", day, steps=done, returned=at("2026-11-25"), document_id="D-1"
        ),
        "no file": dossier("P2", PKH, "ONLINE", day, steps=done, returned=at("2026-11-25")),
        "not on paper": dossier("P3", PKH, "ONLINE", day),
        "in person": dossier(
            "P2", PKH, "IN_PERSON", day, steps=done, returned=at("2026-11-25"), document_id="D-2"
        ),
        "refused": dossier("P2", PKH, "ONLINE", day, steps=(("NEWLY_REGISTERED", "NOT_ACCEPTED", day),)),
    }
    totals = run(dossiers)["totals"]
    assert figures(totals, "online_dossier_share") == (2, 5, 0.4)
    assert figures(totals, "online_share") == (3, 4, 0.75)  # the DTI's: by channel, over those accepted
    # How the 12 points of online services are split is not settled: no score.
    assert totals["indicators"]["online_dossier_share"]["score"] is None


# -- 3.6 online payment --------------------------------------------------------------------------------
def test_online_payment_is_over_every_dossier_of_a_procedure_with_a_fee() -> None:
    """“số lượng hồ sơ … được thanh toán trực tuyến … có Ngày bắt đầu xử lý trong kỳ / (Tổng số hồ sơ của các
    TTHC … có thông tin phí, lệ phí …)”: not over the fees paid."""
    day = at("2026-11-23")
    dossiers = {
        "paid online": dossier("P1", PKH, "ONLINE", day),
        "paid at the desk": dossier("P1", PKH, "IN_PERSON", day),
        "not yet asked": dossier("P1", PKH, "ONLINE", day),
        "refused": dossier("P1", PKH, "ONLINE", day, steps=(("NEWLY_REGISTERED", "NOT_ACCEPTED", day),)),
        "no fee": dossier("P2", PKH, "ONLINE", day),
    }
    settlements = {
        "paid online": settled("PAY-1", True, at("2026-12-01")),
        "paid at the desk": settled("PAY-2", False, at("2026-12-01")),
    }
    result = run(dossiers, settlements, query=Query(by=("month",)))
    assert figures(result["totals"], "online_payment_share") == (1, 4, 0.25)
    assert result["totals"]["indicators"]["online_payment_share"]["score"] == 1.5  # 6 points × 0.25
    # Counted in the month processing started (the receipt), not of the settlement.
    [november, december] = result["groups"]
    assert figures(november, "online_payment_share") == (1, 4, 0.25)
    assert (
        figures(december, "online_payment_share") == (0, 0, None) and december["counts"]["fees_settled"] == 2
    )


# -- 4.1 electronic result -----------------------------------------------------------------------------
def test_an_electronic_result_is_a_result_file_not_an_online_channel() -> None:
    """“Tử số = tổng số hồ sơ TTHC đồng bộ kết quả xử lý có link file kết quả giải quyết đính kèm và
    TTHC đó yêu cầu trả kết quả bằng văn bản, giấy tờ. Mẫu số = Tổng số hồ sơ … của các TTHC có yêu cầu
    trả kết quả bằng văn bản, giấy tờ.”"""
    day = at("2026-11-23")
    done = processed(at("2026-11-25"))
    dossiers = {
        "online, no file": dossier("P2", PKH, "ONLINE", day, steps=done, returned=at("2026-11-25")),
        "in person, file": dossier(
            "P2", PKH, "IN_PERSON", day, steps=done, returned=at("2026-11-25"), document_id="D"
        ),
        "in progress": dossier("P2", PKH, "ONLINE", day),
        "not on paper": dossier("P3", PKH, "ONLINE", day, steps=done, returned=at("2026-11-25")),
    }
    totals = run(dossiers)["totals"]
    assert figures(totals, "electronic_result_share") == (1, 3, 0.3333)
    assert totals["indicators"]["electronic_result_share"]["score"] is None  # the scoring rule is not stated


# -- the definitions, the months, the facts ----------------------------------------------------------
def test_every_indicator_has_a_definition_its_criterion_and_the_points_of_its_group() -> None:
    result = run({})
    assert [d["id"] for d in result["definitions"]] == list(INDICATOR_IDS)
    for definition in result["definitions"]:
        assert definition["source"] and definition["numerator"] and definition["denominator"]
        assert definition["unit"] in ("ratio", "time")
    criteria = {d["criterion"]: d for d in result["definitions"] if d["criterion"]}
    assert sorted(criteria) == ["2.1", "2.2", "3.3", "3.6", "4.1"]
    assert criteria["2.1"]["points"] == 20 and criteria["2.2"]["points"] == 0  # the average time: not scored
    assert criteria["3.3"]["group"] == {
        "id": "online_services",
        "name": "Cung cấp dịch vụ trực tuyến",
        "points": 12,
    }
    assert criteria["3.6"]["group"]["points"] == 10 and criteria["3.6"]["points"] == 6
    assert sum(points for _, points in QD766_GROUPS.values()) == 100
    assert {i.basis for i in INDICATORS} == {"secondary"}


def test_counts_and_receipt_month_indicators_count_in_the_month_of_their_event_in_the_provinces_zone() -> (
    None
):
    # Received on 30 November at 20:00 UTC, which is already 1 December in the province.
    late_evening = dt.datetime(2026, 11, 30, 20, tzinfo=dt.UTC)
    before_midnight = dt.datetime(2026, 11, 30, 16, 59, tzinfo=dt.UTC)  # 23:59 in the province
    dossiers = {
        "A": dossier("P2", PKH, "ONLINE", late_evening, returned=at("2026-12-03")),
        "B": dossier("P2", PKH, "IN_PERSON", before_midnight, returned=at("2027-01-04")),
    }
    groups = {g["month"]: g for g in run(dossiers, query=Query(by=("month",)))["groups"]}
    assert sorted(groups) == ["2026-11", "2026-12", "2027-01"]
    assert figures(groups["2026-11"], "online_share") == (0, 1, 0.0)
    assert figures(groups["2026-12"], "online_share") == (1, 1, 1.0)
    assert (groups["2026-12"]["counts"]["results"], groups["2027-01"]["counts"]["results"]) == (1, 1)
    assert sum(g["counts"]["received"] for g in groups.values()) == 2


def test_groups_by_procedure_agency_and_month_with_names_and_filters() -> None:
    dossiers = {
        "A": dossier("P1", PKH, "ONLINE", at("2026-11-02"), steps=processed(at("2026-11-20"))),
        "B": dossier("P2", XD, "ONLINE", at("2026-11-02"), steps=processed(at("2026-11-20"))),
        "C": dossier("P2", XD, "IN_PERSON", at("2026-12-02"), appointment="2026-12-10"),
    }
    result = run(dossiers, query=Query())
    keys = [(g["procedure"]["code"], g["agency"]["code"], g["month"]) for g in result["groups"]]
    assert keys == [("P1", PKH, "2026-11"), ("P2", XD, "2026-11"), ("P2", XD, "2026-12")]
    # A dossier still in processing counts in the on-time rate of each month until it ends.
    in_december = dossier("P1", PKH, "ONLINE", at("2026-11-02"))
    months = [g["month"] for g in run({"D": in_december}, query=Query(by=("month",)))["groups"]]
    assert months == ["2026-11", "2026-12"]
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
    record = {"returned_at": at("2026-11-04"), "on_time": True, "electronic": True, "document_id": "D"}
    facts = dossier("P1", PKH, "ONLINE", at("2026-11-02"), steps=processed(at("2026-11-04")))
    facts = dossier_facts(facts, RESULT, record)
    assert dossier_facts(facts, RESULT, record) == facts
    change = {"from_status": "IN_PROGRESS", "to_status": "PROCESSED", "changed_at": at("2026-11-04")}
    assert dossier_facts(facts, CHANGED, change) == facts
    once = settled("PAY-A", True, at("2026-11-03"))
    assert settlement_facts(once, SETTLED, {"payment_reference": "PAY-A", "paid_online": True,
                                           "settled_at": at("2026-11-03")}) == once  # fmt: skip


def test_events_before_the_receipt_count_once_the_receipt_is_known() -> None:
    early = dossier_facts(
        None,
        CHANGED,
        {"from_status": "IN_PROGRESS", "to_status": "PROCESSED", "changed_at": at("2026-12-04")},
    )
    assert run({"A": early})["totals"]["counts"]["received"] == 0
    facts = dossier_facts(
        early,
        RECEIVED,
        {
            "procedure_code": "P2",
            "procedure_name": "Thủ tục P2",
            "responsible_agency_code": PKH,
            "channel": "ONLINE",
            "received_at": "2026-11-02T03:00:00+00:00",
            "appointment_date": "2026-11-30",
        },
    )
    assert figures(run({"A": facts})["totals"], "on_time_rate") == (0, 1, 0.0)  # processed after its date


def test_a_dossier_received_before_the_appointment_was_kept_is_counted_but_not_judged() -> None:
    """Facts folded before this version kept no appointment date: such a dossier cannot be judged on time."""
    facts = dossier("P2", PKH, "ONLINE", at("2026-11-02"))
    del facts["appointment_date"]
    totals = run({"A": facts})["totals"]
    assert totals["counts"]["received"] == 1 and figures(totals, "on_time_rate") == (0, 0, None)


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


def test_the_catalogue_gives_the_formulas_the_unit_the_fee_and_the_paper_result() -> None:
    from egov.platform.province import get_province

    procedures = catalogue(get_province("lam-dong"))
    assert procedures["2.000815.000.00.00.H36"] == ProcedureInfo("same_day", fee_bearing=True)
    assert procedures["1.001193.000.00.00.H36"].fee_bearing is False
    assert procedures["1.013236.000.00.00.H36"].processing_unit == "days"


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


def test_a_dossier_refused_at_intake_counts_as_received_but_not_in_the_dtis_channel_share() -> None:
    dossiers = {
        "A": dossier("P2", PKH, "ONLINE", at("2026-11-02")),
        "B": dossier(
            "P2",
            PKH,
            "ONLINE",
            at("2026-11-30"),
            steps=(("NEWLY_REGISTERED", "NOT_ACCEPTED", at("2026-12-01")),),
        ),
        "C": dossier(
            "P2", PKH, "IN_PERSON", at("2026-11-03"), steps=(("IN_PROGRESS", "STOPPED", at("2026-11-04")),)
        ),
    }
    result = run(dossiers, query=Query(by=("month",)))
    assert figures(result["totals"], "online_share") == (1, 2, 0.5)
    assert result["totals"]["counts"]["received"] == 3
    november, december = result["groups"]
    assert (november["counts"]["not_accepted"], december["counts"]["not_accepted"]) == (0, 1)
    assert (november["counts"]["stopped"], november["counts"]["received"]) == (1, 3)
