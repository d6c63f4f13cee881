"""Dead letters: a message a service cannot process, kept with the reason.

Each service owns `egov.<service>.dead-letters.v1`. A dead letter is a `vn.egov.ops.DeadLetter` event holding
the original key, value and headers byte for byte, the reason, the error code (an LGSP code, say) and the
origin (topic, partition, offset); the same facts travel as `dlq_*` headers too, for tools that only look at
headers. A code with a name in the service's catalogue is named in the reason and in `dlq_error_name`
(`500 DATA_INCORRECT: …`), so that a number alone is never mistaken for another catalogue's meaning. Its id
is derived from the origin, so a message dead-lettered twice (a redelivery) is one letter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from egov.contracts.envelope import Envelope
from egov.contracts.topics import EventTypes
from egov.runtime.events import Message

#: Longest reason kept in a dead letter's headers (the DeadLetter body keeps it whole).
MAX_REASON_HEADER = 1000


@dataclass(frozen=True)
class DeadLetterEvent:
    type: str
    record: dict[str, Any]


def dead_letter_event(
    service: str,
    source: str,
    message: Message,
    original_headers: Mapping[str, bytes],
    *,
    reason: str,
    error: BaseException | None = None,
    code: int | None = None,
    code_name: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[DeadLetterEvent, list[tuple[str, bytes]]]:
    """The DeadLetter body for `message` and the headers of the record that carries it."""
    failed_at = now or dt.datetime.now(dt.UTC)
    if code is not None and code_name:
        reason = f"{code} {code_name}: {reason}"
    error_name = type(error).__name__ if error else "Error"
    letter = {
        "service": service,
        "reason": reason,
        "error": error_name,
        "error_code": code,
        "origin_topic": str(message.topic),
        "origin_partition": int(message.partition),
        "origin_offset": int(message.offset),
        "original_key": message.key,
        "original_value": message.value,
        "original_headers": dict(original_headers),
        "failed_at": failed_at,
    }
    subject = f"{message.topic}/{message.partition}/{message.offset}"
    envelope = Envelope.new(
        source=source,
        type=EventTypes.DEAD_LETTER,
        subject=subject,
        time=failed_at,
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"dead-letter/{service}/{subject}")),
    )
    headers = [
        *envelope.to_headers(),
        ("dlq_reason", reason[:MAX_REASON_HEADER].encode()),
        ("dlq_error", error_name.encode()),
        ("dlq_service", service.encode()),
        ("dlq_origin_topic", str(message.topic).encode()),
        ("dlq_origin_partition", str(message.partition).encode()),
        ("dlq_origin_offset", str(message.offset).encode()),
        *([("dlq_error_code", str(code).encode())] if code is not None else []),
        *([("dlq_error_name", code_name.encode())] if code is not None and code_name else []),
    ]
    return DeadLetterEvent(EventTypes.DEAD_LETTER, letter), headers


def without_original_value(letter: Mapping[str, Any], refusal: BaseException) -> dict[str, Any]:
    """The letter without the original bytes, for when the broker refuses the letter itself (too large):
    the facts are kept, and the reason says what was dropped."""
    return {
        **letter,
        "original_value": None,
        "reason": f"{letter['reason']} (original value not kept: {type(refusal).__name__})",
    }
