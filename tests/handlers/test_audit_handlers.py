"""The audit service's wiring on the fake runtime: every record of every topic into the hash chain."""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from egov.platform.audit import verify
from services import all_topics
from services.audit.app import build
from tests.handlers.conftest import example


def test_it_reads_every_topic_of_the_registry(start) -> None:  # type: ignore[no-untyped-def]
    audit = start(build)
    assert set(audit.engine.subscribers) == {t.name for t in all_topics()}


def test_records_valid_or_not_are_chained_and_a_checkpoint_signs_them(start, settings) -> None:  # type: ignore[no-untyped-def]
    # Given the audit service, When a valid event and bytes that are no event arrive
    audit = start(build)
    received = example(EventTypes.DOSSIER_RECEIVED, applicant=None)
    audit.deliver(
        Topics.DOSSIERS, received, key=str(received["dossier_code"]), event_type=EventTypes.DOSSIER_RECEIVED
    )
    audit.deliver_bytes(Topics.DOSSIERS, key=b"k", value=b"\x00garbage")
    # and its checkpoint round runs
    audit.run_checks()
    # Then both are in the log, chained, and signed; nothing is published
    result = verify(settings.state_dir / "audit")
    assert result.ok, result.problems
    assert (result.entries, result.checkpoints, result.unsigned) == (2, 1, [])
    assert audit.published == []


def test_a_record_logged_before_is_not_logged_again(start, settings) -> None:  # type: ignore[no-untyped-def]
    audit = start(build)
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"v", offset=5)
    audit.deliver_bytes(Topics.NOTIFICATIONS, key=b"k", value=b"v", offset=5)  # redelivered after a restart
    audit.run_checks()
    assert verify(settings.state_dir / "audit").entries == 1
