"""portal's routes and read model on the fake runtime."""

from __future__ import annotations

import random

from aiokafka.errors import KafkaConnectionError

from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import get_province
from egov.tools.samples import submission
from services.portal.app import build
from tests.handlers.conftest import example

CODE = "000.00.04.H11-261125-0001"


def received() -> dict[str, object]:
    return example(EventTypes.DOSSIER_RECEIVED, applicant=None)


def a_submission(seed: int = 1) -> dict[str, object]:
    codes = [p.code for p in get_province("binh-thuan").procedures]
    return submission(random.Random(seed), codes)


def test_a_valid_dossier_is_accepted_and_recorded_once_per_idempotency_key(start) -> None:  # type: ignore[no-untyped-def]
    # Given the portal
    portal = start(build)
    # When a citizen submits a dossier, and the client retries with the same key
    first = portal.request(
        "POST", "/api/v1/dossiers", json=a_submission(), headers={"Idempotency-Key": "k-1"}
    )
    again = portal.request(
        "POST", "/api/v1/dossiers", json=a_submission(), headers={"Idempotency-Key": "k-1"}
    )
    # Then one DossierSubmitted is published, keyed by the submission id, and both answers name it
    assert first.status == again.status == 202
    submitted = portal.on(Topics.DOSSIER_SUBMISSIONS)
    assert len(submitted) == 1
    assert submitted[0].key == first.body["submission_id"] == again.body["submission_id"]
    assert submitted[0].type == EventTypes.DOSSIER_SUBMITTED
    assert submitted[0].headers["egov_writer"] == "portal"
    # and the submission is pending until the one-stop system gives it a code
    status = portal.request("GET", f"/api/v1/submissions/{first.body['submission_id']}")
    assert status.body == {"submission_id": submitted[0].key, "status": "pending", "dossier_code": None}


def test_a_wrong_id_number_is_a_422_naming_the_field_and_nothing_is_published(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    body = a_submission()
    body["applicant"]["id_number"] = "12345"  # type: ignore[index]
    answer = portal.request("POST", "/api/v1/dossiers", json=body)
    assert answer.status == 422
    assert "applicant.id_number" in [e["field"] for e in answer.body["errors"]]
    assert portal.published == []


def test_a_body_that_is_not_json_is_a_400_naming_the_body(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    answer = portal.request("POST", "/api/v1/dossiers", body=b"{not json")
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == "(body)"


def test_a_broker_outage_is_a_503_asking_to_retry_with_the_same_key(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    portal.engine.send_error = KafkaConnectionError("broker away")
    answer = portal.request("POST", "/api/v1/dossiers", json=a_submission())
    assert answer.status == 503
    assert "Idempotency-Key" in answer.body["errors"][0]["message"]


def test_the_read_model_follows_the_dossier_and_the_submission_gets_its_code(start) -> None:  # type: ignore[no-untyped-def]
    # Given a submission the portal published
    portal = start(build)
    submission_id = portal.request("POST", "/api/v1/dossiers", json=a_submission()).body["submission_id"]
    # When the one-stop system receives it and accepts it
    received = example(EventTypes.DOSSIER_RECEIVED, submission_id=submission_id, applicant=None)
    portal.deliver(Topics.DOSSIERS, received, key=CODE, event_type=EventTypes.DOSSIER_RECEIVED)
    changed = example(
        EventTypes.DOSSIER_STATUS_CHANGED, from_status="NEWLY_REGISTERED", to_status="ACCEPTED", reason=None
    )
    portal.deliver(Topics.DOSSIERS, changed, key=CODE, event_type=EventTypes.DOSSIER_STATUS_CHANGED)
    # Then the submission names its dossier code, and the dossier shows its status and history
    status = portal.request("GET", f"/api/v1/submissions/{submission_id}")
    assert status.body["dossier_code"] == CODE
    view = portal.request("GET", f"/api/v1/dossiers/{CODE}")
    assert view.status == 200
    assert view.body["status"] == "ACCEPTED"
    assert [h["status"] for h in view.body["history"]][-1] == "ACCEPTED"


def test_a_supplement_is_refused_unless_the_dossier_waits_for_one(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    portal.deliver(Topics.DOSSIERS, received(), key=CODE, event_type=EventTypes.DOSSIER_RECEIVED)
    answer = portal.request("POST", f"/api/v1/dossiers/{CODE}/supplements", json={"attachments": []})
    assert answer.status == 409
    assert answer.body["errors"][0]["field"] == "dossier_code"
    assert portal.on(Topics.SUPPLEMENTS) == []


def test_an_event_under_another_key_is_dead_lettered_and_changes_nothing(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    portal.deliver(Topics.DOSSIERS, received(), key="another-key", event_type=EventTypes.DOSSIER_RECEIVED)
    [letter] = portal.dead_letters
    assert "keyed by dossier_code" in letter.record["reason"]
    assert portal.request("GET", f"/api/v1/dossiers/{CODE}").status == 404
