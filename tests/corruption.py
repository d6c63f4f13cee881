"""Damaged records, for the tests that send corrupt events to the services (on the fake runtime and on the
real broker): each kind of damage as a function of a valid record, the Hypothesis strategy that draws them,
and a fixed sample of those that can never leave a valid event.

A record is a topic's valid event as its owner writes it (the golden example of one of its event types, its
key, its CloudEvents headers); each damage says what the dead letter's reason must say when the record is
refused, or None when the damage may leave a valid event (a flipped bit in a name).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import random
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from egov.contracts.envelope import Envelope
from egov.contracts.serde import HEADER_LEN, MAGIC, get_registry
from egov.contracts.topics import TopicSpec, key_of
from egov.contracts.validation import RuleContext, get_validator
from egov.paths import EXAMPLES_DIR
from egov.runtime.settings import Settings
from egov.runtime.testing import FakeClock, FakeEngine
from services import SERVICES

REGISTRY = get_registry()
#: The CloudEvents headers every event needs.
REQUIRED_HEADERS = ("ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time")


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Corrupt:
    """A damaged record, the kind of damage, and what a dead letter's reason must say of it (None: the damage
    may leave a valid event)."""

    kind: str
    record: Record
    reason: str | None


def consumed_topics() -> list[tuple[str, TopicSpec]]:
    """Every (service, topic) a service acts on, as its wiring declares it; the audit, which keeps records
    rather than acting on events, apart."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(kafka_bootstrap_servers="no-broker:9092", topic_prefix="", state_dir=Path(tmp))
        clock = FakeClock(dt.datetime(2026, 11, 24, tzinfo=dt.UTC)).clock
        for name in SERVICES:
            if name != "audit":
                build = importlib.import_module(f"services.{name}.app").build
                found += [(name, spec) for spec in build(settings, engine=FakeEngine(clock)).consumes]
    return found


def golden(event_type: str) -> dict[str, Any]:
    body = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    record, errors = get_validator().from_json(event_type, body, context=RuleContext(today=None))
    assert record is not None, errors
    return record


def examples_of(spec: TopicSpec) -> list[str]:
    """The event types of the topic with a golden example."""
    return [t for t in spec.events if (EXAMPLES_DIR / f"{t}.json").exists()]


def valid_record(spec: TopicSpec, event_type: str, *, time: dt.datetime, id: str | None = None) -> Record:
    """The golden example of `event_type` as its topic's owner writes it."""
    body = golden(event_type)
    key = key_of(spec, body) or "k-1"
    envelope = Envelope.new(source=f"/egov/{spec.owner}", type=event_type, subject=key, time=time, id=id)
    return Record(key.encode(), REGISTRY.encode(event_type, body), tuple(envelope.to_headers()))


def event_type_of(record: Record) -> str:
    return dict(record.headers)["ce_type"].decode()


# -- each kind of damage ------------------------------------------------------------------------------------
def with_header(record: Record, name: str, value: bytes | None) -> Record:
    kept = tuple((k, v) for k, v in record.headers if k != name)
    return replace(record, headers=kept if value is None else (*kept, (name, value)))


def bit_flipped(base: Record, bit: int) -> Corrupt:
    damaged = bytearray(base.value or b"")
    damaged[bit // 8] ^= 1 << (bit % 8)
    return Corrupt("bit flip", replace(base, value=bytes(damaged)), None)


def truncated(base: Record, length: int) -> Corrupt:
    return Corrupt("truncated", replace(base, value=(base.value or b"")[:length]), "")


def unknown_fingerprint(base: Record, fingerprint: bytes) -> Corrupt:
    damaged = MAGIC + fingerprint + (base.value or b"")[HEADER_LEN:]
    return Corrupt("unknown fingerprint", replace(base, value=damaged), "unknown writer schema fingerprint")


def other_contract(base: Record, name: str) -> Corrupt:
    damaged = MAGIC + REGISTRY.get(name).fingerprint + (base.value or b"")[HEADER_LEN:]
    return Corrupt("another contract's fingerprint", replace(base, value=damaged), None)


def wrong_marker(base: Record, marker: bytes) -> Corrupt:
    damaged = marker + (base.value or b"")[2:]
    return Corrupt("wrong marker", replace(base, value=damaged), "single-object")


def no_value(base: Record, value: bytes | None) -> Corrupt:
    return Corrupt("no value", replace(base, value=value), "empty")


def header_missing(base: Record, name: str) -> Corrupt:
    return Corrupt(f"{name} missing", with_header(base, name, None), "")


def header_garbled(base: Record, name: str, value: bytes) -> Corrupt:
    return Corrupt(f"{name} garbled", with_header(base, name, value), None)


def wrong_type(base: Record, event_type: str) -> Corrupt:
    return Corrupt("wrong ce_type", with_header(base, "ce_type", event_type.encode()), "ce_type")


def oversize(base: Record, size: int, seed: int) -> Corrupt:
    damaged = (base.value or b"") + random.Random(seed).randbytes(size)
    return Corrupt("oversize value", replace(base, value=damaged), "trailing bytes")


def wrong_key(base: Record, key: bytes | None) -> Corrupt:
    return Corrupt("wrong key", replace(base, key=key), "is keyed by")


def known_fingerprints() -> set[bytes]:
    return {c.fingerprint for c in REGISTRY.contracts.values()}


def other_event_types(base: Record) -> list[str]:
    return sorted(c.name for c in REGISTRY.events() if c.name != event_type_of(base))


# -- drawn by Hypothesis ------------------------------------------------------------------------------------
def corruptions(spec: TopicSpec, base: Record, *, oversize_from: int = 1 << 20) -> st.SearchStrategy[Corrupt]:
    """Every kind of damage to `base`, a valid record of `spec`'s topic; oversize values from
    `oversize_from` bytes more."""
    size = len(base.value or b"")
    fingerprints = known_fingerprints()
    choices = [
        st.integers(0, size * 8 - 1).map(lambda bit: bit_flipped(base, bit)),
        st.integers(0, size - 1).map(lambda n: truncated(base, n)),
        st.binary(min_size=8, max_size=8)
        .filter(lambda fp: fp not in fingerprints)
        .map(lambda fp: unknown_fingerprint(base, fp)),
        st.sampled_from(sorted(n for n in REGISTRY.contracts if n != event_type_of(base))).map(
            lambda name: other_contract(base, name)
        ),
        st.binary(min_size=2, max_size=2).filter(lambda m: m != MAGIC).map(lambda m: wrong_marker(base, m)),
        st.sampled_from([None, b""]).map(lambda v: no_value(base, v)),
        st.sampled_from(REQUIRED_HEADERS).map(lambda h: header_missing(base, h)),
        st.tuples(
            st.sampled_from(["ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "traceparent"]),
            st.binary(max_size=40),
        ).map(lambda hv: header_garbled(base, *hv)),
        st.sampled_from(other_event_types(base)).map(lambda t: wrong_type(base, t)),
        st.tuples(st.integers(oversize_from, oversize_from * 3 // 2), st.integers(0, 2**32)).map(
            lambda a: oversize(base, *a)
        ),
    ]
    if spec.key is not None:  # a topic keyed by a field of its events refuses any other key
        choices.append(
            st.one_of(st.none(), st.binary(max_size=40))
            .filter(lambda k: k != base.key)
            .map(lambda k: wrong_key(base, k))
        )
    return st.one_of(choices)


# -- a fixed sample that is never a valid event -------------------------------------------------------------
def always_refused(spec: TopicSpec, base: Record, rng: random.Random, *, oversize_to: int) -> list[Corrupt]:
    """One record of each kind of damage that never leaves a valid event, drawn with `rng`; the oversize one
    brings the value to `oversize_to` bytes (under the broker's limit, so that it reaches the topic)."""
    size = len(base.value or b"")
    fingerprint = rng.randbytes(8)
    while fingerprint in known_fingerprints():
        fingerprint = rng.randbytes(8)
    sample = [
        truncated(base, rng.randrange(size)),
        unknown_fingerprint(base, fingerprint),
        wrong_marker(base, b'{"'),
        no_value(base, b""),
        header_missing(base, rng.choice(REQUIRED_HEADERS)),
        wrong_type(base, rng.choice(other_event_types(base))),
        oversize(base, oversize_to - size, rng.randrange(2**32)),
    ]
    if spec.key is not None:
        sample.append(wrong_key(base, b"not-" + (base.key or b"")))
    return sample
