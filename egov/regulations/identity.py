"""The 12-digit personal identification number (số định danh cá nhân).

Nghị định 137/2015/NĐ-CP Art. 13: 3 digits for the province where the birth was registered, 1 digit for
century and sex (20th century: male 0, female 1; 21st: 2/3; 22nd: 4/5; 23rd: 6/7; 24th: 8/9), 2 digits for
the last two digits of the birth year, then 6 random digits. Province codes: Thông tư 07/2016/TT-BCA
(the provinces before the 2025 mergers; numbers already issued keep their codes).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

Sex = Literal["MALE", "FEMALE"]

#: Birth-registration province codes, Thông tư 07/2016/TT-BCA Annex.
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

_ID_NUMBER = re.compile(r"^\d{12}$")
_FIRST_CENTURY = 1900  # digit pair 0/1 is the 20th century (1900–1999)


def century_sex_digit(date_of_birth: dt.date, sex: Sex) -> int:
    """The 4th digit the regulation prescribes for this birth year and sex."""
    century_index = (date_of_birth.year - _FIRST_CENTURY) // 100
    if not 0 <= century_index <= 4:
        raise ValueError(f"birth year {date_of_birth.year} is outside 1900–2399, which the number can encode")
    return century_index * 2 + (1 if sex == "FEMALE" else 0)


def id_number_problems(
    id_number: str, date_of_birth: dt.date | None = None, sex: Sex | None = None
) -> list[str]:
    """Every way `id_number` breaks the structure of Art. 13 (empty when it is well formed).

    When the birth date and sex are given, the century/sex digit and the year digits must agree with them.
    """
    if not _ID_NUMBER.match(id_number or ""):
        return ["must be exactly 12 digits"]
    problems = []
    province = id_number[:3]
    if province not in PROVINCE_CODES:
        problems.append(f"starts with {province}, which is not a province code of Thông tư 07/2016/TT-BCA")
    if date_of_birth is not None and sex is not None:
        try:
            expected = century_sex_digit(date_of_birth, sex)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            if int(id_number[3]) != expected:
                problems.append(
                    f"4th digit is {id_number[3]} but a {sex.lower()} born in {date_of_birth.year} "
                    f"has {expected}"
                )
        if id_number[4:6] != f"{date_of_birth.year % 100:02d}":
            problems.append(
                f"digits 5–6 are {id_number[4:6]} but the birth year {date_of_birth.year} ends in "
                f"{date_of_birth.year % 100:02d}"
            )
    return problems


def mask_id_number(id_number: str) -> str:
    """The number as it may appear in logs and screens: province code and last 3 digits only."""
    if len(id_number) < 6:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 6) + id_number[-3:]
