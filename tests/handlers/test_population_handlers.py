"""The population register stand-in's wiring on the fake runtime."""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from services.population.app import build
from services.population.domain import altered, get_register
from tests.handlers.conftest import example

KEY = "000.00.04.H11-261125-0001"


def lookup(citizen: dict[str, str]) -> dict[str, object]:
    return example(EventTypes.POPULATION_LOOKUP_REQUESTED, citizen=citizen)


def test_a_person_of_the_register_is_a_match_answered_under_the_requests_key(start) -> None:  # type: ignore[no-untyped-def]
    population = start(build)
    person = get_register().answering()[0]
    [answer] = population.deliver(Topics.POPULATION_REQUESTS, lookup(dict(person.citizen)), key=KEY)
    assert answer.topic == Topics.POPULATION_ANSWERS.name
    assert answer.key == KEY
    assert answer.record["outcome"] == "MATCH"


def test_a_wrong_birth_date_is_a_mismatch_naming_the_field(start) -> None:  # type: ignore[no-untyped-def]
    population = start(build)
    person = get_register().answering()[1]
    [answer] = population.deliver(
        Topics.POPULATION_REQUESTS, lookup(altered(person, "date_of_birth")), key=KEY
    )
    assert answer.record["outcome"] == "MISMATCH"
    assert answer.record["mismatched_fields"] == ["date_of_birth"]


def test_the_registers_silent_records_get_no_answer_at_all(start) -> None:  # type: ignore[no-untyped-def]
    population = start(build)
    person = get_register().silent()[0]
    assert population.deliver(Topics.POPULATION_REQUESTS, lookup(dict(person.citizen)), key=KEY) == []
