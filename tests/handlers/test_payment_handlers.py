"""The payment platform stand-in's wiring on the fake runtime."""

from __future__ import annotations

from egov.contracts.topics import EventTypes, Topics
from services.payment.app import build
from tests.handlers.conftest import example

FEE = example(EventTypes.FEE_REQUESTED)
CODE = str(FEE["dossier_code"])


def test_a_fee_is_settled_once_per_payment_reference(start) -> None:  # type: ignore[no-untyped-def]
    # Given the payment platform, When the same fee is requested twice (under two event ids)
    payment = start(build)
    first = payment.deliver(Topics.DOSSIERS, FEE, key=CODE, event_type=EventTypes.FEE_REQUESTED)
    again = payment.deliver(Topics.DOSSIERS, FEE, key=CODE, event_type=EventTypes.FEE_REQUESTED)
    # Then it is settled once, keyed by the dossier code
    assert [p.type for p in first] == [EventTypes.FEE_SETTLED]
    assert first[0].key == CODE
    assert first[0].record["payment_reference"] == FEE["payment_reference"]
    assert again == []


def test_other_events_of_the_dossiers_topic_are_not_its_business(start) -> None:  # type: ignore[no-untyped-def]
    payment = start(build)
    received = example(EventTypes.DOSSIER_RECEIVED, applicant=None)
    assert payment.deliver(Topics.DOSSIERS, received, key=CODE, event_type=EventTypes.DOSSIER_RECEIVED) == []
