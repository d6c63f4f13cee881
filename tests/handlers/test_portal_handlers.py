"""portal's routes and read model on the fake runtime: who may submit and follow a dossier, what it shows."""

from __future__ import annotations

import random
from typing import Any

from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import get_province
from egov.runtime.placement import Placement
from egov.runtime.routing import ROUTED_HEADER
from egov.runtime.testing import FAKE_URL, FakeRuntime
from egov.tools.samples import submission
from services.portal.app import build
from services.portal.domain import submission_identity
from tests.handlers.conftest import citizen, example, official

CODE = "000.00.04.H11-261125-0001"
COUNTER = official("000.00.01.H11", "counter_officer")
OTHER = "http://another-worker:8080"


def received(submission_id: str = "6f1c2a3e-8d4b-4c1e-9a57-2b8e0c9d4f10") -> dict[str, object]:
    return example(EventTypes.DOSSIER_RECEIVED, applicant=None, submission_id=submission_id)


def a_submission(seed: int = 1, channel: str = "ONLINE") -> dict[str, Any]:
    codes = [p.code for p in get_province("binh-thuan").procedures]
    return {**submission(random.Random(seed), codes), "channel": channel}


def submit(portal: FakeRuntime, body: dict[str, Any], person: Any = None, **headers: str) -> Any:
    signed = portal.bearer(person or citizen(body["applicant"])) if person is not False else {}
    return portal.request("POST", "/api/v1/dossiers", json=body, headers={**signed, **headers})


def test_a_citizen_submits_online_in_their_own_name_once_per_idempotency_key(start) -> None:  # type: ignore[no-untyped-def]
    # Given the portal and a citizen signed in through VNeID
    portal = start(build)
    body = a_submission()
    # When they submit a dossier, and the client retries with the same key
    first = submit(portal, body, **{"Idempotency-Key": "k-1"})
    again = submit(portal, body, **{"Idempotency-Key": "k-1"})
    # Then one DossierSubmitted is published, keyed by the submission id, naming who submitted it
    assert first.status == again.status == 202
    submitted = portal.on(Topics.DOSSIER_SUBMISSIONS)
    assert len(submitted) == 1
    assert submitted[0].key == first.body["submission_id"] == again.body["submission_id"]
    assert submitted[0].type == EventTypes.DOSSIER_SUBMITTED
    assert submitted[0].headers["egov_writer"] == "portal"
    assert submitted[0].record["submitted_by"] == {
        "kind": "CITIZEN",
        "id": "c-1",
        "agency_code": None,
        "position": None,
    }
    # and the submission is pending until the one-stop system gives it a code
    status = portal.request(
        "GET",
        f"/api/v1/submissions/{first.body['submission_id']}",
        headers=portal.bearer(citizen(body["applicant"])),
    )
    assert status.body == {"submission_id": submitted[0].key, "status": "pending", "dossier_code": None}


def test_without_a_token_nothing_but_the_public_look_up_answers(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    answer = submit(portal, a_submission(), person=False)
    assert answer.status == 401
    assert answer.body["errors"][0]["field"] == "Authorization"
    assert (
        portal.request(
            "POST", "/api/v1/dossiers", json=a_submission(), headers={"Authorization": "Bearer forged"}
        ).status
        == 401
    )
    assert portal.request("GET", f"/api/v1/dossiers/{CODE}").status == 401
    assert portal.published == []
    assert portal.request("GET", "/health").status == 200


def test_a_citizen_may_not_submit_for_someone_else_nor_in_person(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    body = a_submission(seed=1)
    other = a_submission(seed=2)["applicant"]
    answer = submit(portal, body, person=citizen(other))
    assert answer.status == 403
    assert [e["field"] for e in answer.body["errors"]] == ["applicant.id_number"]
    in_person = submit(portal, a_submission(channel="IN_PERSON"))
    assert in_person.status == 403 and in_person.body["errors"][0]["field"] == "channel"
    assert portal.published == []


def test_a_counter_officer_receives_a_dossier_in_person_for_the_citizen(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    answer = submit(portal, a_submission(channel="IN_PERSON"), person=COUNTER)
    assert answer.status == 202
    [submitted] = portal.on(Topics.DOSSIER_SUBMISSIONS)
    assert submitted.record["submitted_by"]["kind"] == "OFFICIAL"
    assert submitted.record["submitted_by"]["agency_code"] == "000.00.01.H11"
    # an officer does not submit online: that is the citizen's own act
    online = submit(portal, a_submission(seed=3), person=COUNTER)
    assert online.status == 403 and online.body["errors"][0]["field"] == "channel"
    # a clerk of a department is not a one-stop counter officer
    clerk = submit(portal, a_submission(channel="IN_PERSON"), person=official("000.00.04.H11", "clerk"))
    assert clerk.status == 403 and clerk.body["errors"][0]["field"] == "Authorization"


def test_a_wrong_id_number_is_a_422_naming_the_field_and_nothing_is_published(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    body = a_submission()
    signed_in = citizen(body["applicant"])
    body["applicant"]["id_number"] = "12345"
    answer = submit(portal, body, person=signed_in)
    assert answer.status == 422
    assert "applicant.id_number" in [e["field"] for e in answer.body["errors"]]
    assert portal.published == []


def test_a_body_that_is_not_json_is_a_400_naming_the_body(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    answer = portal.request("POST", "/api/v1/dossiers", body=b"{not json", headers=portal.bearer(COUNTER))
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == "(body)"


def test_a_broker_outage_is_a_503_asking_to_retry_with_the_same_key(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    portal.engine.send_error = KafkaConnectionError("broker away")
    answer = submit(portal, a_submission())
    assert answer.status == 503
    assert "Idempotency-Key" in answer.body["errors"][0]["message"]


def test_a_record_the_broker_refuses_as_too_large_is_a_413_and_nothing_is_published(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    portal.engine.send_error = MessageSizeTooLargeError("the record is larger than the broker takes")
    answer = submit(portal, a_submission())
    assert (answer.status, answer.body["errors"][0]["field"]) == (413, "(body)")
    assert portal.published == []


def test_the_dossier_is_for_its_applicant_and_its_agencies_and_the_public_sees_its_status(start) -> None:  # type: ignore[no-untyped-def]
    # Given a submission the portal published, received and accepted by the one-stop system
    portal = start(build)
    body = a_submission()
    submission_id = submit(portal, body).body["submission_id"]
    portal.pump()  # the portal reads its own submissions topic back
    portal.deliver(Topics.DOSSIERS, received(submission_id), key=CODE, event_type=EventTypes.DOSSIER_RECEIVED)
    portal.pump()  # the receipt re-keyed by submission id, then the submission by dossier code
    [receipt] = portal.on(Topics.PORTAL_RECEIPTS)
    assert (receipt.key, receipt.type) == (submission_id, EventTypes.DOSSIER_RECEIVED)
    [by_dossier] = portal.on(Topics.PORTAL_SUBMISSIONS_BY_DOSSIER)
    assert (by_dossier.key, by_dossier.type) == (CODE, EventTypes.DOSSIER_SUBMITTED)
    assert by_dossier.envelope.id == portal.on(Topics.DOSSIER_SUBMISSIONS)[0].envelope.id  # unchanged
    changed = example(
        EventTypes.DOSSIER_STATUS_CHANGED, from_status="NEWLY_REGISTERED", to_status="ACCEPTED", reason=None
    )
    portal.deliver(Topics.DOSSIERS, changed, key=CODE, event_type=EventTypes.DOSSIER_STATUS_CHANGED)
    applicant = portal.bearer(citizen(body["applicant"]))
    # Then the submission names its dossier code, and the applicant sees its status and history
    status = portal.request("GET", f"/api/v1/submissions/{submission_id}", headers=applicant)
    assert status.body["dossier_code"] == CODE
    view = portal.request("GET", f"/api/v1/dossiers/{CODE}", headers=applicant)
    assert view.status == 200
    assert view.body["status"] == "ACCEPTED"
    assert [h["status"] for h in view.body["history"]][-1] == "ACCEPTED"
    # so does an official of the responsible agency; another citizen and another department do not
    assert (
        portal.request(
            "GET", f"/api/v1/dossiers/{CODE}", headers=portal.bearer(official("000.00.04.H11", "clerk"))
        ).status
        == 200
    )
    stranger = portal.bearer(citizen(a_submission(seed=2)["applicant"], subject="c-2"))
    refused = portal.request("GET", f"/api/v1/dossiers/{CODE}", headers=stranger)
    assert refused.status == 403 and refused.body["errors"][0]["field"] == "dossier_code"
    assert portal.request("GET", f"/api/v1/submissions/{submission_id}", headers=stranger).status == 403
    other_department = portal.bearer(official("000.00.15.H11", "leader"))
    assert portal.request("GET", f"/api/v1/dossiers/{CODE}", headers=other_department).status == 403
    # anyone may look the dossier up by its code: status and appointment date, no personal data
    public = portal.request("GET", f"/api/v1/public/dossiers/{CODE}")
    assert public.status == 200
    assert public.body == {
        "dossier_code": CODE,
        "status": "ACCEPTED",
        "status_code": 2,
        "appointment_date": received()["appointment_date"].isoformat(),
    }


def test_a_supplement_is_refused_unless_the_dossier_waits_for_one(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    portal.deliver(Topics.DOSSIERS, received(), key=CODE, event_type=EventTypes.DOSSIER_RECEIVED)
    answer = portal.request(
        "POST",
        f"/api/v1/dossiers/{CODE}/supplements",
        json={"attachments": []},
        headers=portal.bearer(COUNTER),
    )
    assert answer.status == 409
    assert answer.body["errors"][0]["field"] == "dossier_code"
    assert portal.on(Topics.SUPPLEMENTS) == []


def test_an_event_under_another_key_is_dead_lettered_and_changes_nothing(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    portal.deliver(Topics.DOSSIERS, received(), key="another-key", event_type=EventTypes.DOSSIER_RECEIVED)
    [letter] = portal.dead_letters
    assert "keyed by dossier_code" in letter.record["reason"]
    assert portal.request("GET", f"/api/v1/public/dossiers/{CODE}").status == 404


def test_a_receipt_read_before_its_submission_still_joins_them(start) -> None:  # type: ignore[no-untyped-def]
    # Given a receipt that reaches the portal's submission partition before the submission itself
    portal = start(build)
    body = a_submission()
    submission_id = submit(portal, body).body["submission_id"]
    portal.deliver(Topics.DOSSIERS, received(submission_id), key=CODE, event_type=EventTypes.DOSSIER_RECEIVED)
    receipts = portal.service.full_name(Topics.PORTAL_RECEIPTS)
    receipt = next(sent for sent in portal.engine.sent if sent.topic == receipts)
    portal.deliver_bytes(
        Topics.PORTAL_RECEIPTS, key=receipt.key, value=receipt.value, headers=receipt.headers
    )
    assert portal.on(Topics.PORTAL_SUBMISSIONS_BY_DOSSIER) == []  # nothing to send on yet
    # When the submission is read back (and the receipt again, which changes nothing)
    portal.pump()
    # Then it is sent on to its dossier's partition once, and its applicant may follow the dossier
    assert [p.key for p in portal.on(Topics.PORTAL_SUBMISSIONS_BY_DOSSIER)] == [CODE]
    assert portal.dead_letters == []
    view = portal.request(
        "GET", f"/api/v1/dossiers/{CODE}", headers=portal.bearer(citizen(body["applicant"]))
    )
    assert view.status == 200


def test_a_look_up_for_another_workers_key_is_answered_by_that_worker(start) -> None:  # type: ignore[no-untyped-def]
    # Given a portal worker that holds no partition of the dossier code (another worker does)
    portal = start(build)
    partitions = portal.engine.assignment.partitions
    portal.engine.assignment = Placement(FAKE_URL, partitions, {p: OTHER for p in range(partitions)})
    token = portal.bearer(COUNTER)
    # When a counter officer looks the dossier up
    answer = portal.request("GET", f"/api/v1/dossiers/{CODE}", headers=token)
    # Then the request, token and all, goes to the worker that holds it, and its answer comes back
    assert answer.body == portal.engine.forwarded_answer.body
    [(url, forwarded)] = portal.engine.forwarded
    assert url == OTHER and forwarded.path == f"/api/v1/dossiers/{CODE}"
    assert forwarded.header("Authorization") == token["Authorization"]
    assert forwarded.header(ROUTED_HEADER) == FAKE_URL
    # and without a valid token it is refused here, before any worker is asked
    assert portal.request("GET", f"/api/v1/dossiers/{CODE}").status == 401
    assert len(portal.engine.forwarded) == 1


def test_a_look_up_is_503_while_its_partition_moves_and_is_never_handed_on_twice(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    partitions = portal.engine.assignment.partitions
    # A partition without a worker (a rebalance): 503, not a 404 from a worker that lacks the key
    portal.engine.assignment = Placement(FAKE_URL, partitions, {})
    moving = portal.request("GET", f"/api/v1/public/dossiers/{CODE}")
    assert moving.status == 503 and moving.body["errors"][0]["rule"] == "rebalancing"
    # A request another worker handed on, for a key this one does not hold (moved meanwhile): 503
    portal.engine.assignment = Placement(FAKE_URL, partitions, {p: OTHER for p in range(partitions)})
    handed_on = portal.request("GET", f"/api/v1/public/dossiers/{CODE}", headers={ROUTED_HEADER: OTHER})
    assert handed_on.status == 503 and portal.engine.forwarded == []


def test_a_submission_without_a_key_gets_an_id_this_worker_holds(start) -> None:  # type: ignore[no-untyped-def]
    # Given a worker holding only partition 0 of the portal's
    portal = start(build)
    partitions = portal.engine.assignment.partitions
    owners = {p: FAKE_URL if p == 0 else OTHER for p in range(partitions)}
    portal.engine.assignment = Placement(FAKE_URL, partitions, owners)
    body = a_submission()
    # When a citizen submits without an Idempotency-Key, it is answered here with an id of partition 0
    answer = submit(portal, body)
    assert answer.status == 202 and portal.engine.forwarded == []
    assert portal.engine.assignment.partition(answer.body["submission_id"]) == 0
    # and with an Idempotency-Key whose submission another worker holds, that worker answers
    elsewhere = next(
        k for k in (f"k-{i}" for i in range(100)) if not portal.engine.assignment.holds(key_id(k))
    )
    submit(portal, body, **{"Idempotency-Key": elsewhere})
    assert [url for url, _ in portal.engine.forwarded] == [OTHER]
    assert (
        portal.on(Topics.DOSSIER_SUBMISSIONS)[-1].key == answer.body["submission_id"]
    )  # none published here


def key_id(key: str) -> str:
    return submission_identity(key)[0]
