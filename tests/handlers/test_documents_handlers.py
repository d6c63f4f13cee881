"""The document system's wiring on the fake runtime: an outgoing document numbered, approved, sent for
signature and issued; an incoming one verified and answered with status packets. The signing platform's own
wiring, on a second fake runtime sharing the test CA's folder, makes the signatures."""

from __future__ import annotations

import random

import pytest

from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import get_province
from egov.runtime.retries import TryLater
from egov.runtime.testing import FakeRuntime, Published
from egov.tools.samples import official_document
from services.documents.app import build
from services.signing.app import build as build_signing


def a_letter() -> dict[str, object]:
    return official_document(random.Random(7), get_province("binh-thuan"))


def submitted(documents: FakeRuntime) -> list[Published]:
    """Given a letter submitted through the API and numbered: what the document system published."""
    answer = documents.request(
        "POST", "/api/v1/documents", json=a_letter(), headers={"Idempotency-Key": "l-1"}
    )
    assert answer.status == 202
    return documents.pump()


def test_an_outgoing_document_is_numbered_approved_and_sent_for_signature(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    out = submitted(documents)
    assert [p.type for p in out] == [
        EventTypes.DOCUMENT_REGISTERED,
        EventTypes.DOCUMENT_APPROVED,
        EventTypes.SIGNATURE_REQUESTED,
    ]
    registered = out[0]
    letter = a_letter()
    assert registered.record["document_id"].startswith(f"{letter['issuing_agency']},")
    assert registered.record["document_id"].split(",")[2].startswith("1/")  # the first of its register
    [drafted] = documents.on(Topics.DOCUMENT_DRAFTS)
    assert drafted.key == letter["issuing_agency"]  # drafts are keyed by their agency: one numbering writer
    # and the draft look-up names the document
    draft_id = drafted.record["draft_id"]
    found = documents.request("GET", f"/api/v1/drafts/{draft_id}").body
    assert found == {"draft_id": draft_id, "document_id": registered.record["document_id"]}


def test_a_signed_document_is_issued_and_verified_by_its_recipient(start) -> None:  # type: ignore[no-untyped-def]
    # Given a document sent for signature, and the signing platform (its CA in the same state folder)
    documents = start(build)
    request = submitted(documents)[-1]
    signing = start(build_signing)
    # When the signing platform signs it and the document system gets the signature
    [signature] = signing.deliver(
        Topics.OUTGOING_DOCUMENTS, request.record, key=request.key, event_type=EventTypes.SIGNATURE_REQUESTED
    )
    [issued] = documents.deliver(Topics.SIGNATURES, signature.record, key=signature.key)
    # Then it is issued with its file and signature, for the LGSP to route
    assert issued.type == EventTypes.DOCUMENT_ISSUED
    assert issued.record["signature"] == signature.record["signature"]
    # When it reaches its recipients (served by this same system), Then each verifies it and reports 01, 03,
    # 04, 05 to the sender
    packets = documents.deliver(
        Topics.LGSP_DOCUMENTS, issued.record, key=issued.key, event_type=EventTypes.DOCUMENT_ISSUED
    )
    recipients = {r["code"] for r in issued.record["recipients"]}
    for code in recipients:
        mine = [p.record["status"] for p in packets if p.record["sender"]["code"] == code]
        assert mine == ["ARRIVED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS"], code


def test_an_incoming_document_waits_for_the_trust_store_rather_than_being_refused(start) -> None:  # type: ignore[no-untyped-def]
    # Given a document system whose signing platform has not published its trust store yet
    documents = start(build)
    signing_request = submitted(documents)[-1]
    issued = {**signing_request.record}
    # When a signed document arrives, Then the event is tried again later, never dead-lettered
    signing = start(build_signing)
    [signature] = signing.deliver(
        Topics.OUTGOING_DOCUMENTS, issued, key=signing_request.key, event_type=EventTypes.SIGNATURE_REQUESTED
    )
    [document] = documents.deliver(Topics.SIGNATURES, signature.record, key=signature.key)
    (documents.settings.ca_directory / "public" / "root.pem").unlink()
    with pytest.raises(TryLater, match="no trusted root"):
        documents.deliver(
            Topics.LGSP_DOCUMENTS, document.record, key=document.key, event_type=EventTypes.DOCUMENT_ISSUED
        )
    assert documents.dead_letters == []


def test_a_recall_of_an_unknown_document_is_a_409(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    answer = documents.request(
        "POST",
        "/api/v1/documents/recall",
        json={"reason": "sai sót"},
        query=[("id", "000.00.04.H11,2026/11/24,9/CV")],
    )
    assert answer.status == 409
    assert answer.body["errors"][0]["field"] == "document_id"


def test_a_draft_naming_an_agency_the_province_lacks_is_a_422(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    letter = {**a_letter(), "recipients": ["000.00.99.H11"]}
    answer = documents.request("POST", "/api/v1/documents", json=letter)
    assert answer.status == 422
    assert [e["field"] for e in answer.body["errors"]] == ["recipients.0"]
    assert documents.published == []
