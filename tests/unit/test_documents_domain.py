"""The document system's rules: drafts, the outgoing register, issue, what a recipient reports, recalls."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import pytest

from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes
from egov.contracts.validation import get_validator
from egov.platform.province import get_province
from services.documents.domain import (
    DocumentRefused,
    InvalidDraft,
    answer_recall,
    arrival,
    complete,
    content_problem,
    document_id,
    issue,
    number,
    officer_of,
    open_outgoing,
    recall,
    record_status,
    registered,
    signer_problem,
    validate_draft,
)

PROVINCE = get_province("binh-thuan")
NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
A, B = "000.00.04.H11", "000.00.16.H11"
CONTENT = "Công văn thử nghiệm".encode()
BODY = {
    "issuing_agency": A,
    "recipients": [B],
    "document_type": "Công văn",
    "symbol": "SKHĐT-KT",
    "summary": "Về việc phối hợp",
    "signer": {"official_id": "a/gd", "full_name": "Trần Văn Minh", "position": "Giám đốc"},
    "file_name": "cv.txt",
    "media_type": "text/plain",
    "content_base64": base64.b64encode(CONTENT).decode(),
}


def valid(event_type: str, body: dict[str, Any]) -> None:
    assert get_validator().validate_event(event_type, body) == [], body
    get_registry().encode(event_type, body)


def errors(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidDraft) as caught:
        validate_draft(body, PROVINCE)
    return {e.path: e.message for e in caught.value.errors}


def test_a_draft_names_each_wrong_field() -> None:
    found = errors(
        {
            **BODY,
            "issuing_agency": "000.00.99.H11",
            "recipients": [A, "x"],
            "signer": {**BODY["signer"], "position": "Chuyên viên"},
            "content_base64": "***",
        }
    )
    assert set(found) >= {"issuing_agency", "recipients.1", "signer.position", "content_base64"}
    assert "may not sign" in found["signer.position"]
    assert errors({**BODY, "recipients": [A]})["recipients.0"] == "is the issuing agency itself"


def test_the_register_numbers_per_agency_and_year_and_gives_a_redelivered_draft_its_number() -> None:
    first, register = number(None, "d1", 2026)
    second, register = number(register, "d2", 2026)
    again, same = number(register, "d1", 2026)
    new_year, _ = number(register, "d3", 2027)
    assert (first, second, again, new_year) == (1, 2, 1, 1) and same == register
    assert document_id(A, dt.date(2026, 11, 25), 2, "SKHĐT-KT") == f"{A},2026/11/25,2/SKHĐT-KT"


def outgoing_state() -> dict[str, Any]:
    draft = {**validate_draft(BODY, PROVINCE), "draft_id": "d1"}
    record = registered(draft, number=7, promulgation=dt.date(2026, 11, 25), now=NOW)
    valid(EventTypes.DOCUMENT_REGISTERED, record)
    step = open_outgoing(record, NOW)
    for event_type, body in step.events:
        valid(event_type, body)
    return step.state


def test_a_signed_document_is_issued_with_its_file_signature_and_chain() -> None:
    state = outgoing_state()
    signed = {
        "document_id": state["document_id"],
        "content_sha256": hashlib.sha256(CONTENT).hexdigest(),
        "signature": b"sig",
        "certificate_chain": ["pem"],
    }
    step = issue(state, signed, NOW)
    [(event_type, issued)] = step.events
    valid(event_type, issued)
    assert issued["content_data"] == CONTENT and step.state["status"] == "issued"
    with pytest.raises(DocumentRefused, match="not waiting for a signature"):
        issue(step.state, signed, NOW)
    with pytest.raises(DocumentRefused, match="covers other content"):
        issue(state, {**signed, "content_sha256": "0" * 64}, NOW)
    valid(EventTypes.DOCUMENT_RECALL_REQUESTED, recall(step.state, state["document_id"], "Sai sót", NOW))
    with pytest.raises(DocumentRefused, match="nothing to recall"):
        recall(state, state["document_id"], "Sai sót", NOW)


def issued_document() -> dict[str, Any]:
    return {
        "document_id": f"{A},2026/11/25,7/SKHĐT-KT",
        "content": {"sha256": hashlib.sha256(CONTENT).hexdigest()},
        "content_data": CONTENT,
    }


def test_a_recipient_reports_01_then_02_with_the_reason_or_03_04_05_then_06() -> None:
    recipient = {"code": B, "name": "Sở Xây dựng"}
    refused, packets = arrival(
        issued_document(),
        recipient,
        ("expired", "certificate CN=x was not valid"),
        officer_of(recipient),
        NOW,
    )
    assert [p["status"] for p in packets] == ["ARRIVED", "REFUSED"]
    assert "không còn hiệu lực" in packets[1]["description"] and "was not valid" in packets[1]["description"]
    for p in packets:
        valid(EventTypes.DOCUMENT_STATUS_PACKET, p)
    assert complete(refused, issued_document()["document_id"], NOW) is None
    taken, packets = arrival(issued_document(), recipient, None, officer_of(recipient), NOW)
    assert [p["status"] for p in packets] == ["ARRIVED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS"]
    assert packets[0]["response_for"] == {
        "organ_id": A,
        "code": "7/SKHĐT-KT",
        "promulgation_date": dt.date(2026, 11, 25),
    }
    done = complete(taken, issued_document()["document_id"], NOW)
    assert done is not None and done[1]["status"] == "COMPLETED"
    valid(EventTypes.DOCUMENT_STATUS_PACKET, done[1])


def test_a_recall_is_accepted_before_completion_and_refused_after() -> None:
    recipient = {"code": B, "name": "Sở Xây dựng"}
    request = {"document_id": issued_document()["document_id"], "reason": "Sai sót"}
    busy, _ = arrival(issued_document(), recipient, None, officer_of(recipient), NOW)
    accepted = answer_recall(busy, request, NOW)
    assert accepted is not None and accepted[1]["status"] == "RECALL_ACCEPTED"
    assert complete(accepted[0], request["document_id"], NOW) is None  # a recalled document is not processed
    done = complete(busy, request["document_id"], NOW)
    assert done is not None
    refused = answer_recall(done[0], request, NOW)
    assert refused is not None and refused[1]["status"] == "RECALL_REFUSED"
    assert answer_recall(None, request, NOW) is None


def test_a_file_missing_or_not_the_one_named_is_a_problem() -> None:
    assert content_problem(issued_document()) is None
    assert content_problem({**issued_document(), "content_data": None})[0] == "no_content"  # type: ignore[index]
    assert content_problem({**issued_document(), "content_data": b"other"})[0] == "content_changed"  # type: ignore[index]


def test_the_sender_records_each_recipients_status_and_refuses_packets_for_unknown_documents() -> None:
    state = outgoing_state()
    packet = {
        "document_id": state["document_id"],
        "sender": {"code": B},
        "status": "ARRIVED",
        "description": "x",
        "timestamp": NOW,
    }
    assert record_status(state, packet)["statuses"][B] == [
        {"status": "ARRIVED", "description": "x", "at": NOW.isoformat()}
    ]
    with pytest.raises(DocumentRefused, match="did not issue"):
        record_status(None, packet)


def test_only_an_authorised_official_of_the_issuing_agency_makes_its_document() -> None:
    assert signer_problem(A, "Giám đốc", A) is None
    assert signer_problem(B, "Giám đốc", A) == (
        "not_authorised",
        f"signed by an official of {B}, not of the issuing agency {A}",
    )
    assert signer_problem(A, "Chuyên viên", A)[0] == "not_authorised"  # type: ignore[index]
