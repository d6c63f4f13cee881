import re
from pathlib import Path

from egov.runtime.topics import all_topics
from services import SERVICES

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
