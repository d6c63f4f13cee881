"""The LGSP alone on the real broker, under a restrictive access policy: every refusal carries its LGSP code,
an authenticated caller refused still gets an answer, and only what the policy allows is forwarded. Under the
default policy, a department's case event is relayed only from the agency the dossier was assigned to and
never dated ahead of the LGSP's clock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from egov.contracts.envelope import APP_ID_PREFIX, Envelope
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes, Topics, dead_letters
from egov.contracts.validation import get_validator
from egov.paths import EXAMPLES_DIR
from tests.integration.conftest import Stack, new_settings, run_stack
from tests.integration.kafka_helpers import collect, produce, read_all, wait_committed_past

pytestmark = pytest.mark.integration

#: onestop may deliver dossiers to agencies but not query the population database; agency may call nothing.
POLICY = {
    "callers": {
        "onestop": {"may_call": ["agency.deliver-dossier"]},
        "agency": {"may_call": []},
    }
}


@pytest.fixture(scope="module")
def lgsp(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("lgsp")
    policy = folder / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY), encoding="utf-8")
    settings = new_settings(kafka_bootstrap, folder / "state")
    with run_stack(settings, ("lgsp",), env={"EGOV_LGSP_POLICY": str(policy)}) as stack:
        yield stack


@pytest.fixture(scope="module")
def lgsp_default(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The LGSP under the default access policy (architecture/lgsp-access-policy.yaml)."""
    settings = new_settings(kafka_bootstrap, tmp_path_factory.mktemp("lgsp-default") / "state")
    with run_stack(settings, ("lgsp",)) as stack:
        yield stack


def event(event_type: str, source: str, key: str, **changes: Any) -> tuple[bytes, list[tuple[str, bytes]]]:
    body = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    body.update(changes)
    record, errors = get_validator().from_json(event_type, body)
    assert record is not None and not errors, errors
    envelope = Envelope.new(source=source, type=event_type, subject=key, time=dt.datetime.now(dt.UTC))
    return get_registry().encode(event_type, record), envelope.to_headers()


def send(
    stack: Stack, spec: Any, key: str, payload: tuple[bytes, list[tuple[str, bytes]]]
) -> tuple[int, int]:
    """Produce, wait until the LGSP has handled it, and return its partition and offset."""
    topic = stack.topic(spec)
    bootstrap = stack.settings.kafka_bootstrap_servers
    partition, offset = produce(bootstrap, topic, key.encode(), payload[0], payload[1])
    group = f"{stack.settings.topic_prefix}{APP_ID_PREFIX}lgsp"
    wait_committed_past(bootstrap, group, topic, partition, offset)
    return partition, offset


def letter(stack: Stack, spec: Any, where: tuple[int, int]) -> dict[str, Any]:
    """The dead letter of the record at `where` (partition, offset) of `spec`'s topic."""
    topic = stack.topic(spec)

    def of_it(letter: dict[str, Any]) -> bool:
        return (letter["origin_topic"], letter["origin_partition"], letter["origin_offset"]) == (
            topic,
            *where,
        )

    records = collect(
        stack.settings.kafka_bootstrap_servers,
        stack.topic(dead_letters("lgsp")),
        until=lambda rs: any(of_it(r.decoded()) for r in rs),
    )
    [found] = [r for r in records if of_it(r.decoded())]
    assert found.headers["dlq_error_code"] == str(found.decoded()["error_code"])
    return found.decoded()


def test_a_caller_not_allowed_gets_101_and_an_answer(lgsp: Stack) -> None:
    key = "000.00.04.H11-200102-0001"
    request = event(EventTypes.IDENTITY_VERIFICATION_REQUESTED, "/egov/onestop", key, dossier_code=key)
    offset = send(lgsp, Topics.ONESTOP_TO_LGSP, key, request)

    refused = letter(lgsp, Topics.ONESTOP_TO_LGSP, offset)
    assert refused["error_code"] == 101
    assert "onestop may not call population.verify-identity" in refused["reason"]
    answers = collect(
        lgsp.settings.kafka_bootstrap_servers,
        lgsp.topic(Topics.LGSP_TO_ONESTOP),
        until=lambda rs: any(r.key == key.encode() for r in rs),
    )
    [answer] = [r.decoded() for r in answers if r.key == key.encode()]
    assert (answer["outcome"], answer["error_code"]) == ("REJECTED", 101)
    assert not [
        r for r in read_all(lgsp.settings.kafka_bootstrap_servers, lgsp.topic(Topics.POPULATION_REQUESTS))
    ]


def test_an_impostor_gets_100_and_no_answer(lgsp: Stack) -> None:
    key = "000.00.04.H11-200102-0002"
    request = event(EventTypes.IDENTITY_VERIFICATION_REQUESTED, "/egov/portal", key, dossier_code=key)
    offset = send(lgsp, Topics.ONESTOP_TO_LGSP, key, request)

    refused = letter(lgsp, Topics.ONESTOP_TO_LGSP, offset)
    assert refused["error_code"] == 100
    assert "/egov/portal" in refused["reason"]
    delivered = read_all(lgsp.settings.kafka_bootstrap_servers, lgsp.topic(Topics.LGSP_TO_ONESTOP))
    assert [r for r in delivered if r.key == key.encode()] == []


def test_deliveries_go_only_to_known_agencies(lgsp: Stack) -> None:
    known, unknown = "000.00.04.H11-200102-0003", "000.00.04.H11-200102-0004"
    good = event(EventTypes.DOSSIER_ASSIGNED, "/egov/onestop", known, dossier_code=known)
    agency = {"code": "000.00.99.H11", "name": "Không có"}
    bad = event(EventTypes.DOSSIER_ASSIGNED, "/egov/onestop", unknown, dossier_code=unknown, agency=agency)
    send(lgsp, Topics.ONESTOP_TO_LGSP, known, good)
    offset = send(lgsp, Topics.ONESTOP_TO_LGSP, unknown, bad)

    refused = letter(lgsp, Topics.ONESTOP_TO_LGSP, offset)
    assert refused["error_code"] == 106 and "000.00.99.H11" in refused["reason"]
    relayed = read_all(lgsp.settings.kafka_bootstrap_servers, lgsp.topic(Topics.LGSP_TO_AGENCIES))
    assert [r.key for r in relayed if r.key in (known.encode(), unknown.encode())] == [known.encode()]
    [forwarded] = [r for r in relayed if r.key == known.encode()]
    assert forwarded.value == good[0]  # relayed unchanged
    assert forwarded.headers["ce_source"] == "/egov/onestop" and forwarded.headers["egov_writer"] == "lgsp"


def test_a_case_system_not_allowed_is_refused_101(lgsp: Stack) -> None:
    key = "000.00.04.H11-200102-0005"
    decision = event(EventTypes.AGENCY_DECISION_MADE, "/egov/agency", key, dossier_code=key)
    offset = send(lgsp, Topics.CASE_EVENTS, key, decision)
    assert letter(lgsp, Topics.CASE_EVENTS, offset)["error_code"] == 101


def test_undecodable_and_contract_breaking_messages_get_500(lgsp: Stack) -> None:
    key = "000.00.04.H11-200102-0006"
    headers = event(EventTypes.DOSSIER_ASSIGNED, "/egov/onestop", key, dossier_code=key)[1]
    garbage = send(lgsp, Topics.ONESTOP_TO_LGSP, key, (b"\x00garbage", headers))
    example = EXAMPLES_DIR / f"{EventTypes.DOSSIER_ASSIGNED}.json"
    record, _ = get_validator().from_json(EventTypes.DOSSIER_ASSIGNED, json.loads(example.read_text("utf-8")))
    assert record is not None
    record["dossier_code"] = "not-a-dossier-code"  # well-formed Avro, but breaks the dossier-code rule
    value = get_registry().encode(EventTypes.DOSSIER_ASSIGNED, record)
    broken = send(lgsp, Topics.ONESTOP_TO_LGSP, key, (value, headers))
    assert letter(lgsp, Topics.ONESTOP_TO_LGSP, garbage)["error_code"] == 500
    contract = letter(lgsp, Topics.ONESTOP_TO_LGSP, broken)
    assert contract["error_code"] == 500 and "dossier_code" in contract["reason"]


def test_a_case_event_is_relayed_only_from_the_assigned_agency_and_never_dated_ahead(
    lgsp_default: Stack,
) -> None:
    stack = lgsp_default
    key = "000.00.04.H11-200102-0007"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # Given a dossier the one-stop system assigned to 000.00.04.H11 through the LGSP
    assigned = event(EventTypes.DOSSIER_ASSIGNED, "/egov/onestop", key, dossier_code=key)
    send(stack, Topics.ONESTOP_TO_LGSP, key, assigned)
    # When another department decides it, when a decision is dated ten years ahead, when one names a writer
    # schema nobody knows, and when the assigned department decides it now
    other = {"code": "000.00.15.H11", "name": "Sở Giao thông vận tải"}
    official = {"official_id": "SGTVT-01", "full_name": "Lê Văn B", "position": "Giám đốc", "agency": other}
    foreign = event(
        EventTypes.AGENCY_DECISION_MADE,
        "/egov/agency",
        key,
        dossier_code=key,
        agency=other,
        decided_by=official,
    )
    ahead = (now + dt.timedelta(days=3653)).isoformat()
    future = event(EventTypes.AGENCY_DECISION_MADE, "/egov/agency", key, dossier_code=key, decided_at=ahead)
    unknown = (b"\xc3\x01" + b"\xff" * 8 + b"\x00", future[1])
    valid = event(
        EventTypes.AGENCY_DECISION_MADE, "/egov/agency", key, dossier_code=key, decided_at=now.isoformat()
    )
    refused = [send(stack, Topics.CASE_EVENTS, key, payload) for payload in (foreign, future, unknown)]
    send(stack, Topics.CASE_EVENTS, key, valid)
    # Then the first three are dead-lettered with their LGSP codes, and only the valid one is relayed
    by_other, dated_ahead, undecodable = (letter(stack, Topics.CASE_EVENTS, at) for at in refused)
    assert by_other["error_code"] == 106
    assert "assigned to 000.00.04.H11" in by_other["reason"] and "000.00.15.H11" in by_other["reason"]
    assert dated_ahead["error_code"] == 500 and "decided_at" in dated_ahead["reason"]
    assert undecodable["error_code"] == 500
    assert undecodable["reason"].startswith("500 DATA_INCORRECT: unknown writer schema fingerprint")
    # (the LGSP committed past the valid one, so whatever it relayed of the four is on the topic)
    relayed = read_all(stack.settings.kafka_bootstrap_servers, stack.topic(Topics.LGSP_TO_ONESTOP))
    assert [r.value for r in relayed if r.key == key.encode()] == [valid[0]]
