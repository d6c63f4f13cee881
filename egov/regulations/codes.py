"""Identifier codes of the one-stop system.

- Agency identifier code (mã định danh cơ quan), QCVN 102:2016/BTTTT (Thông tư 10/2016/TT-BTTTT, amended by
  Thông tư 01/2022/TT-BTTTT): `V1V2V3.Z1Z2.Y1Y2.MX1X2`, M = H for a provincial People's Committee; at most
  35 characters of digits, A–Z and dots (QĐ 20/2020/QĐ-TTg).
- Dossier code (mã hồ sơ), Thông tư 01/2018/TT-VPCP Art. 19: `<receiving agency code>-<YYMMDD>-<XXXX>`, the
  receipt date and a 4-digit sequence number within that day at that agency.
- Procedure code (mã thủ tục hành chính): pattern seen in use (`1.011442.000.00.00.H38`, `2.000815…`);
  the defining rule is unsourced, so this check is deliberately loose.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

AGENCY_CODE_MAX_LEN = 35
DOSSIER_SEQUENCE_MAX = 9999

_AGENCY_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
_DOSSIER_CODE = re.compile(r"^(?P<agency>[0-9A-Z.]+)-(?P<date>\d{6})-(?P<seq>\d{4})$")
_PROCEDURE_CODE = re.compile(r"^\d\.\d{6}(\.\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2})?$")


class CodeError(ValueError):
    """A code that breaks its regulation; the message says how."""


def agency_code_problems(code: str) -> list[str]:
    if len(code) > AGENCY_CODE_MAX_LEN:
        return [f"is {len(code)} characters long; QĐ 20/2020/QĐ-TTg allows at most {AGENCY_CODE_MAX_LEN}"]
    if not _AGENCY_CODE.match(code):
        return ["must have the QCVN 102:2016 shape V1V2V3.Z1Z2.Y1Y2.MX1X2, e.g. 000.00.15.H11"]
    return []


def procedure_code_problems(code: str) -> list[str]:
    if not _PROCEDURE_CODE.match(code):
        return ["must look like 1.011442.000.00.00.H38 (digit, dot, 6 digits, optional agency suffix)"]
    return []


@dataclass(frozen=True)
class DossierCode:
    """A parsed dossier code."""

    agency_code: str
    receipt_date: dt.date
    sequence: int

    def __str__(self) -> str:
        return f"{self.agency_code}-{self.receipt_date:%y%m%d}-{self.sequence:04d}"


def format_dossier_code(agency_code: str, receipt_date: dt.date, sequence: int) -> str:
    """`<agency code>-<YYMMDD>-<NNNN>` (Thông tư 01/2018/TT-VPCP Art. 19)."""
    problems = agency_code_problems(agency_code)
    if problems:
        raise CodeError(f"agency code {agency_code!r} {problems[0]}")
    if not 1 <= sequence <= DOSSIER_SEQUENCE_MAX:
        raise CodeError(f"sequence {sequence} does not fit the 4 digits of a dossier code (1–9999)")
    return str(DossierCode(agency_code, receipt_date, sequence))


def parse_dossier_code(code: str) -> DossierCode:
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
    sequence = int(match["seq"])
    if sequence == 0:
        raise CodeError(f"{code!r}: the sequence starts at 0001")
    return DossierCode(match["agency"], day, sequence)
