"""Structured JSON logs for every service, with personal data masked.

Each line is one JSON object. Handlers bind the event id (`event_id`) and the business key (`dossier_code`,
`submission_id`, `document_id`, …) with `structlog.contextvars`, so every line written while an event is being
handled carries them. Nghị định 13/2023/NĐ-CP makes ID numbers and phone numbers personal data: a processor
masks them wherever they appear, in any field or message, before anything is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

#: A 12-digit personal ID number, also written in groups of three, or a 9-digit old ID card number.
_ID_NUMBER = re.compile(
    r"(?<!\d)(\d{3})[\s.-]?\d{3}[\s.-]?\d{3}[\s.-]?(\d{3})(?!\d)|(?<!\d)\d{5}(\d{4})(?!\d)"
)
#: A Vietnamese phone number: 0, 84 or +84, then 9 digits (mobile) or 10 (landline), spaces, dots or
#: dashes allowed between groups.
_PHONE = re.compile(r"(?<![\d+])(?:\+84|84|0)(?:[\s.-]?\d){8,9}(\d)(?!\d)")
#: Field names whose whole value is personal data, whatever it looks like.
SENSITIVE_KEYS = frozenset({"id_number", "phone", "phone_number", "national_id", "citizen_id"})


#: UUIDs (event ids, submission ids) hold digit runs that look like phone or ID numbers: left as they are.
_UUID = re.compile(r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")


def mask_text(text: str) -> str:
    """Mask ID numbers and phone numbers inside free text, keeping a few digits to tell them apart."""
    parts = _UUID.split(text)  # odd positions are the UUIDs
    return "".join(part if i % 2 else _mask_numbers(part) for i, part in enumerate(parts))


def _mask_numbers(text: str) -> str:
    text = _PHONE.sub(lambda m: "<phone:***" + m.group(1) + ">", text)

    def _id(match: re.Match[str]) -> str:
        if match.group(1):
            return f"{match.group(1)}******{match.group(2)}"
        return f"*****{match.group(3)}"

    return _ID_NUMBER.sub(_id, text)


def mask_value(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in SENSITIVE_KEYS and value not in (None, ""):
        return "***masked***"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bytes | bytearray):
        return mask_text(bytes(value).decode("utf-8", errors="replace"))
    if isinstance(value, Mapping):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [mask_value(v) for v in value]
    return value


def mask_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask personal data in every field of the log line."""
    for key in list(event_dict):
        event_dict[key] = mask_value(event_dict[key], key)
    return event_dict


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
]


def configure_logging(service: str, level: str = "INFO", stream: Any = None) -> None:
    """Route structlog and the standard library (faust, aiokafka) through one JSON renderer."""
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_service(service),
            mask_personal_data,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka and faust are chatty at INFO about every rebalance detail; keep their warnings.
    for noisy in ("aiokafka", "faust.transport", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
