"""Checking the audit log (egov.platform.audit): its chains and signed checkpoints, and what it holds against
what a broker holds.

`verify` reads every partition's log and names its first altered, missing or reordered line: an entry or a
segment line that does not match its hash or is not chained to the line before, an offset missing or out of
order within a segment, a segment out of sequence, a signed checkpoint the log no longer matches or goes
beyond. It also says which segments each partition has, and why each was opened.

`compare` sets the log beside the broker: for each partition the broker holds, the records it still has
(from its log start to its end) against the log's segment of the same topic instance (the same topic id).
Records the audit's consumer group has committed past but the log does not hold are **unlogged**: the audit
passed them without a trace, which must never happen. Records after the committed offset are **behind**: the
audit has not read them yet. Records the log holds beyond the broker's end are **diverged**: the broker lost
what it had. Read the committed offsets before the log, and the broker's offsets after it, so that a running
audit is never taken for a silent one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from egov.platform.audit import GENESIS, AuditLog, TopicIdentity, checkpoint_message, entry_hash, segment_hash


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


@dataclass
class Segment:
    """One segment of a partition's log: the records of one topic instance (or of the one before, when it
    `continues` it)."""

    topic: str
    partition: int
    number: int
    identity: TopicIdentity | None
    #: Why it was opened; None for the entries before the first segment line (a log older than segments).
    reason: str | None
    continues: bool
    #: The line of its segment line (0: none).
    line: int
    entries: int = 0
    first: int | None = None
    last: int | None = None

    def __str__(self) -> str:
        span = f"offsets {self.first}–{self.last}" if self.first is not None else "no entries"
        identity = str(self.identity) if self.identity else "topic instance not recorded"
        why = f": {self.reason}" if self.reason else ""
        return f"{self.topic}[{self.partition}] segment {self.number} ({identity}), {span}{why}"


@dataclass
class Run:
    """Consecutive segments of one topic instance (a segment and those that continue it), with the offsets
    logged in them as (first, last) ranges."""

    identity: TopicIdentity | None
    ranges: list[tuple[int, int]] = field(default_factory=list)

    def add(self, offset: int) -> None:
        if self.ranges and self.ranges[-1][1] + 1 == offset:
            self.ranges[-1] = (self.ranges[-1][0], offset)
        else:
            self.ranges.append((offset, offset))


@dataclass(frozen=True)
class Verification:
    entries: int
    partitions: int
    checkpoints: int
    problems: list[Problem]
    #: Partitions with entries but no signed checkpoint yet (a log younger than one checkpoint interval, or
    #: one whose checkpoints were removed): their chain is checked, but nothing proves it was not recomputed.
    unsigned: list[str]
    #: Every segment of every partition, in order.
    segments: list[Segment] = field(default_factory=list)
    #: (topic, partition) → its runs of segments, in order.
    runs: dict[tuple[str, int], list[Run]] = field(default_factory=dict)

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
    segments: list[Segment] = []
    runs: dict[tuple[str, int], list[Run]] = {}
    for topic, partition in log.partitions():
        partitions += 1
        chain = _Chain(topic, partition)
        path = log._file(topic, partition)
        problem = chain.check(_lines(path)) if path.exists() else None
        entries += chain.entries
        segments += chain.segments
        runs[(topic, partition)] = chain.runs
        if problem is None:
            problem, signed = _verify_checkpoints(
                topic, partition, log._file(topic, partition, ".checkpoints.jsonl"), chain, public_key
            )
            checkpoints += signed
            if signed == 0 and chain.entries:
                unsigned.append(f"{topic}[{partition}]")
        if problem is not None:
            problems.append(problem)
    return Verification(entries, partitions, checkpoints, problems, unsigned, segments, runs)


def _lines(path: Path) -> list[bytes]:
    """The file's lines as bytes (split on newlines only: text may hold other line separators)."""
    return path.read_bytes().split(b"\n")[:-1] if path.exists() else []


class _Chain:
    """One partition's lines, checked in order."""

    def __init__(self, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition
        self.entries = 0
        self.segments: list[Segment] = []
        self.runs: list[Run] = []
        #: (segment, offset) → the hash the chain reached there: what a checkpoint may sign.
        self.hashes: dict[tuple[int, int], str] = {}
        self.end = (-1, -1)

    def fail(self, kind: str, line: int, message: str) -> Problem:
        return Problem(self.topic, self.partition, kind, line, message)

    def check(self, lines: list[bytes]) -> Problem | None:
        later = _offsets(lines)
        prev_offset, prev_hash = -1, GENESIS
        segment = Segment(self.topic, self.partition, 0, None, None, False, 0)
        run = Run(None)
        for number, raw in enumerate(lines, start=1):
            try:
                line = json.loads(raw)
                if not isinstance(line, dict):
                    raise TypeError("not an object")
                is_segment = "segment" in line
                offset = -1 if is_segment else int(line["offset"])
            except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
                return self.fail("altered", number, "the line is not an audit entry")
            if is_segment:
                expected = 0 if number == 1 else segment.number + 1
                if line.get("hash") != segment_hash(line):
                    return self.fail("altered", number, "the segment line does not match its hash")
                if line.get("prev") != prev_hash:
                    return self.fail("altered", number, "the segment line is not chained to the one before")
                if line.get("segment") != expected:
                    return self.fail(
                        "reordered", number, f"segment {line.get('segment')} where segment {expected} belongs"
                    )
                if segment.entries or segment.line:
                    self.segments.append(segment)
                continues = bool(line.get("continues"))
                identity = TopicIdentity(line.get("cluster_id"), line.get("topic_id"))
                segment = Segment(
                    self.topic, self.partition, expected, identity, str(line.get("reason")), continues, number
                )
                if continues:
                    run.identity = identity
                else:
                    if run.ranges or run.identity is not None:
                        self.runs.append(run)
                    run = Run(identity)
                    prev_offset = -1
                prev_hash = line["hash"]
                self.hashes[(segment.number, prev_offset)] = prev_hash
                continue
            self.entries += 1
            where = f"segment {segment.number}, offset {offset}" if segment.number else f"offset {offset}"
            within = f"segment {segment.number}: " if segment.number else ""
            if line.get("hash") != entry_hash(line):
                return self.fail("altered", number, f"the entry at {where} does not match its hash")
            if offset <= prev_offset:
                return self.fail(
                    "reordered", number, f"{within}offset {offset} comes after offset {prev_offset}"
                )
            if line.get("prev") != prev_hash:
                if offset > prev_offset + 1:
                    skipped = prev_offset + 1
                    if later.get((len(self.runs), skipped), 0) > number:
                        return self.fail(
                            "reordered", number, f"{within}offset {offset} comes before offset {skipped}"
                        )
                    missing = f"{skipped}" + (f"–{offset - 1}" if offset - 1 > skipped else "")
                    return self.fail(
                        "missing", number, f"{within}offset {missing} is missing before offset {offset}"
                    )
                return self.fail("altered", number, f"the entry at {where} is not chained to the one before")
            if offset > prev_offset + 1 and prev_offset >= 0:
                return self.fail(
                    "missing", number, f"{within}offsets {prev_offset + 1}–{offset - 1} are missing"
                )
            segment.entries += 1
            segment.first = offset if segment.first is None else segment.first
            segment.last = offset
            run.add(offset)
            prev_offset, prev_hash = offset, line["hash"]
            self.hashes[(segment.number, offset)] = prev_hash
        if segment.entries or segment.line:
            self.segments.append(segment)
        if run.ranges or run.identity is not None:
            self.runs.append(run)
        self.end = (segment.number, prev_offset)
        return None


def _offsets(lines: list[bytes]) -> dict[tuple[int, int], int]:
    """(run, offset) → the line it is on (for telling a moved entry from a missing one); a run is counted
    as `_Chain.check` counts them, from 0 at each segment line that does not continue the one before."""
    found: dict[tuple[int, int], int] = {}
    run = 0
    for number, raw in enumerate(lines, start=1):
        try:
            line = json.loads(raw)
            if "segment" in line:
                if not line.get("continues") and number > 1:
                    run += 1
                continue
            found.setdefault((run, int(line["offset"])), number)
        except (ValueError, KeyError, TypeError):
            continue
    return found


def _verify_checkpoints(
    topic: str, partition: int, path: Path, chain: _Chain, key: Ed25519PublicKey
) -> tuple[Problem | None, int]:
    signed = 0
    for number, line in enumerate(_lines(path), start=1):
        try:
            checkpoint = json.loads(line)
            segment = int(checkpoint.get("segment", 0))
            offset, hash_ = int(checkpoint["offset"]), str(checkpoint["hash"])
            message = checkpoint_message(topic, partition, offset, hash_, segment)
            key.verify(base64.b64decode(checkpoint["signature"]), message)
        except (ValueError, KeyError, TypeError, InvalidSignature):
            return Problem(
                topic, partition, "checkpoint", number, "a checkpoint whose signature does not verify"
            ), signed
        where = f"segment {segment}, offset {offset}" if segment else f"offset {offset}"
        if (segment, offset) > chain.end:
            end = f"segment {chain.end[0]}, offset {chain.end[1]}" if chain.end[0] else f"{chain.end[1]}"
            return Problem(
                topic,
                partition,
                "missing",
                number,
                f"signed checkpoint at {where}, but the log ends at {end}",
            ), signed
        if chain.hashes.get((segment, offset)) != hash_:
            return Problem(
                topic,
                partition,
                "altered",
                number,
                f"the entries up to {where} no longer match the hash signed at checkpoint {number}",
            ), signed
        signed += 1
    return None, signed


# -- the log against the broker ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BrokerPartition:
    """A partition as the broker holds it now."""

    topic: str  # as the log names it (without the installation's topic prefix)
    partition: int
    identity: TopicIdentity
    #: The first offset the broker still holds (older records were deleted by retention).
    start: int
    #: The offset its next record will get.
    end: int

    @property
    def topic_partition(self) -> tuple[str, int]:
        return self.topic, self.partition


#: Kinds of difference that mean the log misses something (the others are a note: the audit is behind).
FAILING = frozenset({"unlogged", "diverged"})


@dataclass(frozen=True)
class Gap:
    """Records in one place and not in the other."""

    topic: str
    partition: int
    kind: str  # unlogged | behind | diverged
    first: int
    last: int
    message: str

    @property
    def fails(self) -> bool:
        return self.kind in FAILING

    def __str__(self) -> str:
        offsets = f"offset {self.first}" if self.first == self.last else f"offsets {self.first}–{self.last}"
        return f"{self.topic}[{self.partition}] {offsets}: {self.kind}: {self.message}"


def compare(
    verification: Verification,
    broker: Iterable[BrokerPartition],
    committed: Mapping[tuple[str, int], int],
) -> list[Gap]:
    """The records each broker partition holds that the log does not, and the other way round (see the
    module's docstring); `committed` holds the audit's committed offsets, read before the log."""
    gaps: list[Gap] = []
    for held in sorted(broker, key=lambda b: (b.topic, b.partition)):
        runs = verification.runs.get(held.topic_partition, [])
        gaps += _partition_gaps(held, [r for r in runs if r.identity == held.identity], committed)
    return gaps


def _partition_gaps(
    held: BrokerPartition, runs: list[Run], committed: Mapping[tuple[str, int], int]
) -> list[Gap]:
    logged = runs[-1].ranges if runs else []
    none = "" if runs else "; the log has no segment of this topic instance"
    at = committed.get(held.topic_partition)
    passed = max(held.start, min(held.start if at is None else at, held.end))
    gaps = [
        Gap(
            held.topic,
            held.partition,
            "unlogged",
            first,
            last,
            f"on the broker ({held.identity}) and "
            f"committed past by the audit (its offset {at}), but not in the log{none}",
        )
        for first, last in _without((held.start, passed - 1), logged)
    ]
    gaps += [
        Gap(held.topic, held.partition, "behind", first, last, f"on the broker, not logged yet{none}")
        for first, last in _without((passed, held.end - 1), logged)
    ]
    gaps += [
        Gap(
            held.topic,
            held.partition,
            "diverged",
            max(first, held.end),
            last,
            f"in the log, but the broker's partition ends before them (at {held.end}): it lost them",
        )
        for first, last in logged
        if last >= held.end
    ]
    return gaps


def _without(span: tuple[int, int], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of the inclusive range `span` that no range of `ranges` (sorted) covers."""
    first, last = span
    left: list[tuple[int, int]] = []
    for start, end in ranges:
        if end < first or start > last:
            continue
        if start > first:
            left.append((first, start - 1))
        first = max(first, end + 1)
    if first <= last:
        left.append((first, last))
    return left


def describe(segments: Iterable[Segment]) -> list[str]:
    """The segments of the partitions that have more than one, one line each (what `egov audit verify`
    prints)."""
    by_partition: dict[tuple[str, int], list[Segment]] = {}
    for segment in segments:
        by_partition.setdefault((segment.topic, segment.partition), []).append(segment)
    return [str(s) for found in by_partition.values() if len(found) > 1 for s in found]


__all__ = [
    "BrokerPartition",
    "Gap",
    "Problem",
    "Segment",
    "Verification",
    "compare",
    "describe",
    "verify",
]
