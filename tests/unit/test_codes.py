"""Agency, dossier, procedure codes and document ids.

No real dossier code from a provincial portal could be found to test on (the legal research says so): the
examples below are built from the regulations' own structures — Thông tư 04/2025/TT-VPCP's
`MX1X2.Y1Y2Y3.Z1Z2-YYMMDD-AAXXXX`, QĐ 20/2020/QĐ-TTg's left-to-right groups (`G06.01` seen in Nghị quyết 57
guidance), the issue's `H15.50.05.13` — and from the QCVN 102:2016 codes of this project's provinces.
"""

import datetime as dt

import pytest

from egov.regulations.codes import (
    QCVN102,
    QD20,
    CodeError,
    agency_code_form,
    agency_code_problems,
    format_dossier_code,
    level1_code,
    parse_document_id,
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


def test_the_sequence_has_at_least_four_digits_and_more_when_needed() -> None:
    """Thông tư 03/2025/TT-VPCP Art. 13 cl. 3: “tối thiểu gồm 04 ký tự” — the 10,000th dossier gets five."""
    code = format_dossier_code("000.00.15.H11", dt.date(2026, 1, 26), 10000)
    assert code == "000.00.15.H11-260126-10000"
    assert parse_dossier_code(code).sequence == 10000
    with pytest.raises(CodeError, match="0001"):
        format_dossier_code("000.00.15.H11", dt.date(2026, 1, 26), 0)
    with pytest.raises(CodeError, match="is not a dossier code"):
        parse_dossier_code("000.00.15.H11-260126-001")  # three digits


@pytest.mark.parametrize(
    "agency",
    [
        "H36",  # a province itself: the level-1 code alone
        "G06.01",  # a level-2 unit, as printed in Nghị quyết 57 digitisation guidance
        "H15.50.05.13",  # four groups, left to right (the example; unverified as a real code)
        "H36.105.01",  # Thông tư 04/2025/TT-VPCP's MX1X2.Y1Y2Y3.Z1Z2
    ],
)
def test_dossier_codes_with_a_qd20_agency_code_are_accepted(agency: str) -> None:
    code = format_dossier_code(agency, dt.date(2026, 11, 25), 42)
    assert code == f"{agency}-261125-0042"
    parsed = parse_dossier_code(code)
    assert (parsed.agency_code, parsed.sequence) == (agency, 42)
    assert agency_code_form(agency) == QD20


def test_a_centralised_systems_code_carries_the_two_digits_of_its_owner() -> None:
    """MX1X2.Y1Y2Y3.Z1Z2-YYMMDD-AAXXXX (Thông tư 03/2025/TT-VPCP Art. 13 cl. 3, from 25/01/2026)."""
    code = format_dossier_code("H36.105.01", dt.date(2026, 1, 26), 7, system_prefix="15")
    assert code == "H36.105.01-260126-150007"
    parsed = parse_dossier_code(code, system_prefix=True)
    assert (parsed.system_prefix, parsed.sequence) == ("15", 7)
    assert str(parsed) == code
    with pytest.raises(CodeError, match="AAXXXX"):
        parse_dossier_code("H36.105.01-260126-0007", system_prefix=True)
    with pytest.raises(CodeError, match="two digits"):
        format_dossier_code("H36.105.01", dt.date(2026, 1, 26), 7, system_prefix="1")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("000.00.15.H11-251324-0001", "not a date"),
        ("000.00.15.H11-251124-0000", "starts at 0001"),
        ("000.00.15-251124-0001", "QĐ 20/2020"),
        ("Z11.01-251124-0001", "QĐ 20/2020"),  # M is a letter from A to Y
        ("000.00.15.H11/251124/0001", "is not a dossier code"),
    ],
)
def test_malformed_dossier_codes_are_refused_with_the_reason(code: str, reason: str) -> None:
    with pytest.raises(CodeError, match=reason):
        parse_dossier_code(code)


def test_agency_codes_of_both_forms_are_accepted() -> None:
    for code in ("000.00.00.H11", "001.02.15.H11", "000.00.04.G14"):
        assert agency_code_problems(code) == [] and agency_code_form(code) == QCVN102
    for code in ("H11", "H15.50.05.13", "G06.01", "A01.1A.002"):
        assert agency_code_problems(code) == [] and agency_code_form(code) == QD20
    assert "35" in agency_code_problems("H15." + "1" * 32)[0]
    assert "digits, A–Z and dots" in agency_code_problems("h36.01")[0]
    for wrong in ("H1", "H15..05", "H15.", "15.H15", "000.00.15"):
        assert "QCVN 102:2016" in agency_code_problems(wrong)[0], wrong


def test_the_level1_code_is_at_the_right_end_in_qcvn_102_and_first_in_qd20() -> None:
    assert level1_code("000.00.04.H11") == "H11"
    assert level1_code("H15.50.05.13") == "H15"
    assert level1_code("H36") == "H36"
    with pytest.raises(CodeError):
        level1_code("15.H15")


def test_procedure_codes_follow_the_patterns_in_use() -> None:
    assert procedure_code_problems("1.011442.000.00.00.H38") == []
    assert procedure_code_problems("2.000815") == []
    assert procedure_code_problems("1.012796.H36") == []  # the short form a provincial portal prints
    assert procedure_code_problems("1.11442") != []
    assert procedure_code_problems("1.012796.36") != []


def test_document_ids_name_an_agency_of_either_form() -> None:
    old = parse_document_id("000.00.04.G14,2012/08/06,267/VPCP-TTĐT")
    assert (old.organ_id, old.promulgation_date, old.number, old.symbol) == (
        "000.00.04.G14",
        dt.date(2012, 8, 6),
        267,
        "VPCP-TTĐT",
    )
    new = parse_document_id("H36.105.01,2026/11/25,12/QĐ-SXD")
    assert (new.organ_id, new.number) == ("H36.105.01", 12)
    with pytest.raises(CodeError, match="organ id"):
        parse_document_id("15.H15,2026/11/25,12/QĐ-SXD")
    with pytest.raises(CodeError, match="not a date"):
        parse_document_id("H36,2026/13/25,12/QĐ-SXD")


def test_the_document_system_writes_ids_that_parse_back_with_a_qd20_organ() -> None:
    from services.documents.domain import document_id

    written = document_id("H15.50.05.13", dt.date(2026, 11, 25), 3, "QĐ-SXD")
    assert parse_document_id(written).organ_id == "H15.50.05.13"
