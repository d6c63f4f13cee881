"""The first slice on a real broker: portal → DossierSubmitted → onestop → DossierReceived → portal."""

from __future__ import annotations

import random
import re
import time

import httpx
import pytest

from egov.contracts.topics import EventTypes, Topics, dead_letters
from egov.platform.province import get_province
from egov.regulations.codes import parse_dossier_code
from egov.regulations.workdays import WorkingCalendar
from egov.tools.samples import submission
from tests.integration.kafka_helpers import collect, produce, wait_committed_past

pytestmark = pytest.mark.integration

PROVINCE = get_province("binh-thuan")
CODES = [p.code for p in PROVINCE.procedures]


def submit(client: httpx.Client, body: dict) -> str:
    answer = client.post("/api/v1/dossiers", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["submission_id"])


def wait_for_code(client: httpx.Client, submission_id: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/submissions/{submission_id}").json()
        if body["status"] == "received":
            return str(body["dossier_code"])
        assert body["status"] == "pending", body
        time.sleep(0.2)
    raise TimeoutError(f"no dossier code for {submission_id} within {timeout}s")


def received_events(stack, count: int) -> list:  # type: ignore[no-untyped-def]
    return collect(
        stack.settings.kafka_bootstrap_servers,
        stack.topic(Topics.DOSSIERS),
        until=lambda rs: len(rs) >= count,
    )


def test_a_submitted_dossier_gets_its_code_and_appointment_date(stack) -> None:  # type: ignore[no-untyped-def]
    body = submission(random.Random(7), CODES)
    procedure = PROVINCE.procedure(body["procedure_code"])
    with stack.portal as client:
        submission_id = submit(client, body)
        code = wait_for_code(client, submission_id)
        view = client.get(f"/api/v1/dossiers/{code}").json()

    [event] = received_events(stack, 1)
    assert event.headers["ce_type"] == EventTypes.DOSSIER_RECEIVED
    assert event.headers["ce_source"] == "/egov/onestop"
    assert event.headers["ce_subject"] == code
    assert re.match(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", event.headers["traceparent"])
    assert event.key == code.encode()
    received = event.decoded()
    assert received["dossier_code"] == code
    assert received["submission_id"] == submission_id
    assert received["status"] == "NEWLY_REGISTERED"  # until the identity check (no LGSP in this slice)

    parsed = parse_dossier_code(code)
    assert parsed.agency_code == procedure.receiving_agency
    assert parsed.sequence == 1
    assert parsed.receipt_date == received["receipt_date"]
    expected_appointment = WorkingCalendar().add_working_days(parsed.receipt_date, procedure.processing_days)
    assert received["appointment_date"] == expected_appointment

    assert view["status"] == "NEWLY_REGISTERED"
    assert view["status_code"] == 1
    assert view["appointment_date"] == expected_appointment.isoformat()
    assert [step["status_code"] for step in view["history"]] == [1]


def test_a_bad_submission_gets_422_naming_each_field(stack) -> None:  # type: ignore[no-untyped-def]
    body = submission(random.Random(8), CODES)
    body["applicant"]["id_number"] = "999" + body["applicant"]["id_number"][3:]
    body["procedure_code"] = "1.000000.000.00.00.H11"
    del body["applicant"]["full_name"]
    with stack.portal as client:
        answer = client.post("/api/v1/dossiers", json=body)
        unknown = client.get("/api/v1/submissions/00000000-0000-4000-8000-000000000000")
        not_json = client.post("/api/v1/dossiers", content=b"{not json")
    assert answer.status_code == 422
    fields = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert set(fields) == {"procedure_code", "applicant.id_number", "applicant.full_name"}
    assert "catalogue" in fields["procedure_code"]
    assert "999" in fields["applicant.id_number"]
    assert unknown.status_code == 404
    assert not_json.status_code == 400


def test_the_daily_sequence_survives_a_crash_of_onestop(stack) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(9)
    procedure = PROVINCE.procedures[0]
    with stack.portal as client:
        first = [wait_for_code(client, submit(client, submission(rng, [procedure.code]))) for _ in range(2)]
        stack.services["onestop"].kill()
        stack.services["onestop"].start()
        stack.services["onestop"].wait_healthy(120)
        after = wait_for_code(client, submit(client, submission(rng, [procedure.code])))
    codes = [parse_dossier_code(c) for c in [*first, after]]
    by_day: dict = {}
    for code in codes:
        by_day.setdefault(code.receipt_date, []).append(code.sequence)
    # Numbers are consecutive from 1 within a day and never reused, across the crash.
    for sequences in by_day.values():
        assert sequences == list(range(1, len(sequences) + 1))


def test_garbage_goes_to_dead_letters_and_duplicates_change_nothing(stack) -> None:  # type: ignore[no-untyped-def]
    bootstrap = stack.settings.kafka_bootstrap_servers
    submissions_topic = stack.topic(Topics.DOSSIER_SUBMISSIONS)
    rng = random.Random(10)
    with stack.portal as client:
        submission_id = submit(client, submission(rng, CODES))
        wait_for_code(client, submission_id)

    # A rogue client writes bytes that are no event, then replays the portal's event (same ce_id).
    produce(bootstrap, submissions_topic, b"rogue", b"\x00not avro", [("ce_id", b"x")])
    [original] = [
        r
        for r in collect(bootstrap, submissions_topic, until=lambda rs: len(rs) >= 2)
        if r.key == submission_id.encode()
    ]
    partition, offset = produce(
        bootstrap,
        submissions_topic,
        original.key,
        original.value,
        [(k, v.encode()) for k, v in original.headers.items()],
    )

    # onestop handled the replay (its group committed past it) ...
    wait_committed_past(
        bootstrap, f"{stack.settings.topic_prefix}egov-onestop", submissions_topic, partition, offset
    )
    # ... and the garbage is on its dead-letter topic with the reason and the origin,
    [dead] = collect(bootstrap, stack.topic(dead_letters("onestop")), until=lambda rs: len(rs) >= 1)
    letter = dead.decoded()
    assert dead.key == b"rogue"
    assert dead.headers["ce_type"] == "vn.egov.ops.DeadLetter"
    assert dead.headers["dlq_origin_topic"] == submissions_topic
    assert letter["original_value"] == b"\x00not avro"
    assert letter["original_key"] == b"rogue"
    assert letter["original_headers"] == {"ce_id": b"x"}
    assert (letter["service"], letter["origin_topic"]) == ("onestop", submissions_topic)
    assert "missing CloudEvents header" in letter["reason"]
    # ... while the replay was not routed again (routing waits for the broker's ack before committing),
    # and the service goes on with the next dossier.
    with stack.portal as client:
        later_id = submit(client, submission(rng, CODES))
        wait_for_code(client, later_id)
    intake = collect(
        bootstrap,
        stack.topic(Topics.ONESTOP_INTAKE),
        until=lambda rs: any(r.decoded()["submission_id"] == later_id for r in rs),
    )
    assert [r.decoded()["submission_id"] for r in intake].count(submission_id) == 1


def test_a_retried_post_with_the_same_idempotency_key_makes_one_dossier(stack) -> None:  # type: ignore[no-untyped-def]
    body = submission(random.Random(11), CODES)
    headers = {"Idempotency-Key": "counter-7/2026-11-24/0042"}
    with stack.portal as client:
        first = client.post("/api/v1/dossiers", json=body, headers=headers)
        again = client.post("/api/v1/dossiers", json=body, headers=headers)
        assert first.status_code == again.status_code == 202
        submission_id = first.json()["submission_id"]
        assert again.json()["submission_id"] == submission_id
        code = wait_for_code(client, submission_id)
    submitted = collect(
        stack.settings.kafka_bootstrap_servers,
        stack.topic(Topics.DOSSIER_SUBMISSIONS),
        until=lambda rs: any(r.key == submission_id.encode() for r in rs),
    )
    assert [r.key for r in submitted].count(submission_id.encode()) == 1
    assert parse_dossier_code(code).sequence == 1
