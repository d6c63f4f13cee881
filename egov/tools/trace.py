"""A dossier's (or an official document's) journey across the layers, read back from the topics: every event
about it, in time order.

Events about a dossier are keyed by its code on every topic, except the portal's submission (keyed by the
submission id, which DossierReceived links to the code). What each line shows is taken from the event's own
body (status, outcome, template, …), and the writing service from its CloudEvents source; personal data is
never shown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from egov.contracts.envelope import (
    ACTOR_FIELDS,
    SOURCE_PREFIX,
    WRITER_HEADER,
    Envelope,
    EnvelopeError,
    actor_of,
    decode_headers,
)
from egov.contracts.serde import ContractError, get_registry
from egov.contracts.topics import EventTypes, Topics, TopicSpec
from egov.runtime.admin import read_to_end
from egov.runtime.clock import to_millis
from egov.runtime.settings import Settings

#: The topics a dossier's journey is on (dead letters, timers and the internal intake topic are not), in the
#: order events of the same instant are shown: a relay after what it relays.
JOURNEY_TOPICS: tuple[TopicSpec, ...] = (
    Topics.DOSSIER_SUBMISSIONS,
    Topics.DOSSIERS,
    Topics.ONESTOP_TO_LGSP,
    Topics.POPULATION_REQUESTS,
    Topics.POPULATION_ANSWERS,
    Topics.LGSP_TO_AGENCIES,
    Topics.CASE_EVENTS,
    Topics.LGSP_TO_ONESTOP,
    Topics.SUPPLEMENTS,
    Topics.SETTLEMENTS,
    Topics.NOTIFICATIONS,
    Topics.OUTGOING_DOCUMENTS,
    Topics.SIGNATURES,
    Topics.DOCUMENT_STATUS,
    Topics.LGSP_DOCUMENTS,
)


@dataclass(frozen=True)
class TraceStep:
    """One event of a dossier's journey."""

    time: dt.datetime
    writer: str
    source: str
    event_type: str
    topic: str
    summary: str

    @property
    def short_type(self) -> str:
        return self.event_type.rsplit(".", 1)[-1]

    @property
    def service(self) -> str:
        return self.source.removeprefix(SOURCE_PREFIX)


def _by(record: dict[str, Any]) -> str:
    """Who acted, as the event records it: their kind, position and pseudonymous id (never an ID number)."""
    actor = actor_of(record)
    if actor is None:
        return ""
    kind, _, subject = actor.partition(":")
    position = next((record[f].get("position") for f in ACTOR_FIELDS if record.get(f)), None)
    return f" [by {kind.lower()}{' ' + position if position else ''} {subject[:8]}]"


def summary(event_type: str, record: dict[str, Any]) -> str:
    """What a person wants to see of an event, without personal data."""
    match event_type:
        case EventTypes.DOSSIER_RECEIVED:
            return f"{record['status']}, appointment {record['appointment_date']:%d/%m/%Y}"
        case EventTypes.DOSSIER_STATUS_CHANGED:
            reason = f" — {record['reason']}" if record["reason"] else ""
            return f"{record['from_status']} → {record['to_status']}{reason}"
        case EventTypes.IDENTITY_VERIFICATION_ANSWERED | EventTypes.POPULATION_LOOKUP_ANSWERED:
            code = f" (LGSP {record['error_code']})" if record.get("error_code") else ""
            fields = f" {', '.join(record['mismatched_fields'])}" if record["mismatched_fields"] else ""
            return f"{record['outcome']}{fields}{code}"
        case EventTypes.POPULATION_LOOKUP_REQUESTED:
            return f"attempt {record['attempt']}"
        case EventTypes.DOSSIER_ASSIGNED:
            return f"to {record['agency']['code']}, deadline {record['deadline']:%d/%m/%Y}"
        case EventTypes.SUPPLEMENT_REQUESTED:
            return "; ".join(record["missing_items"])
        case EventTypes.AGENCY_DECISION_MADE:
            return record["decision"] + (f" — {record['reason']}" if record["reason"] else "")
        case EventTypes.FEE_REQUESTED:
            return (
                f"{record['amount']['amount']:,} VND".replace(",", ".") + f", {record['payment_reference']}"
            )
        case EventTypes.FEE_SETTLED:
            return "paid online" if record["paid_online"] else "paid at the counter"
        case EventTypes.RESULT_RETURNED:
            kind = "electronic" if record["electronic"] else "paper"
            return f"{kind} result, {'on time' if record['on_time'] else 'late'}"
        case EventTypes.DOSSIER_OVERDUE:
            return (
                f"late for {record['original_appointment_date']:%d/%m/%Y}, "
                f"new date {record['new_appointment_date']:%d/%m/%Y}"
            )
        case EventTypes.NOTIFICATION_SENT:
            return f"{record['channel']} {record['template']}: {record['message']}"
        case EventTypes.DOSSIER_SUBMITTED:
            return f"{record['channel']}, procedure {record['procedure_code']}"
        case EventTypes.IDENTITY_VERIFICATION_REQUESTED:
            return f"request {record['request_id'][:8]}"
        case EventTypes.SUPPLEMENT_SUPPLIED:
            return f"{len(record['attachments'])} file(s)"
        case EventTypes.DOCUMENT_REGISTERED:
            return f"{record['document_type']} {record['number']}/{record['symbol']}: {record['summary']}"
        case EventTypes.DOCUMENT_APPROVED:
            return f"by {record['approved_by']['full_name']}, {record['approved_by']['position']}"
        case EventTypes.SIGNATURE_REQUESTED | EventTypes.SIGNATURE_COMPLETED:
            return f"{record['signer']['full_name']}, SHA-256 {record['content_sha256'][:12]}…"
        case EventTypes.DOCUMENT_ISSUED | EventTypes.DOCUMENT_RECALL_REQUESTED:
            return "to " + ", ".join(r["code"] for r in record["recipients"])
        case EventTypes.DOCUMENT_DELIVERED:
            return f"to {record['recipient']['code']}"
        case EventTypes.DOCUMENT_STATUS_PACKET:
            return f"{record['sender']['code']}: {record['status']} — {record['description']}"
    return ""


def journeys(settings: Settings, codes: Iterable[str], timeout: float = 60.0) -> dict[str, list[TraceStep]]:
    """The journey of each dossier code, in time order (business time, then the order read)."""
    wanted = set(codes)
    registry = get_registry()
    steps: dict[str, list[TraceStep]] = {code: [] for code in wanted}
    submissions: dict[str, TraceStep] = {}
    links: dict[str, str] = {}
    rank = {spec.full_name(settings.topic_prefix): i for i, spec in enumerate(JOURNEY_TOPICS)}
    messages = sorted(
        asyncio.run(read_to_end(settings, rank, timeout)),
        key=lambda m: (rank[m.topic], m.partition, m.offset),
    )
    seen: set[tuple[str, str]] = set()
    for message in messages:
        key = message.key.decode("utf-8", errors="replace") if message.key else ""
        try:
            envelope = Envelope.from_headers(message.headers)
            contract, record = registry.decode(message.value)
        except (ContractError, EnvelopeError):
            continue  # not an event of the journey (a dead letter says why)
        writer = decode_headers(message.headers).get(WRITER_HEADER, "")
        if (envelope.id, writer) in seen:
            continue  # the same event on two of its writer's topics (onestop: its stream and the LGSP's)
        seen.add((envelope.id, writer))
        step = TraceStep(
            time=envelope.time,
            writer=writer,
            source=envelope.source,
            event_type=contract.name,
            topic=message.topic.removeprefix(settings.topic_prefix),
            summary=summary(contract.name, record) + _by(record),
        )
        if contract.name == EventTypes.DOSSIER_SUBMITTED:
            submissions[key] = step
        elif key in wanted:
            steps[key].append(step)
            if contract.name == EventTypes.DOSSIER_RECEIVED:
                links[record["submission_id"]] = key
    for submission_id, code in links.items():
        if submission_id in submissions:
            steps[code].insert(0, submissions[submission_id])
    # Stable: events of the same instant keep the order of their topic (a handler's outputs share a time).
    # An event the LGSP relays is a step of its own (written by the LGSP, from its source).
    # Compared at the precision every event carries (a body's timestamp-millis, e.g. received_at).
    return {code: sorted(found, key=lambda step: to_millis(step.time)) for code, found in steps.items()}


def render(code: str, steps: list[TraceStep], *, timezone: str, layers: dict[str, str]) -> list[str]:
    """Lines of text: local business time, time since the start and since the step before, the writing
    service, its layer, the event."""
    if not steps:
        return [f"{code}: no events found"]
    zone = ZoneInfo(timezone)

    def at(step: TraceStep) -> dt.datetime:  # to the millisecond, the order `journeys` sorts them in
        return step.time.replace(microsecond=step.time.microsecond // 1000 * 1000)

    start = previous = at(steps[0])
    lines = [code]
    width = max(len(layers.get(s.writer or s.service, "")) for s in steps)
    for step in steps:
        elapsed = (at(step) - start).total_seconds() / 86400
        writer = step.writer or step.service
        via = f" (from {step.service})" if step.service != writer else ""
        lines.append(
            f"  {step.time.astimezone(zone):%d/%m %H:%M}  +{elapsed:5.1f}d {_gap(at(step) - previous):>7}  "
            f"{writer:10} {layers.get(writer, ''):{width}}  {step.short_type:29} {step.summary}{via}"
        )
        previous = at(step)
    return lines


def _gap(delta: dt.timedelta) -> str:
    """The time since the step before, in the unit that reads best."""
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"Δ{seconds:.0f}s"
    if seconds < 3600:
        return f"Δ{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"Δ{seconds / 3600:.1f}h"
    return f"Δ{seconds / 86400:.1f}d"


def layer_names(model: Any, services: Iterable[str]) -> dict[str, str]:
    """Each service's first layer in the architecture model, by English name (for `render`)."""
    return {
        service: next((layer.name_en for layer in model.layers if layer.id in model.layers_of(service)), "")
        for service in services
    }
