"""The tamper-evident audit log: every record of every topic, hash-chained in partition order, with signed
checkpoints; and its verifier.

One file per topic partition (`<dir>/<topic>/<partition>.jsonl`), one JSON line per record, in offset
order. An entry holds where the record was (topic, partition, offset), its time, the CloudEvents attributes
that say what it was (id, type, source), the key with personal numbers masked, and the SHA-256 of the key and
of the value: never the value itself, so no ID number or phone number is ever in the log. Each entry's
`hash` is the SHA-256 of its fields and of the previous entry's hash (the first follows `GENESIS`).

A partition's log is cut into **segments**, one per instance of the topic it was read from: a segment line
(`{"segment": n, "cluster_id", "topic_id", "reason", …}`) opens each, in the same chain. Kafka gives a topic a
new id whenever it is created, so a topic deleted and created again, or the same name on another broker
(whose offsets start again at 0), is another instance: its records go into a new segment instead of being
taken for records logged before. A segment that `continues` the one before is the same instance whose
identity was learnt later (a log written before segments existed). Entries before the first segment line
are segment 0, of an unknown instance.

A checkpoint (`<partition>.checkpoints.jsonl`) signs, with the audit's Ed25519 key, the hash reached at a
segment and offset: whoever rewrites entries and recomputes the chain after them still cannot match a signed
checkpoint.

`egov.platform.audit_verify` checks a log: the first altered, missing or reordered entry of each partition,
and the records a broker holds that the log does not (docs/adr/0015-robustness-at-the-edges.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from egov.contracts.envelope import ACTOR_HEADER
from egov.regulations.personal_data import mask_text

GENESIS = "0" * 64
#: The fields an entry's hash covers, in this order.
FIELDS = (
    "topic",
    "partition",
    "offset",
    "timestamp_ms",
    "key",
    "key_sha256",
    "value_sha256",
    "ce_id",
    "ce_type",
    "ce_source",
    "prev",
)


def entry_hash(entry: Mapping[str, Any]) -> str:
    # who acted is chained too, where an entry has it (entries written before it existed hash as they did)
    values = [entry.get(f) for f in FIELDS] + ([entry["actor"]] if "actor" in entry else [])
    canonical = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class TopicIdentity:
    """Which instance of a topic records come from: the broker cluster's id and the topic's id (KIP-516: a
    topic gets a new id whenever it is created). None where it is not known."""

    cluster_id: str | None
    topic_id: str | None

    def __str__(self) -> str:
        return f"topic id {self.topic_id or '?'} on cluster {self.cluster_id or '?'}"


#: The fields a segment line's hash covers, in this order.
SEGMENT_FIELDS = (
    "topic",
    "partition",
    "segment",
    "cluster_id",
    "topic_id",
    "continues",
    "reason",
    "opened_at",
    "prev",
)


def segment_hash(line: Mapping[str, Any]) -> str:
    canonical = json.dumps(["segment", *(line.get(f) for f in SEGMENT_FIELDS)], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_segment(
    *,
    topic: str,
    partition: int,
    number: int,
    identity: TopicIdentity,
    reason: str,
    continues: bool,
    opened_at: str,
    prev: str,
) -> dict[str, Any]:
    """The line that opens segment `number` of a partition's log, chained to `prev`."""
    line: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "segment": number,
        "cluster_id": identity.cluster_id,
        "topic_id": identity.topic_id,
        "continues": continues,
        "reason": reason,
        "opened_at": opened_at,
        "prev": prev,
    }
    line["hash"] = segment_hash(line)
    return line


def same_record(logged: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    """Whether a logged entry and a new one are the same record (a redelivery), by what identifies it."""
    return all(logged.get(f) == entry.get(f) for f in ("key_sha256", "value_sha256", "ce_id", "timestamp_ms"))


def new_entry(
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes],
    prev: str,
) -> dict[str, Any]:
    """The entry of one record, chained to `prev`."""

    def header(name: str) -> str | None:
        raw = headers.get(name)
        return raw.decode("utf-8", errors="replace") if raw is not None else None

    entry: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp_ms": timestamp_ms,
        "key": mask_text(key.decode("utf-8", errors="replace")) if key is not None else None,
        "key_sha256": hashlib.sha256(key).hexdigest() if key is not None else None,
        "value_sha256": hashlib.sha256(value).hexdigest() if value is not None else None,
        "ce_id": header("ce_id"),
        "ce_type": header("ce_type"),
        "ce_source": header("ce_source"),
        "prev": prev,
    }
    actor = header(ACTOR_HEADER)
    if actor is not None:  # who acted, by their pseudonymous id (entries of events without one have no key)
        entry["actor"] = actor
    entry["hash"] = entry_hash(entry)
    return entry


def checkpoint_message(topic: str, partition: int, offset: int, hash_: str, segment: int = 0) -> bytes:
    """What a checkpoint signs (segment 0 as before segments existed, so older checkpoints still verify)."""
    where = f"{offset}" if segment == 0 else f"s{segment}/{offset}"
    return f"egov-audit-checkpoint/{topic}/{partition}/{where}/{hash_}".encode()


# -- the files ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Position:
    """Where a partition's log stands: its current segment (-1: nothing logged yet), the topic instance that
    segment is of (None: not known, a log written before segments), the last offset logged in it (-1: none
    yet) and the hash the chain has reached."""

    segment: int
    identity: TopicIdentity | None
    offset: int
    hash: str


EMPTY = Position(-1, None, -1, GENESIS)


class AuditLog:
    """The log's folder: entries and checkpoints per topic partition, and the checkpoint key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._last: dict[tuple[str, int], Position] = {}
        #: Per partition: the size of its file when `_last` was read or written by this process.
        self._sizes: dict[tuple[str, int], int] = {}

    def _file(self, topic: str, partition: int, suffix: str = ".jsonl") -> Path:
        return self.directory / topic / f"{partition}{suffix}"

    def last(self, topic: str, partition: int) -> Position:
        """Where the partition's log stands; a torn last line (a crash in the middle of a write) is cut off
        first. The file is read again when it changed since this process last read or wrote it: another
        worker of the audit service held the partition meanwhile (a rebalance)."""
        key = (topic, partition)
        path = self._file(topic, partition)
        size = path.stat().st_size if path.exists() else 0
        if key not in self._last or self._sizes.get(key) != size:
            found = EMPTY
            if path.exists():
                size = len(_cut_torn_line(path))
                found = _position(_reverse_lines(path))
            self._last[key] = found
            self._sizes[key] = size
        return self._last[key]

    def append(self, entry: Mapping[str, Any]) -> None:
        """Append an entry and force it to disk before the record's offset can be committed; on a failed write
        the file is cut back to where it was (no torn line) and the error raised for the caller to retry."""
        topic, partition = entry["topic"], entry["partition"]
        position = self.last(topic, partition)
        self._write(topic, partition, entry)
        self._last[(topic, partition)] = replace(
            position, segment=max(position.segment, 0), offset=int(entry["offset"]), hash=str(entry["hash"])
        )

    def open_segment(
        self,
        topic: str,
        partition: int,
        identity: TopicIdentity,
        *,
        reason: str,
        continues: bool,
        opened_at: str,
    ) -> Position:
        """Start the next segment of the partition's log, for records of the topic instance `identity`; one
        that `continues` goes on with the offsets of the segment before (the same instance, known better)."""
        position = self.last(topic, partition)
        line = new_segment(
            topic=topic,
            partition=partition,
            number=position.segment + 1,
            identity=identity,
            reason=reason,
            continues=continues,
            opened_at=opened_at,
            prev=position.hash,
        )
        self._write(topic, partition, line)
        opened = Position(line["segment"], identity, position.offset if continues else -1, line["hash"])
        self._last[(topic, partition)] = opened
        return opened

    def _write(self, topic: str, partition: int, line: Mapping[str, Any]) -> None:
        path = self._file(topic, partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        line_bytes = (json.dumps(line, ensure_ascii=True, separators=(",", ":")) + "\n").encode()
        self._sizes[(topic, partition)] = _append_synced(path, line_bytes)

    def entry_at(self, topic: str, partition: int, offset: int) -> dict[str, Any] | None:
        """The entry of the current segment at `offset`, if the log holds one (read from the end: what is
        asked is a redelivery of a recent record)."""
        for raw in _reverse_lines(self._file(topic, partition)):
            line = json.loads(raw)
            if "segment" in line:
                if not line.get("continues"):
                    return None
                continue
            if int(line["offset"]) == offset:
                return dict(line)
            if int(line["offset"]) < offset:
                return None
        return None

    def checkpoint(self, key: Ed25519PrivateKey, topic: str, partition: int, signed_at: str) -> None:
        """Sign the hash reached in the partition, after forcing its entries to disk."""
        position = self.last(topic, partition)
        if position.hash == GENESIS:
            return
        path = self._file(topic, partition)
        with open(path, "rb") as entries:
            os.fsync(entries.fileno())
        message = checkpoint_message(topic, partition, position.offset, position.hash, position.segment)
        record = {
            "segment": position.segment,
            "offset": position.offset,
            "hash": position.hash,
            "signed_at": signed_at,
            "signature": base64.b64encode(key.sign(message)).decode(),
        }
        with open(self._file(topic, partition, ".checkpoints.jsonl"), "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def partitions(self) -> Iterable[tuple[str, int]]:
        """Every partition with entries or checkpoints (a deleted entry file must not go unnoticed)."""
        found = {(p.parent.name, int(p.name.split(".")[0])) for p in self.directory.glob("*/*.jsonl")}
        yield from sorted(found)


def _position(lines: Iterable[bytes]) -> Position:
    """Where a partition's log stands, from its lines read backwards."""
    offset: int | None = None
    last_hash: str | None = None
    for raw in lines:
        line = json.loads(raw)
        if last_hash is None:
            last_hash = str(line["hash"])
        if "segment" not in line:
            if offset is None:
                offset = int(line["offset"])
            continue
        identity = TopicIdentity(line.get("cluster_id"), line.get("topic_id"))
        if offset is None and not line.get("continues"):
            offset = -1
        if offset is None:  # a segment that continues: its offsets go on from the entries before it
            offset = _last_offset(lines)
        return Position(int(line["segment"]), identity, offset, last_hash)
    if last_hash is None:
        return EMPTY
    return Position(0, None, -1 if offset is None else offset, last_hash)


def _last_offset(lines: Iterable[bytes]) -> int:
    """The offset of the next entry in `lines` (read backwards), -1 if none before a segment that starts."""
    for raw in lines:
        line = json.loads(raw)
        if "segment" not in line:
            return int(line["offset"])
        if not line.get("continues"):
            return -1
    return -1


def _reverse_lines(path: Path, block: int = 1 << 16) -> Iterator[bytes]:
    """The lines of `path`, last first, read in blocks from the end (a long log is not read whole)."""
    if not path.exists():
        return
    with open(path, "rb") as source:
        source.seek(0, os.SEEK_END)
        end = source.tell()
        rest = b""
        while end > 0:
            start = max(0, end - block)
            source.seek(start)
            chunk = source.read(end - start) + rest
            end = start
            lines = chunk.split(b"\n")
            rest = lines[0] if start > 0 else b""
            for line in reversed(lines[1:] if start > 0 else lines):
                if line:
                    yield line
        if rest:
            yield rest


def _cut_torn_line(path: Path) -> bytes:
    """Cut a line left half-written by a crash off the end of `path` (in place); the content kept."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        os.truncate(path, len(data))
    return data


def _append_synced(path: Path, line: bytes) -> int:
    """Append `line` and force it to disk; the file's new size."""
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "ab") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
    except OSError:
        if path.exists():
            os.truncate(path, size)
        raise
    return size + len(line)


def checkpoint_key(directory: Path) -> Ed25519PrivateKey:
    """The audit's signing key, created on first use (private key 0600; the public key beside it)."""
    private = directory / "checkpoint-key.pem"
    if not private.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Written whole under another name, then linked into place: a worker of the audit service that
        # creates it at the same moment finds either none or a whole key, and the first link wins.
        draft = directory / f".checkpoint-key.{os.getpid()}.pem"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        try:
            os.link(draft, private)
        except FileExistsError:
            pass  # another worker created it meanwhile: theirs is the key
        else:
            (directory / "checkpoint-key.pub.pem").write_bytes(public)
        finally:
            draft.unlink()
    loaded = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return loaded
