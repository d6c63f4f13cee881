"""The CloudEvents envelope in Kafka headers (CloudEvents Kafka protocol binding, binary content mode).

The value of a Kafka record is the Avro single-object body; the event's attributes travel as headers:
`ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_time`, `ce_subject`, `content-type`, plus the W3C
`traceparent` so a dossier can be followed across services. `ce_id` is the idempotency key: a consumer that
has seen it already does nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

SPECVERSION = "1.0"
CONTENT_TYPE = "application/avro"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type")

#: A service's Faust app id (and so its consumer group and its broker principal's resources) is
#: `<topic prefix>egov-<service>`, and the CloudEvents source of what it emits `/egov/<service>`; the
#: architecture checks map both back to the service.
APP_ID_PREFIX = "egov-"
SOURCE_PREFIX = "/egov/"

#: Header naming the service that wrote a record to its topic (it differs from `ce_source` for an event
#: the LGSP forwards unchanged); `egov arch observe` checks it against the model.
WRITER_HEADER = "egov_writer"

#: Header naming who acted, for an event that records a person's action (its Actor field): `<KIND>:<id>`, the
#: pseudonymous id of the person's identity provider, never an ID number; the audit log keeps it in clear.
ACTOR_HEADER = "egov_actor"
#: The fields of the events that record who acted (each a `vn.egov.common.Actor`).
ACTOR_FIELDS = ("submitted_by", "supplied_by", "drafted_by", "approved_by_person", "requested_by")


def actor_of(record: Mapping[str, object]) -> str | None:
    """`<KIND>:<id>` of the person an event records as acting, or None."""
    for name in ACTOR_FIELDS:
        actor = record.get(name)
        if isinstance(actor, Mapping) and actor.get("id"):
            return f"{actor.get('kind')}:{actor['id']}"
    return None


class EnvelopeError(ValueError):
    """Kafka headers that do not make a CloudEvent; the message names the missing or bad header."""


def new_traceparent(trace_id: str | None = None) -> str:
    """A W3C traceparent: the given trace (or a new one) with a new span."""
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trace_id_of(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


@dataclass(frozen=True)
class Envelope:
    """CloudEvents attributes of one event."""

    id: str
    source: str
    type: str
    time: dt.datetime
    subject: str | None = None
    traceparent: str = field(default_factory=new_traceparent)
    specversion: str = SPECVERSION

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise EnvelopeError("ce_time must be timezone-aware (UTC on the wire)")

    @classmethod
    def new(
        cls,
        *,
        source: str,
        type: str,
        subject: str | None,
        time: dt.datetime,
        id: str | None = None,
        caused_by: Envelope | None = None,
    ) -> Envelope:
        """A new event; when `caused_by` is given it continues that event's trace."""
        trace = trace_id_of(caused_by.traceparent) if caused_by else None
        return cls(
            id=id or str(uuid.uuid4()),
            source=source,
            type=type,
            time=time.astimezone(dt.UTC),
            subject=subject,
            traceparent=new_traceparent(trace),
        )

    def derived_id(self, purpose: str) -> str:
        """A deterministic id for the event this one causes: redelivery yields the same id again, so the
        downstream consumers' idempotency holds across retries."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.id}/{purpose}"))

    def with_subject(self, subject: str) -> Envelope:
        return replace(self, subject=subject)

    def to_headers(self) -> list[tuple[str, bytes]]:
        headers = [
            ("ce_specversion", self.specversion),
            ("ce_id", self.id),
            ("ce_source", self.source),
            ("ce_type", self.type),
            ("ce_time", self.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")),
            ("content-type", CONTENT_TYPE),
            ("traceparent", self.traceparent),
        ]
        if self.subject is not None:
            headers.append(("ce_subject", self.subject))
        return [(k, v.encode()) for k, v in headers]

    @classmethod
    def from_headers(cls, headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> Envelope:
        values = decode_headers(headers)
        missing = [h for h in _REQUIRED if not values.get(h)]
        if missing:
            raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}")
        if values["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"unsupported ce_specversion {values['ce_specversion']!r}, expected 1.0")
        try:
            time = dt.datetime.fromisoformat(values.get("ce_time", "").replace("Z", "+00:00"))
        except ValueError:
            raise EnvelopeError(f"ce_time is not an RFC 3339 time: {values.get('ce_time')!r}") from None
        if time.tzinfo is None:
            raise EnvelopeError("ce_time has no time zone")
        traceparent = values.get("traceparent")
        return cls(
            id=values["ce_id"],
            source=values["ce_source"],
            type=values["ce_type"],
            time=time,
            subject=values.get("ce_subject"),
            traceparent=traceparent if traceparent and trace_id_of(traceparent) else new_traceparent(),
        )


def decode_headers(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> dict[str, str]:
    """Kafka headers (as faust or aiokafka give them) as a dict of text values."""
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for key, value in items:
        if isinstance(value, bytes | bytearray):
            out[key] = bytes(value).decode("utf-8", errors="replace")
        elif value is not None:
            out[key] = str(value)
    return out
