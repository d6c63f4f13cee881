"""Fictional people, reproducible from a seed: the population register stand-in is made of them, and the
demo's and the tests' citizens are drawn from them.

Every person is invented; ID numbers have the 12 digits of Luật Căn cước 2023 Art. 12 and the structure
described in `egov.regulations.identity` (a real province code, the century/sex digit and year agreeing with
the birth date and sex) but random last digits.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from egov.paths import KEYCLOAK_INFRA_DIR
from egov.regulations.identity import Sex, century_sex_digit

#: The fictional users of the local identity provider (their published passwords, how many citizens).
FICTIONAL_USERS = KEYCLOAK_INFRA_DIR / "users.yaml"


@dataclass(frozen=True)
class FictionalUsers:
    """Who may sign in to the local identity provider, and with what (infra/keycloak/users.yaml)."""

    citizen_password: str
    citizens: int
    official_password: str

    @classmethod
    def load(cls, path: Path | None = None) -> FictionalUsers:
        data = yaml.safe_load((path or FICTIONAL_USERS).read_text(encoding="utf-8"))
        return cls(str(data["citizen_password"]), int(data["citizens"]), str(data["official_password"]))


def official_username(official_id: str) -> str:
    """An official's user name at the province's single sign-on: their directory id in lower case, with dots
    (`000.00.04.H11/lanh-dao-01` → `000.00.04.h11.lanh-dao-01`)."""
    return official_id.lower().replace("/", ".")


FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi")
MIDDLE_NAMES = {"MALE": ("Văn", "Đức", "Minh", "Quốc"), "FEMALE": ("Thị", "Ngọc", "Thu", "Kim")}
GIVEN_NAMES = {
    "MALE": ("An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Nam", "Phúc"),
    "FEMALE": ("Anh", "Chi", "Hạnh", "Hoa", "Lan", "Linh", "Mai", "Ngân", "Trang", "Yến"),
}


def citizen(rng: random.Random, province_code: str = "060") -> dict[str, Any]:
    """A fictional person as the CitizenRef contract has them, in its JSON form."""
    sex: Sex = "MALE" if rng.random() < 0.5 else "FEMALE"
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
    id_number = (
        f"{province_code}{century_sex_digit(born, sex)}{born.year % 100:02d}{rng.randrange(10**6):06d}"
    )
    name = f"{rng.choice(FAMILY_NAMES)} {rng.choice(MIDDLE_NAMES[sex])} {rng.choice(GIVEN_NAMES[sex])}"
    return {"full_name": name, "date_of_birth": born.isoformat(), "sex": sex, "id_number": id_number}
