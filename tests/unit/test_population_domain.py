import datetime as dt
import os
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from egov.regulations.identity import century_sex_digit, id_number_problems
from services.population.domain import Person, Register, Verdict, altered, get_register

REGISTER = get_register()
ROOT = Path(__file__).resolve().parents[2]


def _ids(register: Register) -> list[str]:
    return [person.id_number for person in register.people]


def person_of(id_number: str, full_name: str, born: dt.date, sex: str) -> Person:
    return Person(
        {"id_number": id_number, "full_name": full_name, "date_of_birth": born.isoformat(), "sex": sex}
    )


def test_the_same_seed_gives_the_same_register_and_another_seed_another() -> None:
    first = Register.generate(seed=11, size=200)
    second = Register.generate(seed=11, size=200)
    assert first.people == second.people  # same people, same order, same silent marks
    assert _ids(Register.generate(seed=12, size=200)) != _ids(first)


def test_the_register_does_not_depend_on_the_process_hash_seed() -> None:
    script = (
        "from services.population.domain import get_register; r = get_register(); "
        "print(r.people[0].id_number, r.people[-1].id_number, [p.id_number for p in r.silent()][:3])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    expected = f"{REGISTER.people[0].id_number} {REGISTER.people[-1].id_number} "
    assert len(outputs) == 1
    assert outputs.pop().startswith(expected)


def test_get_register_is_built_once() -> None:
    assert get_register() is REGISTER
    assert get_register(3770) is REGISTER
    assert get_register(seed=3770) is REGISTER


def test_every_id_number_is_well_formed_for_its_holder_and_unique() -> None:
    for person in REGISTER.people:
        assert id_number_problems(person.id_number, person.date_of_birth, person.sex) == []
    assert len(set(_ids(REGISTER))) == len(REGISTER) == 1000


def test_most_people_were_registered_in_binh_thuan_and_the_rest_elsewhere() -> None:
    home = sum(person.id_number.startswith("060") for person in REGISTER.people)
    assert 0.5 < home / len(REGISTER) < 0.7
    assert len({person.id_number[:3] for person in REGISTER.people}) > 20


def test_a_small_share_is_never_answered_for() -> None:
    silent = REGISTER.silent()
    assert 10 <= len(silent) <= 40
    assert all(not person.answers for person in silent)
    assert len(REGISTER.answering()) + len(silent) == len(REGISTER)
    assert Register.generate(seed=5, size=50, silent_share=0.0).silent() == []


def test_find_looks_up_by_id_number() -> None:
    person = REGISTER.people[7]
    assert REGISTER.find(person.id_number) == person
    assert REGISTER.find("000000000000") is None


def test_as_citizen_is_the_json_shape_of_the_samples() -> None:
    person = person_of("060185123456", "Nguyễn Thị Lan", dt.date(1985, 3, 1), "FEMALE")
    assert person.as_citizen() == {
        "full_name": "Nguyễn Thị Lan",
        "date_of_birth": "1985-03-01",
        "sex": "FEMALE",
        "id_number": "060185123456",
    }


@pytest.mark.parametrize("index", [0, 1, 250, 999])
def test_the_register_matches_its_own_people(index: int) -> None:
    person = REGISTER.people[index]
    record = {**person.as_citizen(), "date_of_birth": person.date_of_birth}  # as the Avro decoder gives it
    assert REGISTER.verify(record) == Verdict("MATCH")


def test_case_spacing_and_decomposed_unicode_in_the_name_still_match() -> None:
    person = next(p for p in REGISTER.people if unicodedata.normalize("NFD", p.full_name) != p.full_name)
    record = {**person.as_citizen(), "date_of_birth": person.date_of_birth}
    shouty = "  " + "   ".join(person.full_name.upper().split()) + " "
    decomposed = unicodedata.normalize("NFD", person.full_name)
    assert REGISTER.verify({**record, "full_name": shouty}) == Verdict("MATCH")
    assert REGISTER.verify({**record, "full_name": decomposed}) == Verdict("MATCH")


def test_diacritics_are_significant() -> None:
    person = person_of("060185123456", "Nguyễn Thị Lan", dt.date(1985, 3, 1), "FEMALE")
    register = Register([person])
    without_marks = {**person.as_citizen(), "full_name": "Nguyen Thi Lan"}
    assert register.verify(without_marks) == Verdict("MISMATCH", ("full_name",))


def test_an_iso_string_birth_date_is_accepted() -> None:
    person = REGISTER.people[3]
    assert isinstance(person.as_citizen()["date_of_birth"], str)
    assert REGISTER.verify(person.as_citizen()) == Verdict("MATCH")


@pytest.mark.parametrize("field", ["full_name", "date_of_birth"])
def test_an_altered_field_is_the_only_mismatch(field: str) -> None:
    for person in REGISTER.people[:50]:
        body = altered(person, field)
        assert body[field] != person.as_citizen()[field]
        assert REGISTER.verify(body) == Verdict("MISMATCH", (field,))


def test_an_altered_birth_date_keeps_the_id_number_valid() -> None:
    for born in (dt.date(1980, 1, 1), dt.date(1980, 12, 31), dt.date(2003, 6, 15)):
        person = person_of(
            f"060{century_sex_digit(born, 'MALE')}{born.year % 100:02d}000001", "Lê Văn An", born, "MALE"
        )
        body = altered(person, "date_of_birth")
        changed = dt.date.fromisoformat(body["date_of_birth"])
        assert changed != born and changed.year == born.year
        assert id_number_problems(body["id_number"], changed, "MALE") == []


def test_a_changed_sex_is_reported_alone() -> None:
    person = REGISTER.people[5]
    other = "FEMALE" if person.sex == "MALE" else "MALE"
    body = {**person.as_citizen(), "sex": other}
    assert REGISTER.verify(body) == Verdict("MISMATCH", ("sex",))


def test_several_mismatches_are_listed_in_field_order() -> None:
    person = REGISTER.people[9]
    body = {**altered(person, "date_of_birth"), "sex": "X", "full_name": "Someone Else"}
    assert REGISTER.verify(body) == Verdict("MISMATCH", ("full_name", "date_of_birth", "sex"))


def test_sex_cannot_be_altered_alone() -> None:
    with pytest.raises(ValueError, match="4th digit"):
        altered(REGISTER.people[0], "sex")
    with pytest.raises(ValueError):
        altered(REGISTER.people[0], "phone")


def test_a_stranger_has_a_valid_id_number_the_register_does_not_hold() -> None:
    rng = random.Random(1)
    for _ in range(20):
        stranger = REGISTER.stranger(rng)
        born = dt.date.fromisoformat(stranger["date_of_birth"])
        assert id_number_problems(stranger["id_number"], born, stranger["sex"]) == []  # type: ignore[arg-type]
        assert REGISTER.find(stranger["id_number"]) is None
        assert REGISTER.verify(stranger) == Verdict("NOT_FOUND")


def test_verify_does_not_look_at_whether_the_person_is_answered_for() -> None:
    person = REGISTER.silent()[0]
    assert REGISTER.verify(person.as_citizen()) == Verdict("MATCH")


def test_a_register_refuses_one_id_number_twice() -> None:
    person = REGISTER.people[0]
    with pytest.raises(ValueError):
        Register([person, person])
