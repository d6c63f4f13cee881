"""Identifier codes of the one-stop system and the document exchange.

- **Agency identifier code** (mã định danh điện tử của cơ quan, tổ chức). Two forms are in use, and both are
  accepted wherever an agency code appears (dossier codes, document ids, the contracts' `agency_code` rule):
  - Quyết định 20/2020/QĐ-TTg Art. 4 (amended by Quyết định 09/2025/QĐ-TTg, whose changes were not read): at
    most 35 characters of digits, A–Z and dots, in groups "developed from left to right" and separated by
    dots; the first group is the level-1 code `MX1X2` (M a letter A–Y, then two digits), each following group
    one level down: `H36` (a province), `G06.01`, `H15.50.05.13`, and the `MX1X2.Y1Y2Y3.Z1Z2` of Thông tư
    04/2025/TT-VPCP.
  - QCVN 102:2016/BTTTT (Thông tư 10/2016/TT-BTTTT, amended by Thông tư 01/2022/TT-BTTTT):
    `V1V2V3.Z1Z2.Y1Y2.MX1X2`, the level-1 code at the right end (`000.00.04.H11`).
- **Dossier code** (mã số hồ sơ), `<agency code>-<YYMMDD>-<sequence>`. The one-stop counter gives every
  dossier a code (Nghị định 118/2025/NĐ-CP Art. 11). Its structure is Thông tư 03/2025/TT-VPCP Art. 13:
  clause 3, added by Thông tư 04/2025/TT-VPCP Art. 23 cl. 2 from 25/1/2026, gives
  `MX1X2.Y1Y2Y3.Z1Z2-YYMMDD-AAXXXX` for the nationally centralised services: the resolving agency's code, the
  receipt date, two digits `AA` of the system owner's code, and a sequence of **at least** four digits.
  Clauses 1–2, for provincial systems, were not read: this system keeps the receiving agency's code and no
  `AA` (it can write one, `system_prefix`).
- **Procedure code** (mã thủ tục hành chính): the shapes seen in catalogues (`1.011442.000.00.00.H38`,
  `2.000815`, the short `1.012796.H36` a provincial portal prints); the defining rule is unsourced, so the
  check is deliberately loose.
- **Document id** of the inter-agency exchange (edXML DocumentId):
  `<organ id>,<yyyy/mm/dd>,<number>/<symbol>`, seen in two implementations
  (`000.00.04.G14,2012/08/06,267/VPCP-TTĐT`); the organ id is an agency code.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from egov.regulations.basis import Basis

AGENCY_CODE_MAX_LEN = 35
#: "tối thiểu gồm 04 ký tự" (Thông tư 03/2025/TT-VPCP Art. 13 cl. 3): more dossiers in a day take more digits.
DOSSIER_SEQUENCE_MIN_DIGITS = 4

AgencyCodeForm = Literal["QĐ 20/2020", "QCVN 102:2016"]
QD20: AgencyCodeForm = "QĐ 20/2020"
QCVN102: AgencyCodeForm = "QCVN 102:2016"

_QCVN102 = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
_QD20 = re.compile(r"^[A-Y]\d{2}(\.[0-9A-Z]+)*$")
_ALPHABET = re.compile(r"^[0-9A-Z.]+$")
_DOSSIER_CODE = re.compile(r"^(?P<agency>[0-9A-Z.]+)-(?P<date>\d{6})-(?P<seq>\d{4,})$")
_PROCEDURE_CODE = re.compile(r"^\d\.\d{6}(\.\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}|\.[A-Y]\d{2})?$")
_DOCUMENT_ID = re.compile(r"^(?P<organ>[^,]+),(?P<date>\d{4}/\d{2}/\d{2}),(?P<number>\d+)/(?P<symbol>\S.*)$")

LEGAL_BASIS: tuple[Basis, ...] = (
    Basis(
        "agency-code.qd20",
        "Agency codes of the form MX1X2[.group…], at most 35 characters of 0–9, A–Z and dots, are accepted "
        "wherever an agency code appears.",
        "Quyết định 20/2020/QĐ-TTg (amended by Quyết định 09/2025/QĐ-TTg)",
        "Art. 4",
        "verified",
        (
            "Art. 4 quoted word for word in a thuvienphapluat.vn question-and-answer page (Hà Nội QĐ 4078/"
            "QĐ-UBND of 2025)",
            "https://thuvienphapluat.vn/van-ban/Cong-nghe-thong-tin/Quyet-dinh-20-2020-QD-TTg-ma-dinh-danh-"
            "dien-tu-co-quan-to-chuc-phuc-vu-ket-noi-chia-se-du-lieu-447895.aspx",
        ),
        "What Quyết định 09/2025/QĐ-TTg changed was not read. `H15.50.05.13` (the issue's example) is "
        "unverified as a real code.",
    ),
    Basis(
        "agency-code.qcvn102",
        "Agency codes of the form V1V2V3.Z1Z2.Y1Y2.MX1X2 (level 1 at the right end) are accepted as well.",
        "QCVN 102:2016/BTTTT (Thông tư 10/2016/TT-BTTTT, amended by Thông tư 01/2022/TT-BTTTT)",
        "the standard's code structure (clause number unverified)",
        "secondary",
        ("the project's domain notes, from the standard as published by the MIC",),
        "The standard's text was not re-read for this table.",
    ),
    Basis(
        "dossier-code.issued",
        "Every dossier received gets a dossier code from the one-stop system.",
        "Nghị định 118/2025/NĐ-CP",
        "Art. 11",
        "verified",
        ("Art. 11 quoted word for word in a thuvienphapluat.vn page on Đồng Tháp's service centre (2025)",),
        "The duty is the one-stop staff's: “cấp mã số hồ sơ thủ tục hành chính cho tổ chức, cá nhân”.",
    ),
    Basis(
        "dossier-code.format",
        "A dossier code is <agency code>-<YYMMDD of receipt>-<sequence of at least 4 digits>.",
        "Thông tư 03/2025/TT-VPCP, as amended by Thông tư 04/2025/TT-VPCP Art. 23 cl. 2 (from 25/01/2026)",
        "Art. 13 cl. 3",
        "verified",
        (
            "Art. 23 of Thông tư 04/2025/TT-VPCP quoted word for word in a thuvienphapluat.vn page",
            "https://luatvietnam.vn/hanh-chinh/thong-tu-4-2025-tt-vpcp-quy-dinh-ket-noi-du-lieu-giua-cong-dich-"
            "vu-cong-quoc-gia-va-co-quan-nha-nuoc-420896-d1.html",
        ),
        "Clause 3 is for nationally centralised services and names the resolving agency and a 2-digit AA "
        "prefix; clauses 1–2 (provincial systems) were not read, so this system keeps the receiving agency's "
        "code without AA (UNVERIFIED for provincial systems). Thông tư 01/2018/TT-VPCP Art. 19, cited "
        "before, could not be confirmed.",
    ),
    Basis(
        "procedure-code.format",
        "Procedure codes look like 1.011442.000.00.00.H38, 2.000815 or 1.012796.H36.",
        "—",
        "unverified",
        "unverified",
        (),
        "Shapes seen in provincial catalogues; the defining rule was not found.",
    ),
    Basis(
        "document-id.format",
        "An exchanged document's id is <organ id>,<yyyy/mm/dd>,<number>/<symbol>, the organ id an agency "
        "code.",
        "QCVN 102:2016/BTTTT (edXML)",
        "unverified",
        "unverified",
        (),
        "The shape was seen in two independent implementations of the document exchange.",
    ),
)


class CodeError(ValueError):
    """A code that breaks its regulation; the message says how."""


def agency_code_form(code: str) -> AgencyCodeForm | None:
    """Which of the two forms `code` has, or None when it has neither."""
    if len(code) > AGENCY_CODE_MAX_LEN or not _ALPHABET.match(code):
        return None
    if _QCVN102.match(code):
        return "QCVN 102:2016"
    if _QD20.match(code):
        return "QĐ 20/2020"
    return None


def agency_code_problems(code: str) -> list[str]:
    if len(code) > AGENCY_CODE_MAX_LEN:
        return [f"is {len(code)} characters long; QĐ 20/2020/QĐ-TTg allows at most {AGENCY_CODE_MAX_LEN}"]
    if not _ALPHABET.match(code):
        return ["may hold only digits, A–Z and dots (QĐ 20/2020/QĐ-TTg Art. 4)"]
    if agency_code_form(code) is None:
        return [
            "must have the QĐ 20/2020/QĐ-TTg form MX1X2.… (e.g. H36, H15.50.05.13) or the QCVN 102:2016 form "
            "V1V2V3.Z1Z2.Y1Y2.MX1X2 (e.g. 000.00.15.H11)"
        ]
    return []


def level1_code(code: str) -> str:
    """The level-1 code (`MX1X2`, e.g. the province's `H36`) inside an agency code of either form."""
    form = agency_code_form(code)
    if form is None:
        raise CodeError(f"agency code {code!r} {agency_code_problems(code)[0]}")
    return code.rsplit(".", 1)[-1] if form == QCVN102 else code.split(".", 1)[0]


def procedure_code_problems(code: str) -> list[str]:
    if not _PROCEDURE_CODE.match(code):
        return [
            "must look like 1.011442.000.00.00.H38, 2.000815 or 1.012796.H36 "
            "(digit, dot, 6 digits, optional agency suffix)"
        ]
    return []


@dataclass(frozen=True)
class DossierCode:
    """A parsed dossier code."""

    agency_code: str
    receipt_date: dt.date
    sequence: int
    #: The two digits `AA` of a centralised system's owner (Thông tư 03/2025/TT-VPCP Art. 13 cl. 3), if any.
    system_prefix: str | None = None

    def __str__(self) -> str:
        digits = f"{self.sequence:0{DOSSIER_SEQUENCE_MIN_DIGITS}d}"
        return f"{self.agency_code}-{self.receipt_date:%y%m%d}-{self.system_prefix or ''}{digits}"


def format_dossier_code(
    agency_code: str, receipt_date: dt.date, sequence: int, *, system_prefix: str | None = None
) -> str:
    """`<agency code>-<YYMMDD>-<NNNN>`, the sequence padded to at least four digits (Thông tư 03/2025/TT-VPCP
    Art. 13); with `system_prefix`, the `AA` of a centralised system before it."""
    problems = agency_code_problems(agency_code)
    if problems:
        raise CodeError(f"agency code {agency_code!r} {problems[0]}")
    if sequence < 1:
        raise CodeError(f"sequence {sequence}: the sequence of a dossier code starts at 0001")
    if system_prefix is not None and not re.fullmatch(r"\d{2}", system_prefix):
        raise CodeError(f"system prefix {system_prefix!r} must be two digits (AA)")
    return str(DossierCode(agency_code, receipt_date, sequence, system_prefix))


def parse_dossier_code(code: str, *, system_prefix: bool = False) -> DossierCode:
    """The parts of a dossier code. With `system_prefix`, the first two digits after the date are read as the
    `AA` of a centralised system (they cannot be told from the sequence otherwise)."""
    match = _DOSSIER_CODE.match(code)
    if not match:
        raise CodeError(f"{code!r} is not a dossier code <agency code>-<YYMMDD>-<NNNN>")
    problems = agency_code_problems(match["agency"])
    if problems:
        raise CodeError(f"{code!r}: agency code {problems[0]}")
    try:
        day = dt.datetime.strptime(match["date"], "%y%m%d").date()
    except ValueError:
        raise CodeError(f"{code!r}: {match['date']} is not a date YYMMDD") from None
    digits, prefix = match["seq"], None
    if system_prefix:
        if len(digits) < 2 + DOSSIER_SEQUENCE_MIN_DIGITS:
            raise CodeError(f"{code!r}: AAXXXX needs 2 digits of the system owner and at least 4 of sequence")
        prefix, digits = digits[:2], digits[2:]
    sequence = int(digits)
    if sequence == 0:
        raise CodeError(f"{code!r}: the sequence starts at 0001")
    return DossierCode(match["agency"], day, sequence, prefix)


@dataclass(frozen=True)
class DocumentId:
    """A parsed document id of the inter-agency exchange."""

    organ_id: str
    promulgation_date: dt.date
    number: int
    symbol: str


def parse_document_id(text: str) -> DocumentId:
    """`<organ id>,<yyyy/mm/dd>,<number>/<symbol>`, the organ id an agency code of either form."""
    match = _DOCUMENT_ID.match(text)
    if not match:
        raise CodeError(f"{text!r} is not a document id <organ id>,<yyyy/mm/dd>,<number>/<symbol>")
    problems = agency_code_problems(match["organ"])
    if problems:
        raise CodeError(f"{text!r}: organ id {problems[0]}")
    try:
        day = dt.datetime.strptime(match["date"], "%Y/%m/%d").date()
    except ValueError:
        raise CodeError(f"{text!r}: {match['date']} is not a date yyyy/mm/dd") from None
    return DocumentId(match["organ"], day, int(match["number"]), match["symbol"])
