"""The department stand-in's plan and timing, and the payment stand-in's idempotency: pure."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from egov.contracts.validation import get_validator
from services.agency.domain import DECIDE, SUPPLEMENT, Behaviour, CaseDesk, Profile, official_of, plan
from services.payment.domain import PaymentRefused, settle

PROFILE = Profile.load()
DESK = CaseDesk(PROFILE, seed=7, timezone="Asia/Ho_Chi_Minh")
# Wednesday 25/11/2026 at 09:00 in the province.
NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
AGENCY = {"code": "000.00.04.H11", "name": "Sở Kế hoạch và Đầu tư"}


def assignment(code: str = "000.00.04.H11-261125-0001", procedure: str = "1.001612.000.00.00.H11") -> dict:
    return {
        "dossier_code": code,
        "procedure_code": procedure,
        "agency": AGENCY,
        "deadline": dt.date(2026, 11, 30),
    }


def test_the_default_profile_covers_the_catalogue_and_a_typo_is_refused() -> None:
    from egov.platform.province import get_province

    # Both province files (before and after the 2025 merger): their procedure codes differ.
    catalogues = {p.code for slug in ("binh-thuan", "lam-dong") for p in get_province(slug).procedures}
    assert set(PROFILE.procedures) == catalogues
    with pytest.raises(ValidationError):
        Profile.model_validate({"default": {"duration_days": 1, "suplement_chance": 0.5}})


def test_the_plan_is_drawn_from_the_seed_and_the_dossier_only() -> None:
    sure = Behaviour(duration_days=1, supplement_chance=1.0, reject_chance=1.0)
    never = Behaviour(duration_days=1)
    assert plan(sure, seed=1, dossier_code="a") == {"supplement": True, "decision": "REJECTED"}
    assert plan(never, seed=1, dossier_code="a") == {"supplement": False, "decision": "APPROVED"}
    half = Behaviour(duration_days=1, supplement_chance=0.5, reject_chance=0.5)
    draws = [plan(half, seed=3, dossier_code=f"d{i}") for i in range(200)]
    assert draws == [plan(half, seed=3, dossier_code=f"d{i}") for i in range(200)]
    assert draws != [plan(half, seed=4, dossier_code=f"d{i}") for i in range(200)]
    assert 60 < sum(d["supplement"] for d in draws) < 140


def test_the_department_acts_on_working_days_and_decides_after_a_supplement() -> None:
    profile = Profile(default=Behaviour(duration_days=4, supplement_chance=1.0))
    desk = CaseDesk(profile, seed=1, timezone="Asia/Ho_Chi_Minh")
    case, action, at = desk.assigned(None, assignment(), NOW)
    # Half of 4 working days from Wednesday: Friday 27/11 at 09:00 in the province.
    assert (action, at) == (SUPPLEMENT, dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC))
    case, request = desk.supplement_request(case, at)
    assert request["missing_items"] and request["requested_by"] == AGENCY
    case, action, at = desk.assigned(case, assignment(), dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC))
    # Four working days after Tuesday 1/12: Monday 7/12.
    assert (action, at.date(), case["assignments"]) == (DECIDE, dt.date(2026, 12, 7), 2)
    case, decision = desk.decision(case, at, official_of(AGENCY))
    assert get_validator().validate_event("vn.egov.dossier.AgencyDecisionMade", decision) == []
    assert case["next"] == "done"


def test_a_refusal_carries_its_reason() -> None:
    desk = CaseDesk(
        Profile(default=Behaviour(duration_days=0, reject_chance=1.0)), seed=1, timezone="Asia/Ho_Chi_Minh"
    )
    case, action, at = desk.assigned(None, assignment(), NOW)
    assert action == DECIDE and at == NOW
    _, decision = desk.decision(case, at, official_of(AGENCY))
    assert decision["decision"] == "REJECTED" and decision["reason"]
    assert get_validator().validate_event("vn.egov.dossier.AgencyDecisionMade", decision) == []


def test_a_payment_reference_is_settled_once() -> None:
    request = {
        "dossier_code": "d",
        "payment_reference": "PAY-1",
        "amount": {"amount": 50000, "currency": "VND"},
    }
    ledger, settlement = settle(None, request, now=NOW, seed=1, online_share=1.0)
    assert (
        settlement is not None
        and settlement["paid_online"] is True
        and settlement["amount"]["amount"] == 50000
    )
    again, none = settle(ledger, request, now=NOW, seed=1, online_share=1.0)
    assert none is None and again == ledger
    _, other = settle(ledger, request | {"payment_reference": "PAY-2"}, now=NOW, seed=1, online_share=0.0)
    assert other is not None and other["paid_online"] is False
    with pytest.raises(PaymentRefused, match="cannot collect 0 VND"):
        settle(
            None, request | {"amount": {"amount": 0, "currency": "VND"}}, now=NOW, seed=1, online_share=1.0
        )
