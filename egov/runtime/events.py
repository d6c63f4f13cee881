"""An event as a handler sees it, and how a record off the broker becomes one.

A record is decoded (Avro single-object encoding), its CloudEvents envelope read from its headers, its type
checked against the topic's event types and the envelope, its body against the regulation rules of its
contract, and its key against the topic's key field. What fails is a `ContractError` or an `EnvelopeError`,
which the service turns into a dead letter; a handler only ever sees events that passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from egov.contracts.envelope import Envelope, EnvelopeError
from egov.contracts.serde import Contract, ContractError, ContractRegistry
from egov.contracts.topics import TopicSpec, key_of
from egov.contracts.validation import ContractValidator


class Message(Protocol):
    """A record as the broker client hands it over (Faust's `Message`, or the fake runtime's)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Any: ...
    @property
    def timestamp(self) -> float | None: ...


class RejectedEvent(Exception):
    """A handler refuses an event it cannot act on; the event goes to the dead letters with this reason
    (and `code`, an error code of the service's own catalogue such as the LGSP's, when it has one)."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class IncomingEvent:
    """A decoded event as a handler sees it."""

    envelope: Envelope
    type: str
    record: dict[str, Any]
    key: str | None
    topic: str
    partition: int
    offset: int
    raw_value: bytes
    raw_headers: tuple[tuple[str, bytes], ...]
    #: The business time at which the service handles the event, fixed across retries of the same event,
    #: so a retried step decides (dates, on-time) exactly as its first attempt did.
    handled_at: dt.datetime


Handler = Callable[[IncomingEvent], Awaitable[None]]
#: A handler, or one handler per event type of the topic (types without one are skipped).
Handlers = Handler | Mapping[str, Handler]


def header_items(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """Kafka headers, as a client gives them (pairs or a mapping), as (name, bytes) pairs."""
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in items)


def decode(
    spec: TopicSpec,
    message: Message,
    raw_headers: tuple[tuple[str, bytes], ...],
    registry: ContractRegistry,
    validator: ContractValidator,
) -> tuple[Envelope, Contract, dict[str, Any]]:
    """The envelope, contract and body of a record of `spec`'s topic, or ContractError / EnvelopeError saying
    what is wrong with it."""
    envelope = Envelope.from_headers(raw_headers)
    contract, record = registry.decode(message.value)
    if contract.name not in spec.events:
        raise ContractError(f"{contract.name} is not an event type of topic {spec.name}")
    if envelope.type != contract.name:
        raise EnvelopeError(f"ce_type {envelope.type!r} does not match the body's type {contract.name}")
    require_rules(validator, contract.name, record)
    require_key(spec, message.key, record)
    return envelope, contract, record


def require_rules(validator: ContractValidator, event_type: str, record: Mapping[str, Any]) -> None:
    """The regulation rules of the contract (egov.contracts.validation), on every event in and out."""
    broken = validator.check_rules(event_type, record)
    if broken:
        raise ContractError(f"{event_type} breaks its rules: " + "; ".join(map(str, broken)))


def require_key(spec: TopicSpec, key: bytes | str | None, record: Mapping[str, Any]) -> None:
    """A topic keyed by a field of its events (dossier_code, submission_id) carries each event under that
    field's value: the partition, the per-key order and the state of the key depend on it. A topic whose key
    is not a field of its events (`TopicSpec.key` None) is not checked."""
    if spec.key is None:
        return
    expected = key_of(spec, record)
    if expected is None:
        raise ContractError(f"{spec.name} is keyed by {spec.key}, which this event does not carry")
    given = key.encode() if isinstance(key, str) else key
    if given is None or given != expected.encode():
        shown = "no key" if given is None else f"key {given.decode('utf-8', errors='replace')!r}"
        raise ContractError(
            f"{spec.name} is keyed by {spec.key}, but this event has {shown}, not {expected!r}"
        )


#: Record fields that identify the business object; they are bound to every log line of the event.
_BUSINESS_KEYS = ("dossier_code", "submission_id", "document_id", "correlation_id")


def business_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in _BUSINESS_KEYS if k in record}
