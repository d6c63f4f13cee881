"""Fictional citizens and dossiers for demos and tests, reproducible from a seed.

Every person is invented; ID numbers have the structure of Nghị định 137/2015/NĐ-CP Art. 13 (a real province
code, the century/sex digit and year agreeing with the birth date and sex) but random last digits.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
from collections.abc import Sequence
from typing import Any

from egov.province import Province, initials
from egov.regulations.identity import Sex, century_sex_digit

FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi")
MIDDLE_NAMES = {"MALE": ("Văn", "Đức", "Minh", "Quốc"), "FEMALE": ("Thị", "Ngọc", "Thu", "Kim")}
GIVEN_NAMES = {
    "MALE": ("An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Nam", "Phúc"),
    "FEMALE": ("Anh", "Chi", "Hạnh", "Hoa", "Lan", "Linh", "Mai", "Ngân", "Trang", "Yến"),
}


def citizen(rng: random.Random, province_code: str = "060") -> dict[str, Any]:
    sex: Sex = "MALE" if rng.random() < 0.5 else "FEMALE"
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
    id_number = (
        f"{province_code}{century_sex_digit(born, sex)}{born.year % 100:02d}{rng.randrange(10**6):06d}"
    )
    name = f"{rng.choice(FAMILY_NAMES)} {rng.choice(MIDDLE_NAMES[sex])} {rng.choice(GIVEN_NAMES[sex])}"
    return {"full_name": name, "date_of_birth": born.isoformat(), "sex": sex, "id_number": id_number}


def contact(rng: random.Random) -> dict[str, Any]:
    notify_by = rng.choice(("SMS", "ZALO", "EMAIL"))
    return {
        "phone": f"09{rng.randrange(10**8):08d}",
        "email": f"cong.dan{rng.randrange(10**4):04d}@example.vn" if notify_by == "EMAIL" else None,
        "notify_by": notify_by,
    }


def submission(
    rng: random.Random, procedure_codes: Sequence[str], province_code: str = "060"
) -> dict[str, Any]:
    """A JSON body for `POST /api/v1/dossiers`."""
    content = f"scan-{rng.random()}".encode()
    return {
        "procedure_code": rng.choice(list(procedure_codes)),
        "channel": rng.choice(("ONLINE", "ONLINE", "IN_PERSON", "POSTAL")),
        "applicant": citizen(rng, province_code),
        "contact": contact(rng),
        "form_fields": {"ly_do": "Cấp mới"},
        "attachments": [
            {
                "file_name": "to-khai.pdf",
                "media_type": "application/pdf",
                "size_bytes": 20480 + rng.randrange(10000),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        ],
    }


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
    department to one or two others, signed by the chief of its office."""
    departments = [a for a in province.agencies if a.kind == "department"]
    if len(departments) < 2:
        raise ValueError(f"{province.name} has {len(departments)} department(s): a letter needs two")
    issuer, *recipients = rng.sample(departments, 1 + min(rng.choice((1, 2)), len(departments) - 1))
    subject = rng.choice(LETTER_SUBJECTS)
    signer = citizen(rng)["full_name"]
    text = f"CÔNG VĂN\n{issuer.name}\n{subject}.\nNgười ký: {signer}, Chánh Văn phòng.\n"
    return {
        "issuing_agency": issuer.code,
        "recipients": [a.code for a in recipients],
        "document_type": "Công văn",
        "symbol": f"{initials(issuer.name)}-VP",
        "summary": subject,
        "signer": {
            "official_id": f"{issuer.code}/chanh-van-phong",
            "full_name": signer,
            "position": "Chánh Văn phòng",
        },
        "file_name": "cong-van.txt",
        "media_type": "text/plain; charset=utf-8",
        "content_base64": base64.b64encode(text.encode()).decode(),
    }
