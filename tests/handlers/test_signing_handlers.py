"""The signing platform's wiring on the fake runtime."""

from __future__ import annotations

import hashlib

from egov.contracts.topics import EventTypes, Topics
from egov.platform.pki import trust_store, verify
from services.signing.app import build
from tests.handlers.conftest import example

CONTENT = b"Quyet dinh so 1520/QD-SKHDT"
REQUEST = example(EventTypes.SIGNATURE_REQUESTED, content_sha256=hashlib.sha256(CONTENT).hexdigest())


def test_the_ca_is_created_when_the_worker_starts(start, settings) -> None:  # type: ignore[no-untyped-def]
    start(build)
    roots, _ = trust_store(settings.ca_directory / "public")
    assert len(roots) == 1


def approval(signer: dict[str, object], **changes: object) -> dict[str, object]:
    person = {"kind": "OFFICIAL", "id": "o-1", "agency_code": signer["agency"]["code"], "position": "leader"}  # type: ignore[index]
    return example(
        EventTypes.DOCUMENT_APPROVED,
        document_id=REQUEST["document_id"],
        approved_by=signer,
        approved_by_person=person,
        authenticated_at="2026-11-26T02:30:00Z",
        **changes,
    )


def test_a_content_hash_is_signed_with_the_officials_certificate_once_its_signer_approved(
    start, settings
) -> None:  # type: ignore[no-untyped-def]
    # Given the signing platform, and the signer's approval, signed in
    signing = start(build)
    key = str(REQUEST["document_id"])
    signing.deliver(
        Topics.OUTGOING_DOCUMENTS,
        approval(REQUEST["signer"]),
        key=key,
        event_type=EventTypes.DOCUMENT_APPROVED,
    )
    # When the document system asks for a signature
    [completed] = signing.deliver(
        Topics.OUTGOING_DOCUMENTS, REQUEST, key=key, event_type=EventTypes.SIGNATURE_REQUESTED
    )
    # Then a detached CMS signature of the content is published with the chain, and it verifies
    assert completed.type == EventTypes.SIGNATURE_COMPLETED
    assert completed.key == key
    roots, crls = trust_store(settings.ca_directory / "public")
    verified = verify(completed.record["signature"], CONTENT, trusted_roots=roots, crls=crls)
    assert REQUEST["signer"]["full_name"] in verified.signer.subject.rfc4514_string()
    assert all("PRIVATE KEY" not in pem for pem in completed.record["certificate_chain"])


def test_no_signature_without_the_signers_own_approval(start) -> None:  # type: ignore[no-untyped-def]
    signing = start(build)
    key = str(REQUEST["document_id"])
    # no approval at all
    out = signing.deliver(
        Topics.OUTGOING_DOCUMENTS, REQUEST, key=key, event_type=EventTypes.SIGNATURE_REQUESTED
    )
    assert [p.topic for p in out] == [signing.service.dead_letter_topic.name]
    assert "no approval by its signer" in out[0].record["reason"]
    # an approval by someone else (or one recorded before people signed in) does not do either
    someone = {**REQUEST["signer"], "official_id": "000.00.04.H11/van-thu-01"}  # type: ignore[dict-item]
    signing.deliver(
        Topics.OUTGOING_DOCUMENTS, approval(someone), key=key, event_type=EventTypes.DOCUMENT_APPROVED
    )
    again = signing.deliver(
        Topics.OUTGOING_DOCUMENTS, REQUEST, key=key, event_type=EventTypes.SIGNATURE_REQUESTED
    )
    assert "someone other than its signer" in again[0].record["reason"]


def test_a_hash_that_is_not_hexadecimal_is_dead_lettered(start) -> None:  # type: ignore[no-untyped-def]
    signing = start(build)
    signing.deliver(
        Topics.OUTGOING_DOCUMENTS,
        approval(REQUEST["signer"]),
        key=str(REQUEST["document_id"]),
        event_type=EventTypes.DOCUMENT_APPROVED,
    )
    bad = {**REQUEST, "content_sha256": "z" * 64}
    out = signing.deliver(
        Topics.OUTGOING_DOCUMENTS,
        bad,
        key=str(REQUEST["document_id"]),
        event_type=EventTypes.SIGNATURE_REQUESTED,
    )
    assert [p.topic for p in out] == [signing.service.dead_letter_topic.name]
