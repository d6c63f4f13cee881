"""The notification service's wiring on the fake runtime."""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from services.notify.app import build
from tests.handlers.conftest import example

RECEIVED = example(EventTypes.DOSSIER_RECEIVED, applicant=None)
CODE = str(RECEIVED["dossier_code"])
ACCEPTED = example(
    EventTypes.DOSSIER_STATUS_CHANGED, from_status="NEWLY_REGISTERED", to_status="ACCEPTED", reason=None
)


def test_the_citizen_is_told_of_the_receipt_once_on_their_channel_with_the_number_masked(start) -> None:  # type: ignore[no-untyped-def]
    # Given a dossier notify has seen received
    notify = start(build)
    notify.deliver(Topics.DOSSIERS, RECEIVED, key=CODE, event_type=EventTypes.DOSSIER_RECEIVED)
    # When it is accepted, and the same change comes again under another event id
    first = notify.deliver(Topics.DOSSIERS, ACCEPTED, key=CODE, event_type=EventTypes.DOSSIER_STATUS_CHANGED)
    again = notify.deliver(Topics.DOSSIERS, ACCEPTED, key=CODE, event_type=EventTypes.DOSSIER_STATUS_CHANGED)
    # Then one notice is sent, on Zalo (the contact's choice), beginning with the dossier code
    [notice] = first
    assert again == []
    assert notice.topic == Topics.NOTIFICATIONS.name
    assert notice.record["channel"] == "ZALO"
    assert notice.record["message"].startswith(f"Hồ sơ {CODE}")
    assert RECEIVED["contact"]["phone"] not in notice.record["recipient_masked"]


def test_a_change_for_a_dossier_never_seen_received_is_dead_lettered(start) -> None:  # type: ignore[no-untyped-def]
    notify = start(build)
    out = notify.deliver(Topics.DOSSIERS, ACCEPTED, key=CODE, event_type=EventTypes.DOSSIER_STATUS_CHANGED)
    assert [p.topic for p in out] == [notify.service.dead_letter_topic.name]
    assert "never saw" in out[0].record["reason"]
