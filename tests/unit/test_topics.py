import re
from pathlib import Path

from services import SERVICES, all_topics

ROOT = Path(__file__).resolve().parents[2]


def test_every_topic_has_one_owner_that_is_a_service() -> None:
    names = [t.name for t in all_topics()]
    assert len(names) == len(set(names))
    for topic in all_topics():
        assert topic.owner in SERVICES, topic.name
        assert re.match(r"^egov\.[a-z]+\.[a-z-]+\.v\d+$", topic.name), topic.name


def test_services_never_spell_a_topic_name() -> None:
    literal = re.compile(r"""["']egov\.[a-z]+\.[a-z-]+\.v\d+["']""")
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "services").rglob("*.py") if literal.search(p.read_text())
    ]
    assert offenders == []


def _field(schema: dict, name: str) -> dict | None:  # type: ignore[type-arg]
    return next((f for f in schema.get("fields", []) if f["name"] == name), None)


def test_a_key_field_is_a_required_field_of_every_event_of_its_topic() -> None:
    from egov.contracts.serde import get_registry

    registry = get_registry()
    keyed = [t for t in all_topics() if t.key is not None]
    assert keyed, "most topics are keyed by a field of their events"
    for topic in keyed:
        assert topic.key is not None
        for event in topic.events:
            schema = registry.standalone(event)
            for part in topic.key.split("."):
                field = _field(schema, part)
                assert field is not None, f"{topic.name} is keyed by {topic.key}, which {event} lacks"
                assert field["type"] != "null" and "null" not in (
                    field["type"] if isinstance(field["type"], list) else []
                ), f"{event}.{topic.key} may be null, so it cannot key {topic.name}"
                schema = field["type"] if isinstance(field["type"], dict) else schema


def test_a_topic_whose_key_is_no_field_says_what_its_key_is() -> None:
    for topic in all_topics():
        if topic.key is None:
            assert topic.key_doc, topic.name


def test_the_services_that_keep_timers_are_those_whose_wiring_writes_a_timers_topic() -> None:
    from egov.contracts.topics import timers
    from services import load_services

    for name, service in load_services().items():
        assert (timers(name) in service.produces) == SERVICES[name].timers, name
