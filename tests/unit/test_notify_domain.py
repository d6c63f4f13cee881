import datetime as dt
import json
import uuid

import pytest

from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes
from egov.contracts.validation import get_validator
from services.notify.domain import (
    FEE_REQUESTED,
    NOT_ACCEPTED,
    OVERDUE_APOLOGY,
    RECEIVED,
    REJECTED,
    RESULT_READY,
    SUPPLEMENT_REQUESTED,
    TEMPLATES,
    DossierFacts,
    Notice,
    facts_from_received,
    format_vnd,
    mask_recipient,
    notice_for,
    notification_event,
    notification_id,
    recipient,
    remember,
    with_new_appointment,
)

CODE = "000.00.12.H11-261125-0001"
PROCEDURE = "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam"
AT = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
AGENCY = {"code": "000.00.12.H11", "name": "Sở Tư pháp"}
CONTACT = {"phone": "0912345678", "email": "lan.nguyen@example.vn", "notify_by": "SMS", "address": None}
RECEIVED_RECORD = {
    "dossier_code": CODE,
    "submission_id": "5b0f6c1e-2f0a-4c55-9d3e-0c1f1f7b9a10",
    "procedure_code": "1.001612.000.00.00.H11",
    "procedure_name": PROCEDURE,
    "receiving_agency_code": "000.00.12.H11",
    "responsible_agency_code": "000.00.12.H11",
    "channel": "ONLINE",
    "status": "ACCEPTED",
    "received_at": AT,
    "receipt_date": dt.date(2026, 11, 25),
    "processing_days": 10,
    "appointment_date": dt.date(2026, 12, 9),
}
FACTS = facts_from_received(RECEIVED_RECORD, contact=CONTACT)


def status_changed(to_status: str, reason: str | None = None, from_status: str | None = None) -> dict:
    return {
        "dossier_code": CODE,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "changed_at": AT,
    }


# -- facts --------------------------------------------------------------------------------------------------
def test_facts_keep_what_later_events_lack_and_survive_a_json_table() -> None:
    assert FACTS.dossier_code == CODE
    assert FACTS.procedure_name == PROCEDURE
    assert FACTS.appointment_date == "2026-12-09"
    assert FACTS.appointment == dt.date(2026, 12, 9)
    assert FACTS.contact == CONTACT
    stored = json.loads(json.dumps(FACTS.as_dict()))
    assert DossierFacts.from_dict(stored) == FACTS


def test_facts_take_the_contact_from_the_record_when_it_carries_one() -> None:
    with_address = {
        **CONTACT,
        "address": {
            "street": "12 Trần Hưng Đạo",
            "ward": "Phú Trinh",
            "district": None,
            "province": "Bình Thuận",
        },
    }
    facts = facts_from_received({**RECEIVED_RECORD, "contact": with_address})
    assert facts.contact == with_address
    assert facts.as_dict()["contact"]["address"]["province"] == "Bình Thuận"


def test_facts_without_a_contact_are_an_error() -> None:
    with pytest.raises(ValueError, match="contact"):
        facts_from_received(RECEIVED_RECORD)
    with pytest.raises(ValueError, match="contact"):
        facts_from_received({**RECEIVED_RECORD, "contact": None})


def test_the_facts_do_not_share_the_callers_contact() -> None:
    contact = dict(CONTACT)
    facts = facts_from_received(RECEIVED_RECORD, contact=contact)
    contact["phone"] = "0987654321"
    assert facts.contact["phone"] == "0912345678"


def test_a_new_appointment_replaces_the_promised_date_only() -> None:
    moved = with_new_appointment(FACTS, dt.date(2026, 12, 16))
    assert moved.appointment_date == "2026-12-16"
    assert (moved.dossier_code, moved.procedure_name, moved.contact) == (CODE, PROCEDURE, CONTACT)
    assert FACTS.appointment_date == "2026-12-09"
    notice = notice_for(EventTypes.DOSSIER_STATUS_CHANGED, status_changed("ACCEPTED"), moved)
    assert notice is not None and "16/12/2026" in notice.message


# -- notices ------------------------------------------------------------------------------------------------
def test_acceptance_tells_the_code_the_procedure_and_the_appointment_date() -> None:
    notice = notice_for(
        EventTypes.DOSSIER_STATUS_CHANGED, status_changed("ACCEPTED", None, "NEWLY_REGISTERED"), FACTS
    )
    assert notice == Notice(
        RECEIVED,
        f"Hồ sơ {CODE} ({PROCEDURE}) đã được tiếp nhận. Ngày hẹn trả kết quả: 09/12/2026.",
    )


def test_acceptance_with_a_reason_adds_it_as_a_note() -> None:
    reason = "Chưa xác thực được thông tin công dân qua Cơ sở dữ liệu quốc gia về dân cư"
    notice = notice_for(EventTypes.DOSSIER_STATUS_CHANGED, status_changed("ACCEPTED", reason), FACTS)
    assert notice is not None and notice.template == RECEIVED
    assert notice.message.startswith(f"Hồ sơ {CODE}")
    assert "09/12/2026" in notice.message
    assert f"Ghi chú: {reason}." in notice.message


def test_refusal_at_reception_gives_the_reason() -> None:
    reason = "Thủ tục không thuộc thẩm quyền tiếp nhận"
    notice = notice_for(EventTypes.DOSSIER_STATUS_CHANGED, status_changed("NOT_ACCEPTED", reason), FACTS)
    assert notice is not None and notice.template == NOT_ACCEPTED
    assert notice.message.startswith(f"Hồ sơ {CODE}")
    assert "không được tiếp nhận" in notice.message
    assert f"Lý do: {reason}." in notice.message


def test_a_stopped_dossier_is_told_as_not_granted_with_the_reason() -> None:
    reason = "Người yêu cầu không đủ điều kiện cấp phiếu."
    notice = notice_for(
        EventTypes.DOSSIER_STATUS_CHANGED, status_changed("STOPPED", reason, "IN_PROGRESS"), FACTS
    )
    assert notice is not None and notice.template == REJECTED
    assert notice.message.startswith(f"Hồ sơ {CODE}")
    assert "không được giải quyết" in notice.message
    assert reason in notice.message
    assert ".." not in notice.message


def test_a_supplement_request_lists_what_is_missing_and_says_processing_is_paused() -> None:
    record = {
        "dossier_code": CODE,
        "missing_items": ["Bản sao CCCD", "Tờ khai có chữ ký"],
        "reason": "Hồ sơ thiếu giấy tờ",
        "requested_by": AGENCY,
        "requested_at": AT,
    }
    notice = notice_for(EventTypes.SUPPLEMENT_REQUESTED, record, FACTS)
    assert notice is not None and notice.template == SUPPLEMENT_REQUESTED
    assert notice.message.startswith(f"Hồ sơ {CODE}")
    assert "Bản sao CCCD; Tờ khai có chữ ký" in notice.message
    assert "Hồ sơ thiếu giấy tờ" in notice.message
    assert "tạm dừng xử lý" in notice.message
    assert "Cổng dịch vụ công" in notice.message


def test_a_fee_request_gives_the_amount_in_dong_the_reference_and_the_due_date() -> None:
    record = {
        "dossier_code": CODE,
        "payment_reference": "PAY-2026-000123",
        "amount": {"amount": 200000, "currency": "VND"},
        "due_date": dt.date(2026, 12, 2),
        "requested_at": AT,
    }
    notice = notice_for(EventTypes.FEE_REQUESTED, record, FACTS)
    assert notice is not None and notice.template == FEE_REQUESTED
    assert notice.message.startswith(f"Hồ sơ {CODE}")
    assert "200.000 đồng" in notice.message
    assert "PAY-2026-000123" in notice.message
    assert "02/12/2026" in notice.message


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "0 đồng"), (500, "500 đồng"), (50000, "50.000 đồng"), (1234567, "1.234.567 đồng")],
)
def test_amounts_use_dots_between_thousands(amount: int, text: str) -> None:
    assert format_vnd({"amount": amount, "currency": "VND"}) == text


@pytest.mark.parametrize(("electronic", "kind"), [(True, "kết quả điện tử"), (False, "kết quả bản giấy")])
def test_a_result_says_whether_it_is_electronic_and_names_the_document(electronic: bool, kind: str) -> None:
    record = {
        "dossier_code": CODE,
        "electronic": electronic,
        "document_id": "DOC-42",
        "on_time": True,
        "returned_at": AT,
    }
    notice = notice_for(EventTypes.RESULT_RETURNED, record, FACTS)
    assert notice is not None and notice.template == RESULT_READY
    assert notice.message.startswith(f"Hồ sơ {CODE}")
    assert kind in notice.message
    assert "DOC-42" in notice.message


def test_a_result_without_a_document_does_not_mention_one() -> None:
    record = {
        "dossier_code": CODE,
        "electronic": True,
        "document_id": None,
        "on_time": False,
        "returned_at": AT,
    }
    notice = notice_for(EventTypes.RESULT_RETURNED, record, FACTS)
    assert notice is not None
    assert "None" not in notice.message
    assert "mã văn bản" not in notice.message


def test_an_overdue_dossier_gets_the_apology_and_both_dates() -> None:
    record = {
        "dossier_code": CODE,
        "original_appointment_date": dt.date(2026, 12, 9),
        "new_appointment_date": dt.date(2026, 12, 16),
        "apology": "Sở Tư pháp xin lỗi Ông/Bà vì hồ sơ chưa được giải quyết đúng hẹn",
        "responsible_agency": AGENCY,
        "detected_at": AT,
    }
    notice = notice_for(EventTypes.DOSSIER_OVERDUE, record, FACTS)
    assert notice is not None and notice.template == OVERDUE_APOLOGY
    assert notice.message.startswith(f"Hồ sơ {CODE}")
    assert "xin lỗi Ông/Bà vì hồ sơ chưa được giải quyết đúng hẹn." in notice.message
    assert "09/12/2026" in notice.message
    assert "16/12/2026" in notice.message


@pytest.mark.parametrize("to_status", ["IN_PROGRESS", "PROCESSED", "RESULT_RETURNED", "SUPPLEMENT_REQUESTED"])
def test_internal_status_changes_are_not_told(to_status: str) -> None:
    assert notice_for(EventTypes.DOSSIER_STATUS_CHANGED, status_changed(to_status), FACTS) is None


def test_receipt_and_assignment_events_are_not_told() -> None:
    assert notice_for(EventTypes.DOSSIER_RECEIVED, RECEIVED_RECORD, FACTS) is None
    assigned = {
        "dossier_code": CODE,
        "procedure_code": "1.001612.000.00.00.H11",
        "agency": AGENCY,
        "deadline": dt.date(2026, 12, 8),
        "assigned_at": AT,
    }
    assert notice_for(EventTypes.DOSSIER_ASSIGNED, assigned, FACTS) is None


def test_templates_are_listed_once_each() -> None:
    assert set(TEMPLATES) == {
        RECEIVED,
        NOT_ACCEPTED,
        REJECTED,
        SUPPLEMENT_REQUESTED,
        FEE_REQUESTED,
        RESULT_READY,
        OVERDUE_APOLOGY,
    }
    assert len(TEMPLATES) == len(set(TEMPLATES))


# -- recipient and masking ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("notify_by", "expected"),
    [
        ("SMS", ("SMS", "0912345678")),
        ("ZALO", ("ZALO", "0912345678")),
        ("EMAIL", ("EMAIL", "lan.nguyen@example.vn")),
    ],
)
def test_the_recipient_is_on_the_chosen_channel(notify_by: str, expected: tuple[str, str]) -> None:
    assert recipient({**CONTACT, "notify_by": notify_by}) == expected


@pytest.mark.parametrize(("notify_by", "field"), [("SMS", "phone"), ("ZALO", "phone"), ("EMAIL", "email")])
def test_a_channel_without_its_address_names_the_missing_field(notify_by: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        recipient({**CONTACT, field: None, "notify_by": notify_by})


@pytest.mark.parametrize(
    ("channel", "address", "masked"),
    [
        ("SMS", "0912345678", "09*****678"),
        ("ZALO", "0912345678", "09*****678"),
        ("SMS", "+84912345678", "+84******678"),
        ("EMAIL", "lan.nguyen@example.vn", "l***@example.vn"),
    ],
)
def test_the_recipient_is_masked(channel: str, address: str, masked: str) -> None:
    assert mask_recipient(channel, address) == masked
    assert address not in mask_recipient(channel, address)


def test_an_email_without_a_local_part_or_domain_is_masked_entirely() -> None:
    assert mask_recipient("EMAIL", "lan.nguyen") == "***"
    assert mask_recipient("EMAIL", "@example.vn") == "***"


def test_a_short_number_is_masked_entirely() -> None:
    assert mask_recipient("SMS", "12345") == "*****"


# -- never twice --------------------------------------------------------------------------------------------
def test_notification_ids_are_one_per_change_not_per_event() -> None:
    first = notification_id(CODE, RECEIVED)
    assert first == notification_id(CODE, RECEIVED)
    assert uuid.UUID(first).version == 5
    assert first != notification_id("000.00.04.H11-261125-0002", RECEIVED)
    assert first != notification_id(CODE, REJECTED)
    assert notification_id(CODE, FEE_REQUESTED, "PAY-1") != notification_id(CODE, FEE_REQUESTED, "PAY-2")
    with pytest.raises(ValueError, match="template"):
        notification_id(CODE, "no_such_template")


def test_the_same_change_under_another_event_id_is_the_same_notice() -> None:
    facts = facts_from_received(RECEIVED_RECORD, contact=CONTACT)
    once = notice_for(EventTypes.DOSSIER_STATUS_CHANGED, status_changed("ACCEPTED"), facts)
    again = notice_for(EventTypes.DOSSIER_STATUS_CHANGED, status_changed("ACCEPTED"), facts)
    assert once is not None and again is not None
    assert (
        notification_event(facts, once, "event-1", AT)["notification_id"]
        == (notification_event(facts, again, "event-2", AT)["notification_id"])
    )


def test_a_notice_is_remembered_and_its_redelivery_recognised() -> None:
    first = notification_id(CODE, RECEIVED)
    second = notification_id(CODE, FEE_REQUESTED, "PAY-1")
    already, state = remember(None, first)
    assert not already
    assert state == {"sent": [first]}
    already, state = remember(state, second)
    assert not already
    assert state == {"sent": [first, second]}
    again, unchanged = remember(state, first)
    assert again
    assert unchanged == state
    assert json.loads(json.dumps(unchanged)) == unchanged


# -- the published event ------------------------------------------------------------------------------------
@pytest.mark.parametrize("notify_by", ["SMS", "ZALO", "EMAIL"])
def test_the_notification_event_matches_its_contract(notify_by: str) -> None:
    facts = facts_from_received(RECEIVED_RECORD, contact={**CONTACT, "notify_by": notify_by})
    notice = notice_for(EventTypes.DOSSIER_STATUS_CHANGED, status_changed("ACCEPTED"), facts)
    assert notice is not None
    local = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    body = notification_event(facts, notice, "event-1", local)
    assert body["dossier_code"] == CODE
    assert body["notification_id"] == notification_id(CODE, RECEIVED)
    assert body["channel"] == notify_by
    assert body["template"] == RECEIVED
    assert body["message"] == notice.message
    assert body["caused_by"] == "event-1"
    assert body["sent_at"] == AT and body["sent_at"].tzinfo == dt.UTC
    assert "0912345678" not in json.dumps(body, default=str)
    assert "lan.nguyen@example.vn" not in json.dumps(body, default=str)
    assert get_validator().validate_event(EventTypes.NOTIFICATION_SENT, body) == []
    get_registry().encode(EventTypes.NOTIFICATION_SENT, body)


def test_the_notification_event_refuses_a_naive_time() -> None:
    notice = Notice(RECEIVED, "…")
    with pytest.raises(ValueError, match="timezone-aware"):
        notification_event(FACTS, notice, "event-1", dt.datetime(2026, 11, 25, 10, 0))


def test_each_notice_cites_its_own_form_and_a_stopped_dossier_gets_the_stop_notice() -> None:
    from egov.platform.one_stop import get_one_stop_rules
    from services.notify.domain import FORM_OF_TEMPLATE, NOT_ACCEPTED, OVERDUE_APOLOGY

    rules = get_one_stop_rules()
    assert set(FORM_OF_TEMPLATE.values()) <= set(rules.forms)
    assert FORM_OF_TEMPLATE[REJECTED] == "stop_notice" != FORM_OF_TEMPLATE[NOT_ACCEPTED] == "refusal"
    assert rules.form(FORM_OF_TEMPLATE[OVERDUE_APOLOGY]).name.startswith("Phiếu xin lỗi và đề nghị gia hạn")
    # The numbers are data, labelled: 03 refusal, 04 apology and extension, 05 stop notice, none verified.
    assert [rules.form(k).number for k in ("refusal", "apology_extension", "stop_notice")] == [
        "03",
        "04",
        "05",
    ]
    assert not any(rules.form(k).verified for k in ("refusal", "apology_extension", "stop_notice"))
