"""The citizen journey end to end on the real broker, every service running as its own process.

Business time runs fast (one day per second of real time) and the department stand-in follows a test
profile, so each path of the journey plays out in seconds: every scenario's dossier is submitted when the
stack starts, and each test follows its own dossier to the end.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import yaml

from egov.contracts.envelope import APP_ID_PREFIX, Envelope
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes, Topics, TopicSpec, dead_letters
from egov.contracts.validation import get_validator
from egov.paths import EXAMPLES_DIR
from egov.platform.province import get_province
from egov.tools.samples import submission
from egov.tools.trace import journeys, render
from services import all_topics, load_services
from services.population.domain import altered, get_register
from tests.integration.conftest import Stack, fast_clock_env, new_settings, run_stack, wait_until
from tests.integration.kafka_helpers import Record, collect, produce, read_all, wait_committed_past

pytestmark = pytest.mark.integration

PROVINCE = get_province("binh-thuan")
REGISTER = get_register()
#: Real seconds per business day.
DAY = 1.0

FEE = "1.009972.000.00.00.H11"  # 20 working days, 150.000 đồng: on time with a wide margin under load
SUPPLEMENT = "1.002804.000.00.00.H11"  # 5 working days, 135.000 đồng
REFUSED = "2.000488.000.00.00.H11"  # 10 working days
LATE = "1.001612.000.00.00.H11"  # 3 working days

PROFILE = {
    "default": {"duration_days": 1, "supplement_chance": 0.0, "reject_chance": 0.0},
    "procedures": {
        FEE: {"duration_days": 0},  # decided the day it is assigned
        SUPPLEMENT: {"duration_days": 2, "supplement_chance": 1.0},
        REFUSED: {"duration_days": 1, "reject_chance": 1.0},
        LATE: {"duration_days": 5},
    },
}
FINAL = ("RESULT_RETURNED", "STOPPED", "NOT_ACCEPTED")


def scenarios() -> dict[str, tuple[str, dict[str, str]]]:
    """Scenario → (procedure, applicant): people of the register, an altered one, a stranger, a silent one."""
    people = REGISTER.answering()
    return {
        "fee": (FEE, people[0].as_citizen()),
        "mismatch": (FEE, altered(people[1], "full_name")),
        "not-found": (FEE, REGISTER.stranger(random.Random(5))),
        "supplement": (SUPPLEMENT, people[2].as_citizen()),
        "refused": (REFUSED, people[3].as_citizen()),
        "timeout": (FEE, REGISTER.silent()[0].as_citizen()),
        "late": (LATE, people[4].as_citizen()),
    }


@dataclass
class Journey:
    stack: Stack
    submissions: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.stack.settings.kafka_bootstrap_servers

    def submit_all(self) -> None:
        rng = random.Random(2017)
        with self.stack.portal as client:
            for name, (procedure, applicant) in scenarios().items():
                body = submission(rng, [procedure])
                body["applicant"] = applicant
                if name == "not-found":  # nobody signs in with that number: a counter officer receives it
                    body["channel"] = "IN_PERSON"
                answer = client.post("/api/v1/dossiers", json=body)
                assert answer.status_code == 202, answer.text
                self.submissions[name] = answer.json()["submission_id"]
                self.bodies[name] = body

    def code(self, name: str, timeout: float = 60.0) -> str:
        if name not in self.codes:
            self.codes[name] = self.poll(
                lambda c: c.get(f"/api/v1/submissions/{self.submissions[name]}").json().get("dossier_code"),
                timeout,
                f"no dossier code for {name}",
            )
        return self.codes[name]

    def view(self, name: str) -> dict[str, Any]:
        with self.stack.portal as client:
            return dict(client.get(f"/api/v1/dossiers/{self.code(name)}").json())

    def wait_status(self, name: str, statuses: tuple[str, ...], timeout: float = 90.0) -> dict[str, Any]:
        code = self.code(name)

        def reached(client: httpx.Client) -> dict[str, Any] | None:
            view = client.get(f"/api/v1/dossiers/{code}").json()
            return view if view.get("status") in statuses else None

        return self.poll(reached, timeout, f"{name} ({code}) did not reach {statuses}")

    def poll(self, check: Callable[[httpx.Client], Any], timeout: float, failure: str) -> Any:
        with self.stack.portal as client:
            return wait_until(lambda: check(client), failure, timeout, logs=self.stack.logs)

    def events(self, spec: TopicSpec, key: str) -> list[Record]:
        return [r for r in read_all(self.bootstrap, self.stack.topic(spec)) if r.key == key.encode()]

    def notices(self, name: str) -> list[dict[str, Any]]:
        return [r.decoded() for r in self.events(Topics.NOTIFICATIONS, self.code(name))]

    def wait_notices(self, name: str, templates: set[str], timeout: float = 30.0) -> list[dict[str, Any]]:
        code = self.code(name)
        records = collect(
            self.bootstrap,
            self.stack.topic(Topics.NOTIFICATIONS),
            until=lambda rs: templates <= {r.decoded()["template"] for r in rs if r.key == code.encode()},
            timeout=timeout,
        )
        return [r.decoded() for r in records if r.key == code.encode()]


@pytest.fixture(scope="module")
def journey(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    folder = tmp_path_factory.mktemp("journey")
    settings = new_settings(kafka_bootstrap, folder / "state")
    profile = folder / "agency-profile.yaml"
    profile.write_text(yaml.safe_dump(PROFILE), encoding="utf-8")
    env = {
        **fast_clock_env(DAY),
        "EGOV_AGENCY_PROFILE": str(profile),
        "EGOV_LGSP_TIMEOUT": "1.0",
        "EGOV_LGSP_ATTEMPTS": "2",
    }
    with run_stack(settings, env=env) as stack:
        journey = Journey(stack)
        journey.submit_all()
        yield journey


def codes_of(view: dict[str, Any]) -> list[int]:
    return [step["status_code"] for step in view["history"]]


def templates_of(notices: list[dict[str, Any]]) -> list[str]:
    return sorted(n["template"] for n in notices)


def test_an_accepted_dossier_with_a_fee_gets_its_result(journey: Journey) -> None:
    view = journey.wait_status("fee", FINAL)
    assert view["status"] == "RESULT_RETURNED"
    assert codes_of(view) == [1, 2, 4, 6, 9, 10]
    assert view["fee"]["amount_vnd"] == 150000
    assert view["result"]["on_time"] is True
    assert view["result"]["electronic"] is (journey.bodies["fee"]["channel"] == "ONLINE")

    code = journey.code("fee")
    [settled] = [r.decoded() for r in journey.events(Topics.SETTLEMENTS, code)]
    assert settled["payment_reference"] == view["fee"]["payment_reference"]
    notices = journey.wait_notices("fee", {"received", "fee_requested", "result_ready"})
    assert templates_of(notices) == ["fee_requested", "received", "result_ready"]
    contact = journey.bodies["fee"]["contact"]
    for notice in notices:
        assert notice["channel"] == contact["notify_by"]
        assert notice["message"].startswith(f"Hồ sơ {code}")
        assert contact["phone"] not in str(notice)
    [fee_notice] = [n for n in notices if n["template"] == "fee_requested"]
    assert "50.000 đồng" in fee_notice["message"]
    # The department's approval is an issued, signed decision, and the citizen's notice says so.
    document = view["result"]["document_id"]
    assert document and document.startswith(f"{PROVINCE.procedure(FEE).responsible_agency},")  # type: ignore[union-attr]
    [ready] = [n for n in notices if n["template"] == "result_ready"]
    assert document in ready["message"]


def test_an_identity_mismatch_is_refused_with_form_03(journey: Journey) -> None:
    view = journey.wait_status("mismatch", FINAL)
    assert view["status"] == "NOT_ACCEPTED" and codes_of(view) == [1, 3]
    assert "không khớp" in view["history"][-1]["reason"] and "họ và tên" in view["history"][-1]["reason"]
    [notice] = journey.wait_notices("mismatch", {"not_accepted"})
    assert "không được tiếp nhận" in notice["message"]
    types = {r.headers["ce_type"] for r in journey.events(Topics.DOSSIERS, journey.code("mismatch"))}
    assert EventTypes.DOSSIER_ASSIGNED not in types  # a refused dossier never reaches an agency


def test_an_unknown_id_number_is_refused_with_lgsp_code_201(journey: Journey) -> None:
    view = journey.wait_status("not-found", FINAL)
    assert view["status"] == "NOT_ACCEPTED"
    assert "không có trong" in view["history"][-1]["reason"]
    [answer] = [r.decoded() for r in journey.events(Topics.LGSP_TO_ONESTOP, journey.code("not-found"))]
    assert (answer["outcome"], answer["error_code"]) == ("NOT_FOUND", 201)


def test_a_dossier_with_a_supplement_is_supplied_then_decided(journey: Journey) -> None:
    asked = journey.wait_status("supplement", ("SUPPLEMENT_REQUESTED",))
    assert asked["supplement"]["missing_items"]
    code = journey.code("supplement")
    with journey.stack.portal as client:
        wrong = client.post(
            f"/api/v1/dossiers/{code}/supplements", json={"attachments": [{"file_name": "a"}]}
        )
        assert wrong.status_code == 422
        assert "attachments.0.sha256" in {e["field"] for e in wrong.json()["errors"]}
        files = journey.bodies["supplement"]["attachments"]
        supplied = client.post(f"/api/v1/dossiers/{code}/supplements", json={"attachments": files})
        assert supplied.status_code == 202, supplied.text
    view = journey.wait_status("supplement", FINAL)
    assert view["status"] == "RESULT_RETURNED"
    assert codes_of(view) == [1, 2, 4, 5, 4, 6, 9, 10]
    assert view["appointment_date"] >= asked["appointment_date"]  # the clock stood still meanwhile
    assigned = [
        r
        for r in journey.events(Topics.DOSSIERS, code)
        if r.headers["ce_type"] == EventTypes.DOSSIER_ASSIGNED
    ]
    assert len(assigned) == 2
    assert "supplement_requested" in templates_of(
        journey.wait_notices("supplement", {"supplement_requested"})
    )
    with journey.stack.portal as client:
        late = client.post(f"/api/v1/dossiers/{code}/supplements", json={"attachments": files})
    assert late.status_code == 409 and late.json()["errors"][0]["field"] == "dossier_code"


def test_an_agency_refusal_stops_the_dossier(journey: Journey) -> None:
    view = journey.wait_status("refused", FINAL)
    assert view["status"] == "STOPPED" and codes_of(view) == [1, 2, 4, 8]
    assert view["history"][-1]["reason"]
    assert "fee" not in view
    [notice] = journey.wait_notices("refused", {"rejected"}, timeout=30)[-1:]
    assert "không được giải quyết" in notice["message"]


def test_a_national_database_time_out_still_answers_the_dossier(journey: Journey) -> None:
    view = journey.wait_status("timeout", FINAL)
    assert view["status"] == "RESULT_RETURNED"
    assert "hết thời gian chờ" in view["history"][1]["reason"]
    code = journey.code("timeout")
    attempts = [r.decoded()["attempt"] for r in journey.events(Topics.POPULATION_REQUESTS, code)]
    assert attempts == [1, 2]  # a retry with back-off, then TIMEOUT
    [answer] = [r.decoded() for r in journey.events(Topics.LGSP_TO_ONESTOP, code) if "outcome" in r.decoded()]
    assert answer["outcome"] == "TIMEOUT"


def test_a_late_dossier_gets_an_apology_and_a_new_date(journey: Journey) -> None:
    view = journey.wait_status("late", FINAL, timeout=120)
    assert view["status"] == "RESULT_RETURNED"
    assert view["result"]["on_time"] is False
    code = journey.code("late")
    overdue = [
        r.decoded()
        for r in journey.events(Topics.DOSSIERS, code)
        if r.headers["ce_type"] == EventTypes.DOSSIER_OVERDUE
    ]
    assert overdue, "no apology (form 04) was issued"
    first = overdue[0]
    assert first["new_appointment_date"] > first["original_appointment_date"]
    assert "xin lỗi" in first["apology"]
    notices = journey.wait_notices("late", {"overdue_apology", "result_ready"})
    assert templates_of(notices).count("overdue_apology") == len(overdue)


def test_a_duplicate_of_every_event_changes_nothing(journey: Journey) -> None:
    # Every dossier at rest: finished, or waiting for the citizen's supplement (the clock stopped).
    for name in scenarios():
        journey.wait_status(name, (*FINAL, "SUPPLEMENT_REQUESTED"), timeout=120)
    keys = {journey.code(n).encode() for n in scenarios()} | {
        s.encode() for s in journey.submissions.values()
    }
    topics = all_topics()
    before = {
        t.name: [r for r in read_all(journey.bootstrap, journey.stack.topic(t)) if r.key in keys]
        for t in topics
    }

    # Deliver every event of those dossiers again, as a broker redelivery would: same bytes, same headers.
    consumed_by = {spec.name: [] for spec in topics}
    for name, service in load_services().items():
        for spec in service.consumes:
            consumed_by[spec.name].append(f"{journey.stack.settings.topic_prefix}{APP_ID_PREFIX}{name}")
    last: dict[tuple[str, int], int] = {}
    replayed: dict[str, int] = {}
    for spec in topics:
        if not consumed_by.get(spec.name):
            continue
        for record in before[spec.name]:
            partition, offset = produce(
                journey.bootstrap, journey.stack.topic(spec), record.key, record.value, record.raw_headers
            )
            last[(spec.name, partition)] = offset
            replayed[spec.name] = replayed.get(spec.name, 0) + 1
    assert sum(replayed.values()) > 30, replayed
    for (topic_name, partition), offset in last.items():
        for group in consumed_by[topic_name]:
            wait_committed_past(
                journey.bootstrap, group, journey.stack.settings.topic_prefix + topic_name, partition, offset
            )

    after = {
        t.name: [r for r in read_all(journey.bootstrap, journey.stack.topic(t)) if r.key in keys]
        for t in topics
    }
    for spec in topics:
        assert len(after[spec.name]) == len(before[spec.name]) + replayed.get(spec.name, 0), spec.name


#: For each service: a topic it consumes, and a valid event to send after the bad ones.
BAD_INPUT = {
    "portal": (Topics.DOSSIERS, EventTypes.DOSSIER_RECEIVED),
    "onestop": (Topics.SUPPLEMENTS, EventTypes.SUPPLEMENT_SUPPLIED),
    "lgsp": (Topics.CASE_EVENTS, EventTypes.AGENCY_DECISION_MADE),
    "population": (Topics.POPULATION_REQUESTS, EventTypes.POPULATION_LOOKUP_REQUESTED),
    "agency": (Topics.LGSP_TO_AGENCIES, EventTypes.DOSSIER_ASSIGNED),
    "payment": (Topics.DOSSIERS, EventTypes.FEE_REQUESTED),
    "notify": (Topics.DOSSIERS, EventTypes.DOSSIER_RECEIVED),
    "reporting": (Topics.SETTLEMENTS, EventTypes.FEE_SETTLED),
}


def golden(event_type: str, **changes: Any) -> bytes:
    """The golden example of `event_type`, with `changes`, in the wire format."""
    body = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8")) | changes
    record, errors = get_validator().from_json(event_type, body)
    assert not errors and record is not None, errors
    return get_registry().encode(event_type, record)


@pytest.mark.parametrize("service", sorted(BAD_INPUT))
def test_bad_input_goes_to_the_dead_letters_and_the_service_goes_on(journey: Journey, service: str) -> None:
    spec, valid_type = BAD_INPUT[service]
    stack = journey.stack
    topic = stack.topic(spec)
    key = f"000.00.04.H11-200101-{random.randrange(10**4):04d}".encode()
    source = "/egov/agency" if spec is Topics.CASE_EVENTS else f"/egov/{spec.owner}"

    def headers(event_type: str) -> list[tuple[str, bytes]]:
        return Envelope.new(
            source=source, type=event_type, subject=key.decode(), time=dt.datetime.now(dt.UTC)
        ).to_headers()

    garbage = produce(journey.bootstrap, topic, key, b'{"not": "avro"}', headers(valid_type))
    wrong_type = produce(
        journey.bootstrap,
        topic,
        key,
        golden(EventTypes.NOTIFICATION_SENT),
        headers(EventTypes.NOTIFICATION_SENT),
    )
    changes = {"dossier_code": key.decode()} if valid_type != EventTypes.POPULATION_LOOKUP_REQUESTED else {}
    partition, offset = produce(
        journey.bootstrap, topic, key, golden(valid_type, **changes), headers(valid_type)
    )
    group = f"{stack.settings.topic_prefix}{APP_ID_PREFIX}{service}"
    wait_committed_past(journey.bootstrap, group, topic, partition, offset)

    def origin(letter: dict[str, Any]) -> tuple[str, int, int]:
        return letter["origin_topic"], letter["origin_partition"], letter["origin_offset"]

    # The service committed past the valid event, so every letter it wrote for the three is on the topic.
    found = {
        origin(r.decoded()): r.decoded()
        for r in read_all(journey.bootstrap, stack.topic(dead_letters(service)))
    }
    undecodable, off_contract = found[(topic, *garbage)], found[(topic, *wrong_type)]
    assert "single-object" in undecodable["reason"] or "marker" in undecodable["reason"], undecodable[
        "reason"
    ]
    assert undecodable["original_value"] == b'{"not": "avro"}'
    assert "is not an event type of topic" in off_contract["reason"]
    if service == "onestop":  # well-formed, but for a dossier it never received: refused, not applied
        assert "has not received" in found[(topic, partition, offset)]["reason"]
    else:
        assert (topic, partition, offset) not in found
    if service == "lgsp":
        assert undecodable["error_code"] == 500 == off_contract["error_code"]


def test_the_journey_of_a_dossier_reads_back_across_every_layer(journey: Journey) -> None:
    view = journey.wait_status("fee", FINAL)
    code = journey.code("fee")
    [steps] = journeys(journey.stack.settings, [code]).values()
    assert steps[0].short_type == "DossierSubmitted" and steps[0].writer == "portal"
    at = [s.time.replace(microsecond=s.time.microsecond // 1000 * 1000) for s in steps]  # as events carry it
    assert at == sorted(at)
    assert {s.writer for s in steps} == {
        "portal",
        "onestop",
        "lgsp",
        "population",
        "agency",
        "payment",
        "notify",
    }
    changes = [s.summary.split(" — ")[0] for s in steps if s.short_type == "DossierStatusChanged"]
    assert changes[-1] == "PROCESSED → RESULT_RETURNED" and len(changes) == len(view["history"]) - 1
    relayed = [s for s in steps if s.writer == "lgsp" and s.service == "agency"]
    assert [s.short_type for s in relayed] == ["AgencyDecisionMade"]
    lines = render(code, steps, timezone=PROVINCE.timezone, layers={"lgsp": "Integration platform (LGSP)"})
    assert lines[0] == code and len(lines) == len(steps) + 1
    assert journey.bodies["fee"]["applicant"]["id_number"] not in "\n".join(lines)


def test_the_audit_log_holds_every_event_and_verifies(journey: Journey) -> None:
    from click.testing import CliRunner

    from egov.platform.audit import verify
    from egov.tools.cli import main

    journey.wait_status("fee", FINAL)
    code = journey.code("fee")
    wanted = {r.headers["ce_id"] for r in journey.events(Topics.DOSSIERS, code)}
    folder = journey.stack.settings.state_dir / "audit"

    def logged() -> set[str]:
        found = set()
        for path in (folder / Topics.DOSSIERS.name).glob("[0-9]*.jsonl"):
            if not path.name.endswith(".checkpoints.jsonl"):
                found |= {json.loads(line)["ce_id"] for line in path.read_text(encoding="utf-8").splitlines()}
        return found

    deadline = time.monotonic() + 60
    while not (wanted <= logged() and folder.exists() and verify(folder).checkpoints > 0):
        assert time.monotonic() < deadline, "the audit log did not catch up within 60s"
        time.sleep(0.5)
    result = CliRunner().invoke(main, ["audit", "verify", "--dir", str(folder)])
    assert result.exit_code == 0 and "audit log intact" in result.output, result.output
    text = "\n".join(p.read_text(encoding="utf-8") for p in folder.glob("*/*.jsonl"))
    for body in journey.bodies.values():  # no ID number and no phone number in clear
        assert body["applicant"]["id_number"] not in text and body["contact"]["phone"] not in text
