"""A check's verdict, and the checks every role shares: what each record the vendor's system writes must be on
the wire (key, CloudEvents headers, source, a released contract, the contract's rules, business time).

A check passes or fails with a reason in plain words; a failure names each record at fault, and the report
shows the transcript of the records concerned (`records`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from egov.contracts.envelope import CONTENT_TYPE, SPECVERSION
from egov.contracts.serde import ContractRegistry
from egov.contracts.validation import ContractValidator
from egov.tools.architecture.roles import Role
from egov.tools.conformance.wire import Observed


@dataclass
class Verdict:
    """The outcome of one check."""

    id: str
    title: str
    references: list[str]
    passed: bool
    reason: str
    #: One line per record or fact at fault (or, when it passed, what was seen).
    findings: list[str] = field(default_factory=list)
    #: The records the check is about: its transcript.
    records: list[Observed] = field(default_factory=list)
    seconds: float = 0.0


def verdict(
    role: Role,
    check_id: str,
    problems: Sequence[str],
    *,
    passed_reason: str,
    failed_reason: str,
    records: Iterable[Observed] = (),
) -> Verdict:
    """A verdict that fails when there are problems."""
    check = role.check(check_id)
    return Verdict(
        id=check_id,
        title=check.title,
        references=role.references(check_id),
        passed=not problems,
        reason=failed_reason if problems else passed_reason,
        findings=list(problems),
        records=sorted(set_of(records), key=lambda o: o.sequence),
    )


def set_of(records: Iterable[Observed]) -> list[Observed]:
    seen: dict[int, Observed] = {}
    for record in records:
        seen[record.sequence] = record
    return list(seen.values())


def where(record: Observed) -> str:
    """A record as a finding names it: topic, partition and offset, key."""
    return f"{record.topic}[{record.partition}]@{record.offset} key {record.key!r}"


# -- the envelope and the body ------------------------------------------------------------------------------
def header_problems(record: Observed, subject: str | None) -> list[str]:
    """What is wrong with a record's CloudEvents headers (binary mode), given its expected subject."""
    headers = record.headers
    found = []
    if headers.get("ce_specversion") != SPECVERSION:
        found.append(f"ce_specversion is {headers.get('ce_specversion')!r}, not {SPECVERSION!r}")
    if not headers.get("ce_id"):
        found.append("ce_id is missing")
    if not headers.get("ce_source"):
        found.append("ce_source is missing")
    if not headers.get("ce_type"):
        found.append("ce_type is missing")
    elif record.contract is not None and headers["ce_type"] != record.contract:
        found.append(f"ce_type is {headers['ce_type']!r}, but the body is a {record.contract}")
    time = headers.get("ce_time")
    if not time:
        found.append("ce_time is missing")
    else:
        try:
            parsed = dt.datetime.fromisoformat(time.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                found.append(f"ce_time {time!r} has no time zone")
        except ValueError:
            found.append(f"ce_time {time!r} is not an RFC 3339 time")
    if subject is not None and headers.get("ce_subject") != subject:
        found.append(f"ce_subject is {headers.get('ce_subject')!r}, not the business key {subject!r}")
    if headers.get("content-type") != CONTENT_TYPE:
        found.append(f"content-type is {headers.get('content-type')!r}, not {CONTENT_TYPE!r}")
    return found


def released_fingerprints(registry: ContractRegistry, events: Iterable[str]) -> dict[str, str]:
    """Fingerprint (hex) → `<event>/v<N>` of every released version of `events`."""
    wanted = set(events)
    return {fp: name for fp, name in registry.released_versions().items() if name.split("/")[0] in wanted}


def ce_time(record: Observed) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(record.headers.get("ce_time", "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@dataclass
class Envelopes:
    """The checks on every record of the vendor's: each takes the records and how to read their business
    key (dossier code, document id) from a body."""

    role: Role
    registry: ContractRegistry
    validator: ContractValidator
    business_key: Callable[[Observed], str | None]
    prefix: str

    def key(self, records: list[Observed]) -> Verdict:
        problems = []
        for r in records:
            expected = self.business_key(r)
            if expected is not None and r.key != expected:
                problems.append(f"{where(r)}: the body's is {expected!r}")
        return verdict(
            self.role,
            f"{self.prefix}.key-is-the-{self._key_name}",
            problems,
            passed_reason=f"all {len(records)} records are keyed by their {self._key_words}",
            failed_reason=f"records are not keyed by their {self._key_words}: the partition and the order "
            "per key depend on it",
            records=[r for r in records if r.key != self.business_key(r)] or records,
        )

    @property
    def _key_name(self) -> str:
        return "dossier-code" if self.prefix == "agency" else "document-id"

    @property
    def _key_words(self) -> str:
        return "dossier code" if self.prefix == "agency" else "document id"

    def headers(self, records: list[Observed]) -> Verdict:
        problems, at_fault = [], []
        for r in records:
            found = header_problems(r, self.business_key(r))
            problems += [f"{where(r)}: {p}" for p in found]
            if found:
                at_fault.append(r)
        return verdict(
            self.role,
            f"{self.prefix}.cloudevents-headers",
            problems,
            passed_reason=f"all {len(records)} records carry the CloudEvents headers of the binary mode",
            failed_reason="records lack CloudEvents headers or carry wrong ones",
            records=at_fault or records,
        )

    def source(self, records: list[Observed]) -> Verdict:
        wrong = [r for r in records if r.headers.get("ce_source") != self.role.source]
        return verdict(
            self.role,
            f"{self.prefix}.ce-source",
            [f"{where(r)}: ce_source is {r.headers.get('ce_source')!r}" for r in wrong],
            passed_reason=f"all {len(records)} records come from {self.role.source}",
            failed_reason=f"records do not name the role's source {self.role.source}",
            records=wrong or records,
        )

    def released(self, records: list[Observed]) -> Verdict:
        events = [e for t in self.role.writes for e in t.events]
        released = released_fingerprints(self.registry, events)
        problems, at_fault, used = [], [], set()
        for r in records:
            if r.problem is not None:
                problems.append(f"{where(r)}: {r.problem}")
                at_fault.append(r)
            elif r.fingerprint not in released:
                problems.append(
                    f"{where(r)}: fingerprint {r.fingerprint} is no released version of "
                    f"{', '.join(e.rsplit('.', 1)[-1] for e in events)}"
                )
                at_fault.append(r)
            else:
                used.add(released[r.fingerprint or ""])
        return verdict(
            self.role,
            f"{self.prefix}.released-contract",
            problems,
            passed_reason=f"all {len(records)} values are single-object encoded with released contracts "
            f"({', '.join(sorted(v.rsplit('.', 1)[-1] for v in used)) or 'none'})",
            failed_reason="values are not single-object encoded with a released version of the "
            "topic's events",
            records=at_fault or records,
        )

    def rules(self, records: list[Observed]) -> Verdict:
        problems, at_fault = [], []
        for r in records:
            if r.contract is None or r.record is None:
                continue  # undecodable: the released-contract check says so
            errors = self.validator.validate_event(r.contract, r.record)
            problems += [f"{where(r)}: {e}" for e in errors]
            if errors:
                at_fault.append(r)
        return verdict(
            self.role,
            f"{self.prefix}.contract-rules",
            problems,
            passed_reason=f"all {len(records)} bodies meet their contract and its rules",
            failed_reason="bodies break their contract or the regulations' rules",
            records=at_fault or records,
        )


def write_transcript(path: Path, records: Iterable[Observed]) -> None:
    """The records as JSON lines: direction, topic, partition, offset, key, headers, the decoded body or why
    it does not decode."""
    from egov.contracts.validation import natural_json

    with path.open("w", encoding="utf-8") as out:
        for r in records:
            out.write(json.dumps(transcript_entry(r, natural_json), ensure_ascii=False) + "\n")


def transcript_entry(r: Observed, natural: Callable[[object], object]) -> dict[str, object]:
    return {
        "direction": r.direction,
        "note": r.note,
        "business_time": natural(r.at),
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "key": r.key,
        "headers": r.headers,
        "type": r.contract,
        "fingerprint": r.fingerprint,
        "body": natural(r.record) if r.record is not None else None,
        "problem": r.problem,
    }
