import datetime as dt
import random

import pytest

from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes
from egov.platform.province import get_province
from egov.tools.samples import submission
from services.portal.domain import (
    InvalidSubmission,
    apply_event,
    public_view,
    submission_event,
    validate_submission,
    validate_supplement,
)

CATALOGUE = {p.code: p for p in get_province("binh-thuan").procedures}
TODAY = dt.date(2026, 11, 24)
SYMBOLS = get_registry().get("vn.egov.dossier.DossierStatus").schema["symbols"]


def errors_of(body: object) -> dict[str, str]:
    with pytest.raises(InvalidSubmission) as caught:
        validate_submission(body, today=TODAY, catalogue=CATALOGUE)
    return {e.path: e.message for e in caught.value.errors}


def test_a_sample_submission_is_valid_and_its_event_matches_the_contract() -> None:
    body = submission(random.Random(1), CATALOGUE)
    valid = validate_submission(body, today=TODAY, catalogue=CATALOGUE)
    event = submission_event(
        valid, submission_id="s-1", submitted_at=dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    )
    get_registry().validate("vn.egov.dossier.DossierSubmitted", event)
    assert event["applicant"]["date_of_birth"] == dt.date.fromisoformat(body["applicant"]["date_of_birth"])


def test_each_wrong_field_is_named_with_its_dotted_path() -> None:
    body = submission(random.Random(2), CATALOGUE)
    body["applicant"]["sex"] = "X"
    body["attachments"][0]["size_bytes"] = "big"
    body["channel"] = "FAX"
    errors = errors_of(body)
    assert set(errors) == {"applicant.sex", "attachments.0.size_bytes", "channel"}


def test_regulation_rules_name_their_field() -> None:
    body = submission(random.Random(3), CATALOGUE)
    body["applicant"]["id_number"] = "12345"
    body["attachments"][0]["sha256"] = "nope"
    body["contact"] = {"phone": None, "email": None, "notify_by": "SMS"}
    errors = errors_of(body)
    assert errors["applicant.id_number"] == "must be exactly 12 digits"
    assert "SHA-256" in errors["attachments.0.sha256"]
    assert errors["contact.phone"] == "is needed to notify by SMS"


def test_unknown_procedures_and_future_birth_dates_are_refused() -> None:
    body = submission(random.Random(4), CATALOGUE)
    body["procedure_code"] = "1.000001.000.00.00.H11"
    body["applicant"]["date_of_birth"] = "2030-01-01"
    errors = errors_of(body)
    assert "catalogue" in errors["procedure_code"]
    assert "future" in errors["applicant.date_of_birth"]


def test_unknown_and_server_set_fields_are_refused() -> None:
    body = submission(random.Random(5), CATALOGUE)
    body["password"] = "x"
    body["submission_id"] = "mine"
    assert {"password", "submission_id"} <= set(errors_of(body))


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert errors_of([1, 2]) == {"(body)": "must be a JSON object"}


CODE = "000.00.04.H11-261125-0001"
RECEIVED = {
    "dossier_code": CODE,
    "submission_id": "s-1",
    "procedure_code": next(iter(CATALOGUE)),
    "procedure_name": "x",
    "receiving_agency_code": "000.00.04.H11",
    "responsible_agency_code": "000.00.04.H11",
    "channel": "ONLINE",
    "status": "NEWLY_REGISTERED",
    "received_at": dt.datetime(2026, 11, 24, 18, 35, tzinfo=dt.UTC),
    "appointment_date": dt.date(2026, 11, 30),
    "applicant": {"id_number": "060185123456"},
    "contact": {"phone": "0912345678"},
}


def changed(to: str, minute: int, reason: str | None = None) -> dict:
    return {
        "dossier_code": CODE,
        "from_status": None,
        "to_status": to,
        "reason": reason,
        "changed_at": dt.datetime(2026, 11, 24, 18, minute, tzinfo=dt.UTC),
    }


def test_the_read_model_applies_an_event_once() -> None:
    once = apply_event(None, EventTypes.DOSSIER_RECEIVED, RECEIVED, event_id="e1", symbols=SYMBOLS)
    assert once is not None
    twice = apply_event(once, EventTypes.DOSSIER_RECEIVED, RECEIVED, event_id="e1", symbols=SYMBOLS)
    assert once == twice
    assert once["status_code"] == 1
    assert once["appointment_date"] == "2026-11-30"
    assert len(once["history"]) == 1


def test_the_read_model_follows_the_journey_and_keeps_no_personal_data() -> None:
    view = apply_event(None, EventTypes.DOSSIER_RECEIVED, RECEIVED, event_id="e1", symbols=SYMBOLS)
    view = apply_event(
        view, EventTypes.DOSSIER_STATUS_CHANGED, changed("ACCEPTED", 36), event_id="e2", symbols=SYMBOLS
    )
    supplement = {"dossier_code": CODE, "missing_items": ["Bản sao"], "reason": "Thiếu", "requested_by": {}}
    view = apply_event(view, EventTypes.SUPPLEMENT_REQUESTED, supplement, event_id="e3", symbols=SYMBOLS)
    again = apply_event(view, EventTypes.SUPPLEMENT_REQUESTED, supplement, event_id="e3", symbols=SYMBOLS)
    view = apply_event(
        view,
        EventTypes.DOSSIER_STATUS_CHANGED,
        changed("SUPPLEMENT_REQUESTED", 37, "Thiếu"),
        event_id="e4",
        symbols=SYMBOLS,
    )
    assert view is not None and again is not None
    assert again["supplement"] == view["supplement"] == {"missing_items": ["Bản sao"], "reason": "Thiếu"}
    assert [(s["status"], s["status_code"]) for s in view["history"]] == [
        ("NEWLY_REGISTERED", 1),
        ("ACCEPTED", 2),
        ("SUPPLEMENT_REQUESTED", 5),
    ]
    assert view["history"][-1]["reason"] == "Thiếu"
    view = apply_event(
        view, EventTypes.DOSSIER_STATUS_CHANGED, changed("IN_PROGRESS", 38), event_id="e5", symbols=SYMBOLS
    )
    assert view is not None and "supplement" not in view
    shown = public_view(view)
    assert "seen" not in shown and "060185123456" not in str(shown) and "0912345678" not in str(shown)


def test_a_supplement_needs_at_least_one_valid_file() -> None:
    with pytest.raises(InvalidSubmission) as caught:
        validate_supplement({"attachments": []}, today=TODAY)
    assert [e.path for e in caught.value.errors] == ["attachments"]
    with pytest.raises(InvalidSubmission) as caught:
        validate_supplement({"attachments": [{"file_name": "a.pdf"}]}, today=TODAY)
    assert {e.path for e in caught.value.errors} >= {"attachments.0.media_type", "attachments.0.sha256"}


def test_numbers_beyond_avro_long_are_refused_at_the_edge() -> None:
    body = submission(random.Random(6), CATALOGUE)
    body["attachments"][0]["size_bytes"] = 10**20
    assert "attachments.0.size_bytes" in errors_of(body)


def test_an_idempotency_key_gives_the_same_ids_every_time() -> None:
    from services.portal.domain import submission_identity

    assert submission_identity("k-1") == submission_identity("k-1")
    assert submission_identity("k-1")[0] != submission_identity("k-2")[0]
    assert submission_identity(None)[1] is None
    with pytest.raises(ValueError, match="200"):
        submission_identity("x" * 201)
