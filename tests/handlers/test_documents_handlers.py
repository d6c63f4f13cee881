"""The document system's wiring on the fake runtime: an outgoing document submitted by an official of its
agency, numbered, approved by its signer signed in just now, signed and issued; an incoming one verified and
answered with status packets. The signing platform's own wiring, on a second fake runtime sharing the test
CA's folder, makes the signatures."""

from __future__ import annotations

import random
from typing import Any

import pytest

from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import get_province
from egov.runtime.retries import TryLater
from egov.runtime.testing import FakeRuntime, Published
from egov.tools.samples import official_document
from services.documents.app import build
from services.signing.app import build as build_signing
from tests.handlers.conftest import official

LETTER = official_document(random.Random(7), get_province("binh-thuan"))
AGENCY = str(LETTER["issuing_agency"])
SIGNER = official(AGENCY, "leader", official_id=LETTER["signer"]["official_id"])  # type: ignore[index]
CLERK = official(AGENCY, "clerk")


def registered(documents: FakeRuntime, body: dict[str, Any] | None = None) -> Published:
    """Given a letter submitted by its agency's clerk and numbered: its DocumentRegistered."""
    answer = documents.request(
        "POST",
        "/api/v1/documents",
        json={k: v for k, v in (body or LETTER).items() if k != "issuing_agency"},  # the token says which
        headers={"Idempotency-Key": "l-1", **documents.bearer(CLERK)},
    )
    assert answer.status == 202, answer.body
    [registration] = documents.pump()
    return registration


def approve(documents: FakeRuntime, document: str, person: Any = SIGNER) -> Any:
    return documents.request(
        "POST", "/api/v1/documents/approve", query=[("id", document)], headers=documents.bearer(person)
    )


def test_an_outgoing_document_is_numbered_and_waits_for_its_signer(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    registration = registered(documents)
    assert registration.type == EventTypes.DOCUMENT_REGISTERED
    assert registration.record["document_id"].startswith(f"{AGENCY},")
    assert registration.record["document_id"].split(",")[2].startswith("1/")  # the first of its register
    assert registration.record["drafted_by"]["agency_code"] == AGENCY
    [drafted] = documents.on(Topics.DOCUMENT_DRAFTS)
    assert drafted.key == AGENCY  # drafts are keyed by their agency: one numbering writer
    assert drafted.record["drafted_by"]["position"] == "clerk"
    # nothing is approved or signed until the signer says so
    assert not [p for p in documents.published if p.type == EventTypes.SIGNATURE_REQUESTED]
    draft_id = drafted.record["draft_id"]
    found = documents.request("GET", f"/api/v1/drafts/{draft_id}", headers=documents.bearer(CLERK)).body
    assert found["document_id"] == registration.record["document_id"] and found["status"] == "registered"
    assert found["links"]["document"].startswith("/api/v1/documents/by-id?id=")
    # another agency's official does not find it
    stranger = documents.bearer(official("000.00.15.H11", "clerk"))
    other = documents.request("GET", f"/api/v1/drafts/{draft_id}", headers=stranger)
    assert (other.status, other.body["document_id"]) == (200, None)


def test_only_the_signer_signed_in_just_now_approves_the_signature(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    document = registered(documents).record["document_id"]
    # a clerk may not approve; another leader is not the signer; a signer signed in long ago signs in again
    clerk = approve(documents, document, CLERK)
    assert (clerk.status, clerk.body["errors"][0]["field"]) == (403, "Authorization")
    other = approve(documents, document, official(AGENCY, "leader", official_id=f"{AGENCY}/lanh-dao-02"))
    assert (other.status, other.body["errors"][0]["field"]) == (403, "signer")
    stale = approve(
        documents, document, official(AGENCY, "leader", official_id=SIGNER.official_id, minutes_ago=10)
    )
    assert (stale.status, stale.body["errors"][0]["field"]) == (401, "Authorization")
    foreign = approve(
        documents, document, official("000.00.15.H11", "leader", official_id=SIGNER.official_id)
    )
    assert foreign.status == 403
    assert not [p for p in documents.published if p.type == EventTypes.DOCUMENT_APPROVED]
    # the signer, just signed in, approves: the approval names them as they signed in; the signature is asked
    answer = approve(documents, document)
    assert answer.status == 202
    approved, requested = documents.published[-2:]
    assert approved.type == EventTypes.DOCUMENT_APPROVED
    assert approved.record["approved_by"]["official_id"] == SIGNER.official_id
    assert approved.record["approved_by_person"] == SIGNER.actor()
    assert approved.record["authenticated_at"] is not None
    assert requested.type == EventTypes.SIGNATURE_REQUESTED


def test_an_official_issues_only_for_their_own_agency(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    answer = documents.request(
        "POST",
        "/api/v1/documents",
        json={**LETTER, "issuing_agency": "000.00.15.H11"},
        headers=documents.bearer(CLERK),
    )
    assert answer.status == 403
    assert answer.body["errors"][0]["field"] == "issuing_agency"
    citizen_like = documents.request("POST", "/api/v1/documents", json=LETTER)
    assert citizen_like.status == 401
    assert documents.published == []


def test_a_signed_document_is_issued_and_verified_by_its_recipient(start) -> None:  # type: ignore[no-untyped-def]
    # Given a document its signer approved, and the signing platform (its CA in the same state folder)
    documents = start(build)
    document = registered(documents).record["document_id"]
    approve(documents, document)
    approved, request = documents.published[-2:]
    signing = start(build_signing)
    signing.deliver(
        Topics.OUTGOING_DOCUMENTS, approved.record, key=document, event_type=EventTypes.DOCUMENT_APPROVED
    )
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
    for code in {r["code"] for r in issued.record["recipients"]}:
        mine = [p.record["status"] for p in packets if p.record["sender"]["code"] == code]
        assert mine == ["ARRIVED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS"], code
    # and the sender's officials see each recipient's statuses; a third agency's do not
    view = documents.request(
        "GET", "/api/v1/documents/by-id", query=[("id", document)], headers=documents.bearer(CLERK)
    )
    assert view.status == 200 and view.body["outgoing"]["status"] == "issued"
    parties = {AGENCY, *(r["code"] for r in issued.record["recipients"])}
    outsider = next(a.code for a in get_province("binh-thuan").agencies if a.code not in parties)
    third = documents.bearer(official(outsider, "clerk"))
    refused = documents.request("GET", "/api/v1/documents/by-id", query=[("id", document)], headers=third)
    assert refused.status == 403


def test_an_incoming_document_waits_for_the_trust_store_rather_than_being_refused(start) -> None:  # type: ignore[no-untyped-def]
    # Given a document system whose signing platform has not published its trust store yet
    documents = start(build)
    document = registered(documents).record["document_id"]
    approve(documents, document)
    approved, request = documents.published[-2:]
    signing = start(build_signing)
    signing.deliver(
        Topics.OUTGOING_DOCUMENTS, approved.record, key=document, event_type=EventTypes.DOCUMENT_APPROVED
    )
    [signature] = signing.deliver(
        Topics.OUTGOING_DOCUMENTS, request.record, key=request.key, event_type=EventTypes.SIGNATURE_REQUESTED
    )
    [issued] = documents.deliver(Topics.SIGNATURES, signature.record, key=signature.key)
    (documents.settings.ca_directory / "public" / "root.pem").unlink()
    # When the signed document arrives, Then the event is tried again later, never dead-lettered
    with pytest.raises(TryLater, match="no trusted root"):
        documents.deliver(
            Topics.LGSP_DOCUMENTS, issued.record, key=issued.key, event_type=EventTypes.DOCUMENT_ISSUED
        )
    assert documents.dead_letters == []


def test_a_recall_of_an_unknown_document_is_a_409(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    answer = documents.request(
        "POST",
        "/api/v1/documents/recall",
        json={"reason": "sai sót"},
        query=[("id", "000.00.04.H11,2026/11/24,9/CV")],
        headers=documents.bearer(SIGNER),
    )
    assert answer.status == 409
    assert answer.body["errors"][0]["field"] == "document_id"


def test_a_draft_naming_an_agency_the_province_lacks_is_a_422(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    answer = documents.request(
        "POST",
        "/api/v1/documents",
        json={**LETTER, "recipients": ["000.00.99.H11"]},
        headers=documents.bearer(CLERK),
    )
    assert answer.status == 422
    assert [e["field"] for e in answer.body["errors"]] == ["recipients.0"]
    assert documents.published == []


def test_an_empty_key_and_a_body_not_an_object_are_named_in_the_errors(start) -> None:  # type: ignore[no-untyped-def]
    documents = start(build)
    answer = documents.request(
        "POST", "/api/v1/documents", json={**LETTER, "": 1}, headers=documents.bearer(CLERK)
    )
    assert answer.status == 422
    assert [(e["field"], e["rule"]) for e in answer.body["errors"]] == [('""', "extra_forbidden")]
    answer = documents.request("POST", "/api/v1/documents", json=[LETTER], headers=documents.bearer(CLERK))
    assert answer.status in (400, 422)
    assert all(e["field"] for e in answer.body["errors"]), answer.body
    assert documents.published == []
