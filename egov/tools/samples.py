"""Fictional dossiers and letters for demos and tests, reproducible from a seed (the people in them come
from `egov.platform.people`)."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Sequence
from typing import Any

from egov.platform.province import Province, find_procedure, initials
from egov.tools.identity.realms import citizens_with_accounts, official
from services.population.domain import Person


def _applicants() -> list[Person]:
    return [person for person in citizens_with_accounts() if person.answers]


def contact(rng: random.Random) -> dict[str, Any]:
    notify_by = rng.choice(("SMS", "ZALO", "EMAIL"))
    return {
        "phone": f"09{rng.randrange(10**8):08d}",
        "email": f"cong.dan{rng.randrange(10**4):04d}@example.vn" if notify_by == "EMAIL" else None,
        "notify_by": notify_by,
    }


def submission(rng: random.Random, procedure_codes: Sequence[str]) -> dict[str, Any]:
    """A JSON body for `POST /api/v1/dossiers`, for a person of the register who has an account at the VNeID
    stand-in (so that, online, they can sign in and submit it in their own name)."""
    code = rng.choice(list(procedure_codes))
    return {
        "procedure_code": code,
        "channel": rng.choice(("ONLINE", "ONLINE", "IN_PERSON", "POSTAL")),
        "applicant": rng.choice(_applicants()).as_citizen(),
        "contact": contact(rng),
        "form_fields": {"ly_do": "Cấp mới"},
        "attachments": attachments(rng, code),
    }


def attachments(rng: random.Random, procedure_code: str) -> list[dict[str, Any]]:
    """A scan for each dossier component the procedure's catalogue requires (a declaration when it requires
    none), as a citizen uploads them."""
    procedure = find_procedure(procedure_code)
    keys: list[str | None] = [d.key for d in procedure.documents if d.attached] if procedure else []
    return [
        {
            "file_name": f"{key or 'to-khai'}.pdf",
            "media_type": "application/pdf",
            "size_bytes": 20480 + rng.randrange(10000),
            "sha256": hashlib.sha256(f"scan-{key}-{rng.random()}".encode()).hexdigest(),
            "component": key,
        }
        for key in keys or [None]
    ]


#: What the departments write to each other about, in the scenario's letters (công văn).
LETTER_SUBJECTS = (
    "Về việc phối hợp thẩm định hồ sơ dự án đầu tư",
    "Về việc góp ý dự thảo quy hoạch sử dụng đất",
    "Về việc cung cấp thông tin phục vụ cấp phép xây dựng",
    "Về việc báo cáo kết quả giải quyết thủ tục hành chính",
    "Về việc rà soát danh mục thủ tục hành chính",
)


def official_document(rng: random.Random, province: Province) -> dict[str, Any]:
    """A JSON body for the document system's `POST /api/v1/documents`: a letter (công văn) from one
    department to one or two others, signed by its leader (a fictional official of the local single sign-on,
    who approves it signed in)."""
    departments = [a for a in province.agencies if a.kind == "department"]
    if len(departments) < 2:
        raise ValueError(f"{province.name} has {len(departments)} department(s): a letter needs two")
    issuer, *recipients = rng.sample(departments, 1 + min(rng.choice((1, 2)), len(departments) - 1))
    subject = rng.choice(LETTER_SUBJECTS)
    leader = official(issuer.code, "leader")
    text = f"CÔNG VĂN\n{issuer.name}\n{subject}.\nNgười ký: {leader.name}, {leader.title}.\n"
    return {
        "issuing_agency": issuer.code,
        "recipients": [a.code for a in recipients],
        "document_type": "Công văn",
        "symbol": f"{initials(issuer.name)}-VP",
        "summary": subject,
        "signer": {"official_id": leader.official_id, "full_name": leader.name, "position": leader.title},
        "file_name": "cong-van.txt",
        "media_type": "text/plain; charset=utf-8",
        "content_base64": base64.b64encode(text.encode()).decode(),
    }
