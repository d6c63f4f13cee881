"""What the signing platform requires before it signs. Pure.

The signing platform signs with an official's key only what that official approved: a remote signature is
made only after the signer authenticates for it (Luật Giao dịch điện tử 2023, Nghị định 23/2025/NĐ-CP). The
document system, the only writer of its topic (the broker's ACLs), records each approval with the signer as
they signed in; the platform keeps those approvals and checks every signature request against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def approval_of(approved: Mapping[str, Any]) -> dict[str, Any]:
    """What the platform keeps of a DocumentApproved."""
    return {
        "official_id": approved["approved_by"]["official_id"],
        "person": dict(approved["approved_by_person"]) if approved.get("approved_by_person") else None,
    }


def signature_refusal(approval: Mapping[str, Any] | None, request: Mapping[str, Any]) -> str | None:
    """Why the platform must not sign (the signer did not approve it themself), or None, from what it kept of
    the document's DocumentApproved (`approval_of`)."""
    signer = request["signer"]["official_id"]
    if approval is None:
        return f"{request['document_id']}: no approval by its signer {signer}"
    person = approval.get("person")
    if approval["official_id"] != signer or not person or person.get("kind") != "OFFICIAL":
        return f"{request['document_id']}: approved by someone other than its signer {signer}"
    if person.get("position") != "leader":
        return f"{request['document_id']}: approved by an official who may not sign"
    return None
