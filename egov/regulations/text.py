"""What text a citizen or an official may put in a dossier or a document: lengths and character classes of
names, addresses, file names and free text, and how many files a dossier carries, as pure checks.

The contracts name these rules on their fields (`"x-rule": "person_name"`, egov.contracts.validation), so an
HTTP body and an event obey the same ones, and the OpenAPI documents show the same limits (each limit gives
its JSON Schema too, written once here). No regulation states a maximum length for these fields in a form a
system can apply; the numbers are this project's choices, sized for the longest real values (a Vietnamese
full name with an ethnic minority's several given names, the name of a procedure or of a commune's
People's Committee), and labelled so in docs/legal-basis.md.

Control characters (Unicode category Cc: NUL, the C0 and C1 controls, DEL) are refused everywhere: they have
no place in a name or a form, break logs and the documents printed from them; free text may hold line breaks
and tabs. Unpaired surrogates (category Cs) cannot be encoded as UTF-8 and are refused too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from egov.regulations.basis import Basis

#: Line breaks and tabs: allowed in free text only.
_WHITESPACE_CONTROLS = frozenset("\n\r\t")
#: The JSON Schema (ECMA-262 and Python `re` alike) of a string without control characters, single line or
#: with line breaks and tabs; the check itself (`TextLimit.problems`) is by Unicode category.
_NO_CONTROLS = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
_NO_CONTROLS_BUT_LINES = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"


@dataclass(frozen=True)
class TextLimit:
    """A string field's length in characters (code points) and whether it may span lines."""

    max_chars: int
    min_chars: int = 1
    multiline: bool = False

    def problems(self, value: str) -> list[str]:
        found = []
        if len(value) > self.max_chars:
            found.append(f"is {len(value)} characters long; at most {self.max_chars}")
        elif len(value.strip()) < self.min_chars:
            found.append("must not be empty" if self.min_chars == 1 else f"needs {self.min_chars} characters")
        bad = _controls(value, allow_lines=self.multiline)
        if bad:
            allowed = "only line breaks and tabs are" if self.multiline else "none is"
            found.append(f"holds a control character ({bad}); {allowed} allowed")
        return found

    def json_schema(self) -> dict[str, Any]:
        return {
            "minLength": self.min_chars,
            "maxLength": self.max_chars,
            "pattern": _NO_CONTROLS_BUT_LINES if self.multiline else _NO_CONTROLS,
        }


def _controls(value: str, *, allow_lines: bool) -> str | None:
    """The first control character or unpaired surrogate of `value`, as U+XXXX, or None."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs") and not (allow_lines and char in _WHITESPACE_CONTROLS):
            return f"U+{ord(char):04X}"
    return None


#: A person's full name (họ, chữ đệm và tên).
PERSON_NAME = TextLimit(100)
#: One part of a postal address: house and street, ward or commune, district, province.
ADDRESS_PART = TextLimit(200)
#: A short label: a document's type or symbol, an official's position, an agency's name.
SHORT_TEXT = TextLimit(300)
#: Free text a person writes: a document's summary (trích yếu), a note, a reason.
FREE_TEXT = TextLimit(2000, multiline=True)
#: An e-mail address (RFC 5321 limits a path to 254 characters).
EMAIL = TextLimit(254)
#: A file name as uploaded (the common file-system limit).
FILE_NAME = TextLimit(255)
#: A form field's value in a dossier's declaration (tờ khai).
FORM_VALUE = TextLimit(2000, min_chars=0, multiline=True)

#: A form field's name: a key of the procedure's form, not prose.
FORM_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
FORM_FIELD_NAME_SCHEMA = "^[a-z][a-z0-9_]{0,63}$"
MAX_FORM_FIELDS = 50
#: Files in one dossier or supplement, and the size of each.
MAX_ATTACHMENTS = 20
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
#: The key of a dossier component in a procedure catalogue (`to-khai`, `giay-chung-sinh`).
COMPONENT_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
COMPONENT_KEY_SCHEMA = "^[a-z0-9][a-z0-9-]{0,63}$"
#: An IANA media type with optional parameters (RFC 6838 names).
MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(;[ -~]*)?"
)
MEDIA_TYPE_SCHEMA = (
    "^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(;[ -~]*)?$"
)
MEDIA_TYPE_LIMIT = TextLimit(255)

#: What a name may hold besides letters and the marks of Vietnamese (and other scripts') diacritics: spaces,
#: the apostrophe of names such as H'Hen Niê, the hyphen, and the dot of an abbreviation.
_NAME_PUNCTUATION = frozenset(" '’-.")


def person_name_problems(value: str) -> list[str]:
    found = PERSON_NAME.problems(value)
    if found:
        return found
    if value != value.strip():
        return ["must not begin or end with a space"]
    odd = next(
        (
            c
            for c in value
            if not unicodedata.category(c).startswith(("L", "M")) and c not in _NAME_PUNCTUATION
        ),
        None,
    )
    if odd is not None:
        return [
            f"holds {odd!r} (U+{ord(odd):04X}): a name has letters, spaces, apostrophes, hyphens and dots"
        ]
    if not any(unicodedata.category(c).startswith("L") for c in value):
        return ["has no letter"]
    return []


def file_name_problems(value: str) -> list[str]:
    found = FILE_NAME.problems(value)
    if found:
        return found
    if "/" in value or "\\" in value or value.strip() in (".", ".."):
        return ["must be a file's name, not a path"]
    return []


def media_type_problems(value: str) -> list[str]:
    found = MEDIA_TYPE_LIMIT.problems(value)
    if found:
        return found
    return [] if MEDIA_TYPE.fullmatch(value) else ["must be an IANA media type such as application/pdf"]


def file_size_problems(value: int) -> list[str]:
    if value < 1:
        return [f"must be at least 1 byte, got {value}"]
    if value > MAX_ATTACHMENT_BYTES:
        most = f"{MAX_ATTACHMENT_BYTES} ({MAX_ATTACHMENT_BYTES // 2**20} MiB)"
        return [f"is {value} bytes; a file may have at most {most}"]
    return []


def component_key_problems(value: str) -> list[str]:
    if COMPONENT_KEY.fullmatch(value):
        return []
    return ["must be a component's key: a–z, 0–9 and -, at most 64 characters"]


def attachments_problems(value: list[Any]) -> list[str]:
    if len(value) > MAX_ATTACHMENTS:
        return [f"lists {len(value)} files; at most {MAX_ATTACHMENTS}"]
    return []


def form_fields_problems(value: dict[str, Any]) -> list[tuple[str, str]]:
    """(the field's key, or "" for the whole form; the problem) for each wrong entry of a form."""
    if len(value) > MAX_FORM_FIELDS:
        return [("", f"has {len(value)} fields; at most {MAX_FORM_FIELDS}")]
    found = []
    for key, text in value.items():
        if not FORM_FIELD_NAME.fullmatch(key):
            shown = key if len(key) <= 40 else f"{key[:40]}…"
            found.append(
                ("", f"has a field named {shown!r}: names are a–z, 0–9 and _, at most 64, from a letter")
            )
        elif isinstance(text, str):
            found += [(key, problem) for problem in FORM_VALUE.problems(text)]
    return found


LEGAL_BASIS: tuple[Basis, ...] = (
    Basis(
        "input.text-limits",
        f"Names have at most {PERSON_NAME.max_chars} characters of letters, marks, spaces, apostrophes, "
        f"hyphens and dots; address parts at most {ADDRESS_PART.max_chars}, short labels "
        f"{SHORT_TEXT.max_chars}, free text {FREE_TEXT.max_chars}, file names {FILE_NAME.max_chars}; no "
        "control character anywhere (line breaks and tabs only in free text).",
        "—",
        "a project choice",
        "unverified",
        note="No regulation found gives the lengths of these fields in a form a system applies; the national "
        "population database's message standard (QCVN 109:2017/BTTTT) was not read.",
    ),
    Basis(
        "input.attachment-limits",
        f"A dossier or supplement lists at most {MAX_ATTACHMENTS} files of 1 byte to "
        f"{MAX_ATTACHMENT_BYTES // 2**20} MiB each, a form at most {MAX_FORM_FIELDS} fields.",
        "—",
        "a project choice",
        "unverified",
        note="Provincial portals print their own upload limits; none was taken as the rule here.",
    ),
)
