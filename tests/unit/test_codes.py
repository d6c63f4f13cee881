import datetime as dt

import pytest

from egov.regulations.codes import (
    CodeError,
    agency_code_problems,
    format_dossier_code,
    parse_dossier_code,
    procedure_code_problems,
)


def test_dossier_code_has_agency_date_and_four_digit_sequence() -> None:
    assert format_dossier_code("000.00.15.H11", dt.date(2025, 11, 24), 1) == "000.00.15.H11-251124-0001"


def test_dossier_code_parses_back() -> None:
    parsed = parse_dossier_code("000.00.15.H11-250514-0007")
    assert (parsed.agency_code, parsed.receipt_date, parsed.sequence) == (
        "000.00.15.H11",
        dt.date(2025, 5, 14),
        7,
    )
    assert str(parsed) == "000.00.15.H11-250514-0007"


@pytest.mark.parametrize("sequence", [0, 10000])
def test_sequence_must_fit_four_digits(sequence: int) -> None:
    with pytest.raises(CodeError, match="4 digits"):
        format_dossier_code("000.00.15.H11", dt.date(2025, 1, 2), sequence)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("000.00.15.H11-251324-0001", "not a date"),
        ("000.00.15.H11-251124-0000", "starts at 0001"),
        ("000.00.15-251124-0001", "QCVN 102"),
        ("000.00.15.H11/251124/0001", "is not a dossier code"),
    ],
)
def test_malformed_dossier_codes_are_refused_with_the_reason(code: str, reason: str) -> None:
    with pytest.raises(CodeError, match=reason):
        parse_dossier_code(code)


def test_agency_codes_follow_qcvn_102() -> None:
    assert agency_code_problems("000.00.00.H11") == []
    assert agency_code_problems("001.02.15.H11") == []
    assert "QCVN 102" in agency_code_problems("H11")[0]
    assert "35" in agency_code_problems("0" * 36)[0]


def test_procedure_codes_follow_the_pattern_in_use() -> None:
    assert procedure_code_problems("1.011442.000.00.00.H38") == []
    assert procedure_code_problems("2.000815") == []
    assert procedure_code_problems("1.11442") != []
