"""Personal data in what the platform writes (logs, the audit log): Nghị định 13/2023/NĐ-CP on personal data
protection makes ID numbers and phone numbers personal data, so whatever a service writes masks them,
in any field or free text, keeping only a few digits to tell them apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from egov.regulations.basis import Basis

LEGAL_BASIS: tuple[Basis, ...] = (
    Basis(
        "personal-data.masked",
        "ID numbers and phone numbers are masked in whatever the platform writes (logs, the audit log, "
        "published notices).",
        "Nghị định 13/2023/NĐ-CP (personal data protection)",
        "unverified (the definitions of personal data)",
        "secondary",
        ("the project's domain notes",),
        "Which article lists ID and phone numbers as personal data was not re-read for this table.",
    ),
)

#: A 12-digit personal ID number, also written in groups of three, or a 9-digit old ID card number.
_ID_NUMBER = re.compile(
    r"(?<!\d)(\d{3})[\s.-]?\d{3}[\s.-]?\d{3}[\s.-]?(\d{3})(?!\d)|(?<!\d)\d{5}(\d{4})(?!\d)"
)
#: A Vietnamese phone number: 0, 84 or +84, then 9 digits (mobile) or 10 (landline), spaces, dots or
#: dashes allowed between groups.
_PHONE = re.compile(r"(?<![\d+])(?:\+84|84|0)(?:[\s.-]?\d){8,9}(\d)(?!\d)")
#: Field names whose whole value is personal data, whatever it looks like.
SENSITIVE_KEYS = frozenset({"id_number", "phone", "phone_number", "national_id", "citizen_id"})


#: UUIDs (event ids, submission ids) hold digit runs that look like phone or ID numbers: left as they are.
_UUID = re.compile(r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")


def mask_text(text: str) -> str:
    """Mask ID numbers and phone numbers inside free text, keeping a few digits to tell them apart."""
    parts = _UUID.split(text)  # odd positions are the UUIDs
    return "".join(part if i % 2 else _mask_numbers(part) for i, part in enumerate(parts))


def _mask_numbers(text: str) -> str:
    text = _PHONE.sub(lambda m: "<phone:***" + m.group(1) + ">", text)

    def _id(match: re.Match[str]) -> str:
        if match.group(1):
            return f"{match.group(1)}******{match.group(2)}"
        return f"*****{match.group(3)}"

    return _ID_NUMBER.sub(_id, text)


def mask_value(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in SENSITIVE_KEYS and value not in (None, ""):
        return "***masked***"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bytes | bytearray):
        return mask_text(bytes(value).decode("utf-8", errors="replace"))
    if isinstance(value, Mapping):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [mask_value(v) for v in value]
    return value
