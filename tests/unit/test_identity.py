import datetime as dt

import pytest

from egov.regulations.identity import century_sex_digit, id_number_problems, mask_id_number


@pytest.mark.parametrize(
    ("born", "sex", "digit"),
    [
        (dt.date(1985, 3, 1), "MALE", 0),
        (dt.date(1999, 12, 31), "FEMALE", 1),
        (dt.date(2000, 1, 1), "MALE", 2),
        (dt.date(2012, 6, 1), "FEMALE", 3),
        (dt.date(2100, 1, 1), "MALE", 4),
        (dt.date(2399, 1, 1), "FEMALE", 9),
    ],
)
def test_century_and_sex_give_the_fourth_digit(born: dt.date, sex: str, digit: int) -> None:
    assert century_sex_digit(born, sex) == digit  # type: ignore[arg-type]


def test_a_well_formed_number_has_no_problems() -> None:
    assert id_number_problems("060185123456", dt.date(1985, 3, 1), "FEMALE") == []
    assert id_number_problems("079303000001", dt.date(2003, 7, 9), "FEMALE") == []


def test_the_number_must_be_twelve_digits() -> None:
    assert id_number_problems("06018512345") == ["must be exactly 12 digits"]
    assert id_number_problems("06018512345a") == ["must be exactly 12 digits"]


def test_the_province_code_must_exist() -> None:
    [problem] = id_number_problems("003185123456")
    assert "003" in problem and "province code" in problem


def test_century_sex_digit_must_agree_with_sex_and_birth_year() -> None:
    [problem] = id_number_problems("060085123456", dt.date(1985, 3, 1), "FEMALE")
    assert "4th digit is 0" in problem and "has 1" in problem


def test_year_digits_must_agree_with_birth_year() -> None:
    [problem] = id_number_problems("060186123456", dt.date(1985, 3, 1), "FEMALE")
    assert "digits 5–6 are 86" in problem


def test_masking_keeps_province_and_last_three_digits() -> None:
    assert mask_id_number("060185123456") == "060******456"
