"""The tamper-evident audit log: every record of every topic, hash-chained in partition order, with signed
checkpoints; and its verifier.

One file per topic partition (`<dir>/<topic>/<partition>.jsonl`), one JSON line per record, in offset
order. An entry holds where the record was (topic, partition, offset), its time, the CloudEvents attributes
that say what it was (id, type, source), the key with personal numbers masked, and the SHA-256 of the key and
of the value: never the value itself, so no ID number or phone number is ever in the log. Each entry's
`hash` is the SHA-256 of its fields and of the previous entry's hash (the first follows `GENESIS`).

A checkpoint (`<partition>.checkpoints.jsonl`) signs, with the audit's Ed25519 key, the hash reached at an
offset: whoever rewrites entries and recomputes the chain after them still cannot match a signed checkpoint.

`verify` names the first altered, missing or reordered entry of each partition.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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


def checkpoint_message(topic: str, partition: int, offset: int, hash_: str) -> bytes:
    return f"egov-audit-checkpoint/{topic}/{partition}/{offset}/{hash_}".encode()


# -- the files ----------------------------------------------------------------------------------------------
class AuditLog:
    """The log's folder: entries and checkpoints per topic partition, and the checkpoint key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        #: Per partition: the last offset and hash logged, and the size of its file then.
        self._last: dict[tuple[str, int], tuple[int, str, int]] = {}

    def _file(self, topic: str, partition: int, suffix: str = ".jsonl") -> Path:
        return self.directory / topic / f"{partition}{suffix}"

    def last(self, topic: str, partition: int) -> tuple[int, str]:
        """The last offset logged and its hash ((-1, GENESIS) when none); a torn last line (a crash in the
        middle of a write) is cut off first. The file is read again when it changed since this process last
        wrote it: another worker of the audit service held the partition meanwhile (a rebalance)."""
        path = self._file(topic, partition)
        size = path.stat().st_size if path.exists() else 0
        cached = self._last.get((topic, partition))
        if cached is not None and cached[2] == size:
            return cached[0], cached[1]
        found = (-1, GENESIS)
        if path.exists():
            data = _cut_torn_line(path)
            size = len(data)
            lines = data.split(b"\n")[:-1]
            if lines:
                entry = json.loads(lines[-1])
                found = (int(entry["offset"]), str(entry["hash"]))
        self._last[(topic, partition)] = (*found, size)
        return found

    def append(self, entry: Mapping[str, Any]) -> None:
        """Append an entry and force it to disk before the record's offset can be committed; on a failed write
        the file is cut back to where it was (no torn line) and the error raised for the caller to retry."""
        path = self._file(entry["topic"], entry["partition"])
        path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n").encode()
        size = _append_synced(path, line)
        self._last[(entry["topic"], entry["partition"])] = (int(entry["offset"]), str(entry["hash"]), size)

    def checkpoint(self, key: Ed25519PrivateKey, topic: str, partition: int, signed_at: str) -> None:
        """Sign the hash reached in the partition, after forcing its entries to disk."""
        offset, hash_ = self.last(topic, partition)
        if offset < 0:
            return
        path = self._file(topic, partition)
        with open(path, "rb") as entries:
            os.fsync(entries.fileno())
        signature = key.sign(checkpoint_message(topic, partition, offset, hash_))
        record = {
            "offset": offset,
            "hash": hash_,
            "signed_at": signed_at,
            "signature": base64.b64encode(signature).decode(),
        }
        with open(self._file(topic, partition, ".checkpoints.jsonl"), "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def partitions(self) -> Iterable[tuple[str, int]]:
        """Every partition with entries or checkpoints (a deleted entry file must not go unnoticed)."""
        found = {(p.parent.name, int(p.name.split(".")[0])) for p in self.directory.glob("*/*.jsonl")}
        yield from sorted(found)


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


# -- verification -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """The first thing wrong in a partition's log."""

    topic: str
    partition: int
    kind: str  # altered | missing | reordered | checkpoint
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}] line {self.line}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class Verification:
    entries: int
    partitions: int
    checkpoints: int
    problems: list[Problem]
    #: Partitions with entries but no signed checkpoint yet (a log younger than one checkpoint interval, or
    #: one whose checkpoints were removed): their chain is checked, but nothing proves it was not recomputed.
    unsigned: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(directory: Path, public_key: Ed25519PublicKey | None = None) -> Verification:
    """Check every partition's chain and signed checkpoints; the first problem of each partition."""
    if public_key is None:
        loaded = serialization.load_pem_public_key((directory / "checkpoint-key.pub.pem").read_bytes())
        assert isinstance(loaded, Ed25519PublicKey)
        public_key = loaded
    log = AuditLog(directory)
    entries = checkpoints = partitions = 0
    problems: list[Problem] = []
    unsigned: list[str] = []
    for topic, partition in log.partitions():
        partitions += 1
        hashes: dict[int, str] = {}
        path = log._file(topic, partition)
        problem, count = _verify_chain(topic, partition, path, hashes) if path.exists() else (None, 0)
        entries += count
        if problem is None:
            problem, signed = _verify_checkpoints(
                topic, partition, log._file(topic, partition, ".checkpoints.jsonl"), hashes, public_key
            )
            checkpoints += signed
            if signed == 0 and count:
                unsigned.append(f"{topic}[{partition}]")
        if problem is not None:
            problems.append(problem)
    return Verification(entries, partitions, checkpoints, problems, unsigned)


def _lines(path: Path) -> list[bytes]:
    """The file's lines as bytes (split on newlines only: text may hold other line separators)."""
    return path.read_bytes().split(b"\n")[:-1] if path.exists() else []


def _verify_chain(
    topic: str, partition: int, path: Path, hashes: dict[int, str]
) -> tuple[Problem | None, int]:
    prev_offset, prev_hash = -1, GENESIS
    count = 0
    lines = _lines(path)
    later = _offsets(lines)
    for number, line in enumerate(lines, start=1):
        count += 1

        def problem(kind: str, message: str, n: int = number, seen: int = count) -> tuple[Problem, int]:
            return Problem(topic, partition, kind, n, message), seen

        try:
            entry = json.loads(line)
            offset = int(entry["offset"])
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
            return problem("altered", "the line is not an audit entry")
        if entry.get("hash") != entry_hash(entry):
            return problem("altered", f"the entry at offset {offset} does not match its hash")
        if offset <= prev_offset:
            return problem("reordered", f"offset {offset} comes after offset {prev_offset}")
        if entry.get("prev") != prev_hash:
            if offset > prev_offset + 1:
                skipped = prev_offset + 1
                if later.get(skipped, 0) > number:
                    return problem("reordered", f"offset {offset} comes before offset {skipped}")
                missing = f"{skipped}" + (f"–{offset - 1}" if offset - 1 > skipped else "")
                return problem("missing", f"offset {missing} is missing before offset {offset}")
            return problem("altered", f"the entry at offset {offset} is not chained to the one before")
        if offset > prev_offset + 1 and prev_offset >= 0:
            return problem("missing", f"offsets {prev_offset + 1}–{offset - 1} are missing")
        hashes[offset] = entry["hash"]
        prev_offset, prev_hash = offset, entry["hash"]
    return None, count


def _offsets(lines: list[bytes]) -> dict[int, int]:
    """Offset → the line it is on (for telling a moved entry from a missing one)."""
    found: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        try:
            found.setdefault(int(json.loads(line)["offset"]), number)
        except (ValueError, KeyError, TypeError):
            continue
    return found


def _verify_checkpoints(
    topic: str, partition: int, path: Path, hashes: Mapping[int, str], key: Ed25519PublicKey
) -> tuple[Problem | None, int]:
    signed = 0
    last = max(hashes) if hashes else -1
    for number, line in enumerate(_lines(path), start=1):
        try:
            checkpoint = json.loads(line)
            offset, hash_ = int(checkpoint["offset"]), str(checkpoint["hash"])
            key.verify(
                base64.b64decode(checkpoint["signature"]), checkpoint_message(topic, partition, offset, hash_)
            )
        except (ValueError, KeyError, TypeError, InvalidSignature):
            return Problem(
                topic, partition, "checkpoint", number, "a checkpoint whose signature does not verify"
            ), signed
        if offset > last:
            return Problem(
                topic,
                partition,
                "missing",
                number,
                f"signed checkpoint at offset {offset}, but the log ends at {last}",
            ), signed
        if hashes.get(offset) != hash_:
            return Problem(
                topic,
                partition,
                "altered",
                number,
                f"the entries up to offset {offset} no longer match the hash signed at checkpoint {number}",
            ), signed
        signed += 1
    return None, signed
