"""The 12-digit personal identification number (số định danh cá nhân).

- Luật Căn cước 2023 (Law on Identification, 26/2023/QH15, in force 1/7/2024) Art. 12: a natural number of 12
  digits set by the national population database, one per citizen, never reused; the Government rules how it
  is set (cl. 4), today Nghị định 70/2024/NĐ-CP.
- Its inner structure, unchanged since Nghị định 137/2015/NĐ-CP Art. 13: 3 digits for the province (or
  country) where the birth was registered, 1 digit for century and sex (20th century: male 0, female 1; 21st:
  2/3; 22nd: 4/5; 23rd: 6/7; 24th: 8/9), 2 digits for the last two digits of the birth year, then 6 random
  digits. Known from a quotation of Nghị định 137/2015's article (secondary); the article of Nghị định
  70/2024/NĐ-CP that now carries it was not read.
- Province codes: Thông tư 07/2016/TT-BCA's annex (the provinces before the 2025 mergers; numbers already
  issued keep their codes, so a citizen of today's Lâm Đồng may carry 060, 067 or 068). Thông tư
  59/2021/TT-BCA was not read, nor whether births registered after 1/7/2025 in former Bình Thuận or Đắk Nông
  get 068.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from egov.regulations.basis import Basis

LEGAL_BASIS: tuple[Basis, ...] = (
    Basis(
        "id-number.length",
        "A personal identification number is exactly 12 digits.",
        "Luật Căn cước 2023 (26/2023/QH15)",
        "Art. 12 cl. 1",
        "verified",
        (
            "Art. 12 quoted word for word in a thuvienphapluat.vn question-and-answer page",
            "https://news.thuvienphapluat.vn/tintuc/vn/ho-tro-phap-luat/tu-van-phap-luat/50225/tra-cuu-ma-63-"
            "tinh-thanh-tren-the-can-cuoc-cong-dan-3-so-dau-the-can-cuoc-cong-dan",
        ),
        "Cl. 4: the Government rules how the number is set (Nghị định 70/2024/NĐ-CP).",
    ),
    Basis(
        "id-number.structure",
        "Digits 1–3 the birth-registration province, 4 century and sex, 5–6 the birth year, 7–12 random; the "
        "4th and 5th–6th digits must agree with the birth date and sex.",
        "Nghị định 137/2015/NĐ-CP (structure carried forward by Nghị định 70/2024/NĐ-CP)",
        "Art. 13 (of 137/2015); the article of 70/2024 unverified",
        "secondary",
        ("https://vietjack.me/tin-phap-luat/ma-63-tinh-thanh-tren-can-cuoc-cong-dan-moi-nhat-hien-nay-782",),
        "The structure is quoted from Nghị định 137/2015's article; Nghị định 70/2024/NĐ-CP was not read.",
    ),
    Basis(
        "id-number.province-codes",
        "The first three digits are a province code of the annex (060 Bình Thuận, 067 Đắk Nông, 068 Lâm "
        "Đồng …).",
        "Thông tư 07/2016/TT-BCA",
        "Annex",
        "secondary",
        ("https://moinhat123.blogspot.com/2021/03/ma-so-can-cuoc-cong-dan-quang-binh.html",),
        "Read from a copy of the annex. Thông tư 59/2021/TT-BCA not read; codes after the 2025 mergers "
        "unverified.",
    ),
)

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
    """Every way `id_number` breaks the 12 digits of Luật Căn cước Art. 12 or the structure the Government
    sets (see the module's docstring); empty when it is well formed.

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
