"""The demo's scenario and summary, without a broker."""

from __future__ import annotations

from typing import Any

import pytest

from egov.platform.province import Province, get_province
from egov.tools.demo import DEMO_PROFILE, Dossier, Letter, letters, path_procedures, scenario, summary
from services.agency.domain import Profile

PROVINCES = ("binh-thuan", "lam-dong")


@pytest.fixture(params=PROVINCES)
def province(request: pytest.FixtureRequest) -> Province:
    return get_province(request.param)


def test_every_path_of_the_journey_has_a_procedure_in_either_province(province: Province) -> None:
    """`EGOV_PROVINCE=lam-dong egov demo` plays the same paths as Bình Thuận: approved with a fee on time, a
    supplement first, refused, late, approved without a fee — each on a procedure of that province."""
    fee, supplement, refused, late, free = path_procedures(province, Profile.load(DEMO_PROFILE))
    assert len({fee, supplement, refused, late, free}) == 5
    assert all(province.procedure(code) for code in (fee, supplement, refused, late, free))
    assert province.procedure(fee).fee_vnd > 0 and province.procedure(free).fee_vnd == 0  # type: ignore[union-attr]


def test_the_scenario_is_the_same_for_a_seed_and_its_letters_go_between_departments(
    province: Province,
) -> None:
    PROVINCE = province
    first, again = letters(PROVINCE, count=3, seed=7), letters(PROVINCE, count=3, seed=7)
    assert [x.body for x in first] == [x.body for x in again]
    assert [x.body for x in letters(PROVINCE, count=3, seed=8)] != [x.body for x in first]
    departments = {a.code for a in PROVINCE.agencies if a.kind == "department"}
    for letter in first:
        body = letter.body
        assert body["issuing_agency"] in departments and set(body["recipients"]) <= departments
        assert body["issuing_agency"] not in body["recipients"] and 1 <= len(body["recipients"]) <= 2
        assert (
            body["signer"]["position"] == "Phó Giám đốc"
        )  # the department's leader, who signs in to approve it
    dossiers = scenario(PROVINCE, count=2, seed=7)
    assert [d.body for d in dossiers] == [d.body for d in scenario(PROVINCE, count=2, seed=7)]
    assert len(dossiers) == 7 + 2


def test_a_letter_is_done_when_every_recipient_completed_or_refused_it() -> None:
    letter = Letter({"recipients": ["A", "B"]})
    assert not letter.done
    letter.statuses = {"A": ["ARRIVED", "ACCEPTED"], "B": []}
    assert not letter.done
    letter.statuses = {"A": ["ARRIVED", "REFUSED"], "B": ["ARRIVED", "ACCEPTED", "COMPLETED"]}
    assert letter.done


def test_the_summary_counts_statuses_documents_and_prints_the_indicators() -> None:
    def done(status: str, code: int, result: dict[str, Any] | None = None) -> Dossier:
        return Dossier("path", {}, view={"status": status, "status_code": code, "result": result})

    dossiers = [
        done("RESULT_RETURNED", 10, {"on_time": True, "document_id": "D1"}),
        done("RESULT_RETURNED", 10, {"on_time": False, "document_id": None}),
        done("STOPPED", 8),
    ]
    letter = Letter({"recipients": ["A", "B"]}, statuses={"A": ["COMPLETED"], "B": ["REFUSED"]})
    indicators = {
        "definitions": [
            {"id": "on_time_rate", "name_en": "On-time or early rate", "unit": "ratio"},
            {"id": "average_processing_time", "name_en": "Average processing time", "unit": "time"},
            {"id": "one_procedure", "name_en": "Average processing time of one", "unit": "time"},
            {"id": "several", "name_en": "Average over several procedures", "unit": "time"},
        ],
        "totals": {
            "indicators": {
                "on_time_rate": {"numerator": 1, "denominator": 2, "value": 0.5},
                "average_processing_time": {"numerator": 0, "denominator": 0, "value": None},
                "one_procedure": {"numerator": 5.0, "denominator": 2, "value": 2.5, "unit": "working_days"},
                "several": {"numerator": None, "denominator": 3, "value": None, "unit": None},
            }
        },
    }
    text = "\n".join(summary(dossiers, {}, [letter], indicators))
    assert "Summary: 2 RESULT_RETURNED (10), 1 STOPPED (8)" in text
    assert "on time or early: 1 of 2 results (50 %)" in text
    assert "1 signed decisions to the service centre, 1 letters between departments to 2 recipients" in text
    assert "(1 COMPLETED, 1 REFUSED)" in text
    assert "50.0 %   (1 / 2)" in text and "—   (0 / 0)" in text
    assert "2.50 working days   (5.0 / 2)" in text and "—   (— / 3)" in text
    assert "Indicators" not in "\n".join(summary(dossiers, {}, [letter], None))
