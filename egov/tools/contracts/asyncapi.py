"""The AsyncAPI 3.0.0 document of the architecture, generated from what the code declares.

Other teams (a ministry's LGSP, a vendor's case system, a new access channel) need one machine-readable
description of what flows where: every topic, who writes and reads it, and the exact contract of each
event, in a standard format their tools read. Kept by hand it would drift from the code; so it is built
from the same sources the services run on — the Avro contracts (`egov.contracts.serde`), the topic
registry (`egov.contracts.topics`) and each service's declared `produces`/`consumes` — validated against
the official AsyncAPI 3.0.0 JSON Schema vendored in `contracts/asyncapi/official/`, and committed as
`contracts/asyncapi.yaml`. `egov contracts asyncapi` regenerates it; `--check` (and a unit test) fails
when the committed file is stale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import click
import jsonschema
import yaml
from jsonschema.exceptions import best_match

from egov import __version__
from egov.contracts.envelope import CONTENT_TYPE, SPECVERSION, WRITER_HEADER
from egov.contracts.serde import Contract, ContractRegistry, get_registry
from egov.contracts.topics import EventTypes, TopicSpec
from egov.paths import CONTRACTS_DIR
from egov.runtime.settings import Settings, replicas_for
from egov.tools.generated import shown, write_or_check
from services import all_topics

if TYPE_CHECKING:
    pass

DOCUMENT_PATH = CONTRACTS_DIR / "asyncapi.yaml"
OFFICIAL_SCHEMA_PATH = CONTRACTS_DIR / "asyncapi" / "official" / "asyncapi-3.0.0.schema.json"
ASYNCAPI_VERSION = "3.0.0"
AVRO_SCHEMA_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"
KAFKA_BINDING_VERSION = "0.5.0"
SERVER_ID = "local-kafka"
#: The Kafka record key of a message that no topic of the registry carries (yet).
DEFAULT_KEY = "business key"

#: The CloudEvents attributes every message carries (`egov.contracts.envelope`); `ce_subject` is optional.
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type")

DESCRIPTION = f"""\
Every event of the architecture, the Kafka topic that carries it, and which service writes and reads it.
Generated from the Avro contracts (`contracts/schemas/`), the topic registry (`egov/contracts/topics.py`) \
and the services' wiring by `egov contracts asyncapi`: do not edit by hand.

**Wire format.** A record's value is Avro single-object encoding: the marker bytes `C3 01`, the 8-byte \
little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form (`x-avro-fingerprint` \
of each message, as it appears on the wire), then the Avro binary body. A reader finds the writer's schema \
in `contracts/` by that fingerprint; no schema registry is needed.

**Envelope.** The event's CloudEvents {SPECVERSION} attributes travel as Kafka headers (CloudEvents Kafka \
protocol binding, binary content mode): `ce_specversion`, `ce_id` (the consumers' idempotency key), \
`ce_source`, `ce_type` (the full name of the body's Avro contract), `ce_time`, the optional `ce_subject`, \
`content-type: {CONTENT_TYPE}`, and the W3C `traceparent`.

Topic names are given without the run-time prefix (`EGOV_TOPIC_PREFIX`) that isolates tenants and test runs.
"""


# -- the document ---------------------------------------------------------------------------------------
def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of every topic, service and event contract, in a stable order."""
    registry = get_registry()
    topics = all_topics()
    messages = _messages(registry, topics)
    _check_channel_ids(topics)
    channels = {channel_id(spec.name): _channel(spec) for spec in topics}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Provincial e-Government Architecture v1.0 — event contracts",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {SERVER_ID: _server()},
        "channels": channels,
        "operations": _operations(channels),
        "components": {"messages": messages},
    }


def channel_id(topic: str) -> str:
    """The channel id of a topic: its name in camel case (`egov.portal.dead-letters.v1` →
    `egovPortalDeadLettersV1`), safe in JSON pointers and code generators."""
    head, *rest = re.split(r"[^0-9A-Za-z]+", topic)
    return head.lower() + "".join(part[:1].upper() + part[1:] for part in rest)


def message_name(event_type: str) -> str:
    """The component name of an event's message: the short name of its Avro contract."""
    return event_type.rsplit(".", 1)[-1]


def events_of(spec: TopicSpec) -> tuple[str, ...]:
    """The event types a topic carries; a dead-letter topic that lists none carries DeadLetter events."""
    return spec.events or (EventTypes.DEAD_LETTER,)


def _check_channel_ids(topics: list[TopicSpec]) -> None:
    seen: dict[str, str] = {}
    for spec in topics:
        clash = seen.setdefault(channel_id(spec.name), spec.name)
        if clash != spec.name:
            raise ValueError(f"topics {clash} and {spec.name} would share the channel id {channel_id(clash)}")


def _server() -> dict[str, Any]:
    return {
        "host": Settings.model_fields["kafka_bootstrap_servers"].default,
        "protocol": "kafka",
        "description": "The local single-node KRaft broker of `egov kafka start` or of the Docker stack. "
        "Services connect elsewhere with `EGOV_KAFKA_BOOTSTRAP_SERVERS`.",
    }


def _channel(spec: TopicSpec) -> dict[str, Any]:
    return {
        "address": spec.name,
        "description": spec.doc,
        "messages": {
            message_name(event): {"$ref": f"#/components/messages/{message_name(event)}"}
            for event in events_of(spec)
        },
        "bindings": {
            "kafka": {
                "topic": spec.name,
                "partitions": Settings.model_fields["partitions"].default,
                "replicas": replicas_for(1),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "x-owner": spec.owner,
        "x-key": spec.key_description,
        # the field of the events whose value is the key (null: the key is not a field of the events)
        "x-key-field": spec.key,
        "x-internal": spec.internal,
    }


def _operations(channels: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One `send` operation per topic a service writes and one `receive` per topic it reads."""
    from services import load_services

    operations: dict[str, Any] = {}
    for name, service in load_services().items():
        for action, verb, specs in (
            ("send", "writes", service.produces),
            ("receive", "reads", service.consumes),
        ):
            for spec in specs:
                cid = channel_id(spec.name)
                if cid not in channels:
                    raise ValueError(f"{name} {verb} {spec.name}, which is not in the topic registry")
                operations[f"{name}_{action}s_{cid}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "summary": f"{name} {verb} {spec.name}.",
                    "messages": [
                        {"$ref": f"#/channels/{cid}/messages/{m}"} for m in channels[cid]["messages"]
                    ],
                    "x-service": name,
                }
    return operations


def _messages(registry: ContractRegistry, topics: list[TopicSpec]) -> dict[str, Any]:
    """One message per event contract, by short name (which must therefore be unique), sorted by full name."""
    keys: dict[str, dict[str, list[str]]] = {}  # event type → key → topics
    for spec in topics:
        for event in events_of(spec):
            keys.setdefault(event, {}).setdefault(spec.key_description, []).append(spec.name)
    messages: dict[str, Any] = {}
    for contract in sorted(registry.events(), key=lambda c: c.name):
        name = message_name(contract.name)
        if name in messages:
            raise ValueError(f"two event contracts share the short name {name}: message names must be unique")
        messages[name] = _message(registry, contract, keys.get(contract.name, {}))
    if missing := sorted(keys.keys() - {c.name for c in registry.events()}):
        raise ValueError(f"topics carry event types that no event contract defines: {', '.join(missing)}")
    return messages


def _message(registry: ContractRegistry, contract: Contract, keys: Mapping[str, list[str]]) -> dict[str, Any]:
    name = message_name(contract.name)
    key = "; ".join(f"{key} on {', '.join(topics)}" for key, topics in keys.items()) or DEFAULT_KEY
    return {
        "name": name,
        "title": _title(name),
        "summary": _first_sentence(contract.doc) or _title(name),
        "description": contract.doc or _title(name),
        "contentType": CONTENT_TYPE,
        "headers": _headers(contract.name),
        "payload": {"schemaFormat": AVRO_SCHEMA_FORMAT, "schema": registry.standalone(contract.name)},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"The record key: {key}."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "x-avro-fingerprint": contract.fingerprint.hex(),
    }


def _headers(event_type: str) -> dict[str, Any]:
    """The CloudEvents envelope of `egov.contracts.envelope` as a JSON Schema of the Kafka headers."""
    return {
        "type": "object",
        "description": f"CloudEvents {SPECVERSION} attributes (Kafka protocol binding, binary content mode) "
        "and the W3C trace context, as UTF-8 header values.",
        "properties": {
            "ce_specversion": {
                "type": "string",
                "const": SPECVERSION,
                "description": "The CloudEvents specification version.",
            },
            "ce_id": {
                "type": "string",
                "minLength": 1,
                "description": "The event id and idempotency key: a consumer that has seen it does nothing.",
            },
            "ce_source": {
                "type": "string",
                "format": "uri-reference",
                "description": "The service the event comes from, e.g. `/egov/portal`.",
            },
            "ce_type": {
                "type": "string",
                "const": event_type,
                "description": "The event type: the full name of the body's Avro contract.",
            },
            "ce_time": {
                "type": "string",
                "format": "date-time",
                "description": "When the event happened, RFC 3339 in UTC.",
            },
            "ce_subject": {
                "type": "string",
                "description": "The business key the event is about (optional).",
            },
            "content-type": {
                "type": "string",
                "const": CONTENT_TYPE,
                "description": "The body is Avro single-object encoding.",
            },
            "traceparent": {
                "type": "string",
                "description": "W3C trace context (`00-<trace id>-<span id>-<flags>`): "
                "follows a dossier across services.",
            },
            WRITER_HEADER: {
                "type": "string",
                "description": "The service that wrote this record to this topic (differs from ce_source "
                "when an event is forwarded); `egov arch observe` checks it against the topic's owner.",
            },
        },
        "required": list(REQUIRED_HEADERS),
    }


def _title(name: str) -> str:
    """`DossierSubmitted` → `Dossier submitted`."""
    words = re.split(r"(?<=[a-z0-9])(?=[A-Z])", name)
    return " ".join([words[0], *(w if w.isupper() else w.lower() for w in words[1:])])


def _first_sentence(doc: str) -> str:
    """The text up to the first full stop outside parentheses (`(Thông tư … Art. 19)` does not end it)."""
    depth = 0
    for i, char in enumerate(doc):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char in ".!?" and (i + 1 == len(doc) or doc[i + 1].isspace()):
            return doc[: i + 1]
    return doc.strip()


# -- output and validation ------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """`yaml.safe_dump`'s dumper without anchors and aliases (a schema inlined twice is written twice), and
    with multi-line text as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_str(self, data: str) -> yaml.ScalarNode:
        return self.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _Dumper.represent_str)


def render_yaml(doc: Mapping[str, Any]) -> str:
    """The document as the YAML committed to `contracts/asyncapi.yaml`."""
    return yaml.dump(dict(doc), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(OFFICIAL_SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def validate(doc: Mapping[str, Any]) -> list[str]:
    """What makes `doc` invalid AsyncAPI 3.0.0, one line each; empty when it is valid.

    Schema errors come from the official JSON Schema (with the innermost cause of a failed `oneOf`); a
    local `$ref` that points at nothing is an error too, as AsyncAPI parsers report it.
    """
    errors = sorted(_validator().iter_errors(doc), key=lambda e: (_pointer(e.absolute_path), e.message))
    causes = (best_match([error]) for error in errors)
    problems = [f"{_pointer(cause.absolute_path)}: {_shorten(cause.message)}" for cause in causes]
    return problems + [
        f"{where}: $ref {ref} points at nothing" for where, ref in _refs(doc) if not _resolves(doc, ref)
    ]


def _shorten(message: str, limit: int = 300) -> str:
    """jsonschema quotes the whole failing instance, which for a payload is a schema of pages."""
    return message if len(message) <= limit else f"{message[: limit - 23]} … {message[-20:]}"


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _refs(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[str, str]]:
    """Every local (`#/…`) `$ref` of the document, with where it is."""
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            yield _pointer(path), ref
        for key, value in node.items():
            yield from _refs(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, (*path, index))


def _resolves(doc: Any, ref: str) -> bool:
    node = doc
    for token in ref.removeprefix("#").split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return True


# -- command --------------------------------------------------------------------------------------------
@click.command("asyncapi")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; fail when the committed document is stale or the fresh one is invalid.",
)
def asyncapi_command(check: bool) -> None:
    """Generate contracts/asyncapi.yaml (AsyncAPI 3.0.0) from the contracts, topics and services."""
    doc = build_document()
    if errors := validate(doc):
        raise click.ClickException(
            f"the generated document is not valid AsyncAPI {ASYNCAPI_VERSION}:\n  " + "\n  ".join(errors)
        )
    write_or_check(DOCUMENT_PATH, render_yaml(doc), check=check, command="egov contracts asyncapi")
    if check:
        click.echo(f"{shown(DOCUMENT_PATH)} is up to date and valid AsyncAPI {ASYNCAPI_VERSION}")
        return
    click.echo(
        f"wrote {shown(DOCUMENT_PATH)}: {len(doc['channels'])} channels, "
        f"{len(doc['operations'])} operations, {len(doc['components']['messages'])} messages"
    )
