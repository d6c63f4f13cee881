"""The register of the national population database stand-in, and how it verifies a citizen. Pure rules.

The real national population database is reached only through the LGSP and answers whether the name, birth
date and sex a dossier gives agree with what it holds for an ID number. The stand-in holds a synthetic
register of fictional people (`egov.platform.people.citizen`), generated from a seed so that the service, the
demo and the tests all see the same people without sharing any file: a test can pick a person, a deliberately
altered copy of one, or a stranger, and know the verdict the running service will give.

A few people are marked as never answered for (`Person.answers`): the stand-in stays silent on them, which is
how the LGSP's time-out path is exercised; `verify` itself ignores the mark, as answering is the app's call.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Final, Literal

from egov.platform import people as fictional
from egov.regulations.identity import PROVINCE_CODES, Sex

#: Birth-registration province of most of the register: Bình Thuận (060), whose citizens keep the code in
#: today's Lâm Đồng (with 067 of former Đắk Nông and 068), so the stand-in serves either province file.
HOME_PROVINCE = "060"
#: Share of the register born in `HOME_PROVINCE`; the rest moved in from anywhere in the country.
HOME_SHARE = 0.6
#: The other provinces, in a fixed order so the draw does not depend on dict construction.
_OTHER_PROVINCES = tuple(sorted(code for code in PROVINCE_CODES if code != HOME_PROVINCE))

Outcome = Literal["MATCH", "MISMATCH", "NOT_FOUND"]
MATCH: Final = "MATCH"
MISMATCH: Final = "MISMATCH"
NOT_FOUND: Final = "NOT_FOUND"

#: The fields `verify` compares, in the order a mismatch lists them.
COMPARED_FIELDS = ("full_name", "date_of_birth", "sex")


@dataclass(frozen=True)
class Person:
    """One fictional resident as the register holds them.

    `answers` False marks a record the stand-in never answers for, simulating the national system not
    answering, so that the LGSP's time-out path can be driven deliberately rather than by chance.
    """

    #: The person as the CitizenRef contract has them, in its JSON form (the shape of
    #: `egov.platform.people.citizen`): the contract keeps the field list, this class does not copy it.
    citizen: Mapping[str, str]
    answers: bool = True

    @property
    def id_number(self) -> str:
        return self.citizen["id_number"]

    @property
    def full_name(self) -> str:
        return self.citizen["full_name"]

    @property
    def date_of_birth(self) -> dt.date:
        return dt.date.fromisoformat(self.citizen["date_of_birth"])

    @property
    def sex(self) -> Sex:
        return "MALE" if self.citizen["sex"] == "MALE" else "FEMALE"

    def as_citizen(self) -> dict[str, str]:
        """The citizen as an HTTP body carries it: the shape `egov.platform.people.citizen` returns."""
        return dict(self.citizen)


@dataclass(frozen=True)
class Verdict:
    """The answer to a verification: the register's word on the citizen a dossier names."""

    outcome: Outcome
    mismatched_fields: tuple[str, ...] = ()


def normalise_name(name: str) -> str:
    """A name as the comparison sees it: case and spacing are typing accidents, diacritics are not.

    NFC first, so a name typed with combining marks (NFD, as some keyboards and macOS file names produce)
    equals its precomposed form; then case-folded and internal whitespace collapsed. Vietnamese diacritics
    stay significant: "Nguyen" and "Nguyễn" are different names.
    """
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
    return " ".join(folded.split())


def _as_date(value: Any) -> dt.date | None:
    """A birth date from the Avro decoder (a date) or a JSON body (an ISO string); None if it is neither.

    A datetime is a date subclass that never compares equal to a date, so it is reduced to its date.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _draw_province(rng: random.Random) -> str:
    return HOME_PROVINCE if rng.random() < HOME_SHARE else rng.choice(_OTHER_PROVINCES)


class Register:
    """A synthetic register of fictional people, indexed by ID number.

    Shared by every caller through `get_register`, so it is never changed after construction: `people` is a
    tuple and the listing methods return new lists.
    """

    __slots__ = ("_index", "people")

    def __init__(self, people: Iterable[Person]) -> None:
        self.people: tuple[Person, ...] = tuple(people)
        self._index: dict[str, Person] = {}
        for person in self.people:
            if person.id_number in self._index:
                raise ValueError("an ID number identifies one person; the register holds it twice")
            self._index[person.id_number] = person

    @classmethod
    def generate(cls, *, seed: int = 3770, size: int = 1000, silent_share: float = 0.02) -> Register:
        """`size` fictional people drawn from `random.Random(seed)`: the same seed gives the same register,
        in the same order, in any process (nothing depends on Python's salted `hash()`).

        About 60 % were registered at birth in Bình Thuận (060, part of Lâm Đồng since 1/7/2025), the rest in
        another real province. About
        `silent_share` of them (at least one when the share is positive) are never answered for; they are
        chosen with the same generator.
        """
        if size < 0:
            raise ValueError(f"size must not be negative, not {size}")
        if not 0.0 <= silent_share <= 1.0:
            raise ValueError(f"silent_share must be between 0 and 1, not {silent_share}")
        rng = random.Random(seed)
        drawn: dict[str, Person] = {}
        while len(drawn) < size:
            body = fictional.citizen(rng, _draw_province(rng))
            if body["id_number"] in drawn:
                continue  # the 6 random digits collided: draw the person again
            drawn[body["id_number"]] = Person({key: str(value) for key, value in body.items()})
        people = list(drawn.values())
        silent_count = min(size, max(1, round(size * silent_share))) if silent_share > 0 and size else 0
        for position in rng.sample(range(size), silent_count):
            people[position] = replace(people[position], answers=False)
        return cls(people)

    def __len__(self) -> int:
        return len(self.people)

    def find(self, id_number: str) -> Person | None:
        """The person holding `id_number`, or None when the register has no such number."""
        return self._index.get(id_number)

    def answering(self) -> list[Person]:
        """The people the stand-in answers for, in register order."""
        return [person for person in self.people if person.answers]

    def silent(self) -> list[Person]:
        """The people the stand-in never answers for, in register order: for time-out scenarios."""
        return [person for person in self.people if not person.answers]

    def stranger(self, rng: random.Random) -> dict[str, str]:
        """A citizen (the `Person.as_citizen` shape) with a well-formed ID number the register does not hold.

        The number passes `id_number_problems` with its own birth date and sex, so the portal's and the
        contract's checks let it through and only the register can say NOT_FOUND.
        """
        while True:
            body = fictional.citizen(rng, _draw_province(rng))
            if body["id_number"] not in self._index:
                return {key: str(value) for key, value in body.items()}

    def verify(self, citizen: Mapping[str, Any]) -> Verdict:
        """Whether the register agrees with `citizen`, a CitizenRef record as the Avro decoder gives it
        (`date_of_birth` a date; an ISO string is accepted too).

        NOT_FOUND when the ID number is not in the register; otherwise MATCH when name, birth date and sex
        all agree, else MISMATCH naming the fields that differ in the order of `COMPARED_FIELDS`. A birth
        date that is not a date cannot agree. Whether to answer at all (`Person.answers`) is not decided here.
        """
        person = self._index.get(str(citizen.get("id_number", "")))
        if person is None:
            return Verdict(NOT_FOUND)
        name = normalise_name(str(citizen.get("full_name", "")))
        agrees = {
            "full_name": name == normalise_name(person.full_name),
            "date_of_birth": _as_date(citizen.get("date_of_birth")) == person.date_of_birth,
            "sex": citizen.get("sex") == person.sex,
        }
        mismatched = tuple(field for field in COMPARED_FIELDS if not agrees[field])
        return Verdict(MISMATCH, mismatched) if mismatched else Verdict(MATCH)


def get_register(seed: int = 3770) -> Register:
    """The register for `seed`, built once per process: the service, the demo and the tests share it.

    `get_register()`, `get_register(3770)` and `get_register(seed=3770)` all return the same object (an
    `lru_cache` on this function would key the three calls apart and build three registers).
    """
    return _cached_register(seed)


@lru_cache(maxsize=8)
def _cached_register(seed: int) -> Register:
    return Register.generate(seed=seed)


def altered(person: Person, field: str) -> dict[str, str]:
    """`person.as_citizen()` with `field` changed so that `verify` reports exactly that field as mismatched.

    - full_name: another given name of the same sex (family and middle names kept);
    - date_of_birth: another day of the same year, so the ID number's century/sex digit and year digits
      still agree with it and the contract's rule lets the dossier through to the register.

    Sex cannot be altered alone (ValueError): the ID number's 4th digit encodes it, so the dossier would be
    refused before the register is asked. The ID number neither: it selects the record (use
    `Register.stranger` for NOT_FOUND).
    """
    body = person.as_citizen()
    if field == "full_name":
        words = person.full_name.split()
        given = normalise_name(words[-1]) if words else ""
        other = next(name for name in fictional.GIVEN_NAMES[person.sex] if normalise_name(name) != given)
        body["full_name"] = " ".join([*words[:-1], other])
    elif field == "date_of_birth":
        born = person.date_of_birth
        day = born + dt.timedelta(days=1)
        if day.year != born.year:
            day = born - dt.timedelta(days=1)
        body["date_of_birth"] = day.isoformat()
    elif field == "sex":
        raise ValueError(
            "sex cannot be altered alone: the ID number's 4th digit encodes century and sex, so a dossier "
            "with the other sex breaks the ID number rule and never reaches the register"
        )
    elif field == "id_number":
        raise ValueError("the ID number selects the record; for an unknown number use Register.stranger")
    else:
        compared = ", ".join(COMPARED_FIELDS)
        raise ValueError(f"{field!r} is not a field verify compares; it compares {compared}")
    return body
