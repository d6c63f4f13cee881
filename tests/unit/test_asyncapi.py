"""The AsyncAPI document: valid against the official AsyncAPI 3.0.0 schema, complete (every topic, every
service's reads and writes, every event contract), and committed exactly as generated."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes
from egov.tools.contracts import asyncapi
from egov.tools.contracts.asyncapi import (
    AVRO_SCHEMA_FORMAT,
    DOCUMENT_PATH,
    build_document,
    channel_id,
    events_of,
    message_name,
    render_yaml,
    validate,
)
from services import SERVICES, all_topics, load_services

Document = dict[str, Any]


@pytest.fixture(scope="module")
def doc() -> Document:
    return build_document()


def test_the_document_is_valid_asyncapi_3(doc: Document) -> None:
    assert validate(doc) == []


def _first(mapping: dict[str, Any]) -> Any:
    return next(iter(mapping.values()))


BREAKAGES: dict[str, Callable[[Document], None]] = {
    "asyncapi 2.0.0": lambda d: d.update(asyncapi="2.0.0"),
    "unknown action": lambda d: _first(d["operations"]).update(action="publish"),
    "no channel address type": lambda d: _first(d["channels"]).update(address=42),
    "avro payload of no type": lambda d: _first(d["components"]["messages"])["payload"]["schema"].update(
        type=7
    ),
    "zero partitions": lambda d: _first(d["channels"])["bindings"]["kafka"].update(partitions=0),
    "dangling $ref": lambda d: _first(d["operations"])["channel"].update({"$ref": "#/channels/nowhere"}),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_broken_document_is_reported_invalid(doc: Document, breakage: Callable[[Document], None]) -> None:
    broken = copy.deepcopy(doc)
    breakage(broken)
    errors = validate(broken)
    assert errors, "validation accepted a broken document"
    assert all(error.startswith("/") and len(error) < 400 for error in errors), errors


def test_every_topic_is_a_channel_with_its_messages(doc: Document) -> None:
    topics = all_topics()
    assert len(doc["channels"]) == len(topics)
    for spec in topics:
        channel = doc["channels"][channel_id(spec.name)]
        assert channel["address"] == channel["bindings"]["kafka"]["topic"] == spec.name
        assert channel["description"] == spec.doc
        assert channel["x-owner"] == spec.owner
        assert channel["messages"] == {
            message_name(event): {"$ref": f"#/components/messages/{message_name(event)}"}
            for event in events_of(spec)
        }


def test_dead_letter_topics_carry_dead_letter_events(doc: Document) -> None:
    dead_letter_channels = [c for c in doc["channels"].values() if ".dead-letters." in c["address"]]
    assert {c["x-owner"] for c in dead_letter_channels} >= set(SERVICES)
    for channel in dead_letter_channels:
        assert list(channel["messages"]) == [message_name(EventTypes.DEAD_LETTER)]


def test_every_read_and_write_of_every_service_is_an_operation(doc: Document) -> None:
    expected: dict[str, tuple[str, str, str]] = {}
    for name, service in load_services().items():
        for action, specs in (("send", service.produces), ("receive", service.consumes)):
            for spec in specs:
                cid = channel_id(spec.name)
                expected[f"{name}_{action}s_{cid}"] = (action, name, f"#/channels/{cid}")
    operations = doc["operations"]
    actual = {
        op_id: (op["action"], op["x-service"], op["channel"]["$ref"]) for op_id, op in operations.items()
    }
    assert actual == expected
    for op in operations.values():
        cid = op["channel"]["$ref"].removeprefix("#/channels/")
        assert op["messages"] == [
            {"$ref": f"#/channels/{cid}/messages/{m}"} for m in doc["channels"][cid]["messages"]
        ]


def test_every_event_contract_is_a_message_with_its_standalone_schema_and_envelope(doc: Document) -> None:
    registry = get_registry()
    messages = doc["components"]["messages"]
    assert sorted(messages) == sorted(message_name(c.name) for c in registry.events())
    for contract in registry.events():
        message = messages[message_name(contract.name)]
        assert message["payload"] == {
            "schemaFormat": AVRO_SCHEMA_FORMAT,
            "schema": registry.standalone(contract.name),
        }
        assert message["headers"]["properties"]["ce_type"]["const"] == contract.name
        assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"} <= set(
            message["headers"]["required"]
        )
        assert message["x-avro-fingerprint"] == contract.fingerprint.hex()
        assert message["bindings"]["kafka"]["key"]["type"] == "string"


def test_the_yaml_says_exactly_what_the_document_does(doc: Document) -> None:
    text = render_yaml(doc)
    assert yaml.safe_load(text) == doc
    assert "&id" not in text and "*id" not in text, "no YAML anchors: each message reads on its own"
    assert render_yaml(build_document()) == text, "generation must be deterministic"


def test_the_committed_document_is_up_to_date(doc: Document) -> None:
    regenerate = "contracts/asyncapi.yaml is stale: run `egov contracts asyncapi` to regenerate it"
    assert DOCUMENT_PATH.exists(), f"{DOCUMENT_PATH} is missing: run `egov contracts asyncapi` to generate it"
    committed = DOCUMENT_PATH.read_text(encoding="utf-8")
    fresh = render_yaml(doc)
    diff = difflib.unified_diff(
        committed.splitlines(), fresh.splitlines(), "committed", "generated", n=1, lineterm=""
    )
    up_to_date = committed == fresh
    assert up_to_date, regenerate + "\n" + "\n".join(list(diff)[:40])


def test_the_command_writes_the_document_and_checks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "asyncapi.yaml"
    monkeypatch.setattr(asyncapi, "DOCUMENT_PATH", target)
    runner = CliRunner()

    missing = runner.invoke(asyncapi.asyncapi_command, ["--check"])
    assert missing.exit_code == 1 and "missing" in missing.output

    written = runner.invoke(asyncapi.asyncapi_command, [])
    assert written.exit_code == 0, written.output
    assert target.read_text(encoding="utf-8") == render_yaml(build_document())
    assert runner.invoke(asyncapi.asyncapi_command, ["--check"]).exit_code == 0

    target.write_text(target.read_text(encoding="utf-8").replace("3.0.0", "3.0.1", 1), encoding="utf-8")
    stale = runner.invoke(asyncapi.asyncapi_command, ["--check"])
    assert stale.exit_code == 1
    assert "stale" in stale.output and "egov contracts asyncapi" in stale.output
