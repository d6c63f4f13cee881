"""The audit log: a hash chain per partition with signed checkpoints, and a verifier that names the first
altered, missing or reordered entry."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from egov.platform.audit import GENESIS, AuditLog, Position, TopicIdentity, checkpoint_key, new_entry
from egov.platform.audit_verify import BrokerPartition, compare, verify
from egov.tools.cli import main

TOPIC = "egov.onestop.dossiers.v1"


def write_log(directory: Path, count: int = 6, checkpoint_at: int = 3) -> AuditLog:
    log = AuditLog(directory)
    key = checkpoint_key(directory)
    prev = GENESIS
    for offset in range(count):
        entry = new_entry(
            topic=TOPIC,
            partition=0,
            offset=offset,
            timestamp_ms=1_764_000_000_000 + offset,
            key=b"000.00.04.H11-261125-0001",
            value=f'{{"applicant": {{"id_number": "060185123456", "n": {offset}}}}}'.encode(),
            headers={"ce_id": f"id-{offset}".encode(), "ce_type": b"vn.egov.dossier.DossierStatusChanged"},
            prev=prev,
        )
        log.append(entry)
        prev = entry["hash"]
        if offset == checkpoint_at:
            log.checkpoint(key, TOPIC, 0, "2026-11-25T00:00:00+00:00")
    return log


def lines(directory: Path) -> list[str]:
    return (directory / TOPIC / "0.jsonl").read_text(encoding="utf-8").splitlines()


def rewrite(directory: Path, new_lines: list[str]) -> None:
    (directory / TOPIC / "0.jsonl").write_text("\n".join(new_lines) + "\n", encoding="utf-8")


def test_an_intact_log_verifies_and_holds_no_personal_data(tmp_path: Path) -> None:
    write_log(tmp_path)
    result = verify(tmp_path)
    assert result.ok and (result.entries, result.partitions, result.checkpoints) == (6, 1, 1)
    text = (tmp_path / TOPIC / "0.jsonl").read_text(encoding="utf-8")
    assert "060185123456" not in text and "applicant" not in text  # only hashes of the values


def test_an_altered_entry_is_named(tmp_path: Path) -> None:
    write_log(tmp_path)
    content = lines(tmp_path)
    entry = json.loads(content[2])
    entry["ce_type"] = "vn.egov.dossier.ResultReturned"
    content[2] = json.dumps(entry)
    rewrite(tmp_path, content)
    [problem] = verify(tmp_path).problems
    assert (problem.kind, problem.line) == ("altered", 3) and "offset 2" in problem.message


def test_a_missing_entry_is_named(tmp_path: Path) -> None:
    write_log(tmp_path)
    content = lines(tmp_path)
    del content[4]
    rewrite(tmp_path, content)
    [problem] = verify(tmp_path).problems
    assert problem.kind == "missing" and "offset 4 is missing" in problem.message


def test_reordered_entries_are_named(tmp_path: Path) -> None:
    write_log(tmp_path)
    content = lines(tmp_path)
    content[1], content[2] = content[2], content[1]
    rewrite(tmp_path, content)
    [problem] = verify(tmp_path).problems
    assert problem.kind == "reordered" and "offset 2 comes before offset 1" in problem.message


def test_a_recomputed_chain_cannot_match_the_signed_checkpoint(tmp_path: Path) -> None:
    write_log(tmp_path)
    content = [json.loads(line) for line in lines(tmp_path)]
    content[1]["ce_source"] = "/egov/forger"
    prev = GENESIS
    from egov.platform.audit import entry_hash

    for entry in content:  # the forger recomputes every hash after the change
        entry["prev"] = prev
        entry["hash"] = entry_hash(entry)
        prev = entry["hash"]
    rewrite(tmp_path, [json.dumps(e) for e in content])
    [problem] = verify(tmp_path).problems
    assert problem.kind == "altered" and "signed at checkpoint 1" in problem.message


def test_a_truncated_log_is_caught_by_its_checkpoint_and_a_torn_line_is_cut_on_restart(
    tmp_path: Path,
) -> None:
    write_log(tmp_path)
    rewrite(tmp_path, lines(tmp_path)[:2])
    [problem] = verify(tmp_path).problems
    assert problem.kind == "missing" and "checkpoint at offset 3" in problem.message
    other = tmp_path / "other"
    write_log(other, count=3, checkpoint_at=99)
    with open(other / TOPIC / "0.jsonl", "a", encoding="utf-8") as out:
        out.write('{"topic": "egov.onestop')  # a crash in the middle of a write
    assert AuditLog(other).last(TOPIC, 0).offset == 2 and verify(other).ok


@pytest.mark.parametrize("intact", [True, False])
def test_the_command_says_so_and_exits_accordingly(tmp_path: Path, intact: bool) -> None:
    write_log(tmp_path)
    if not intact:
        content = lines(tmp_path)
        del content[1]
        rewrite(tmp_path, content)
    result = CliRunner().invoke(main, ["audit", "verify", "--dir", str(tmp_path), "--no-broker"])
    if intact:
        assert (
            result.exit_code == 0 and "audit log intact: 6 entries in 1 partitions, 1 signed" in result.output
        )
    else:
        assert result.exit_code == 1 and f"{TOPIC}[0] line 2: missing" in result.output


def test_deleted_entries_and_odd_characters_are_not_mistaken(tmp_path: Path) -> None:
    write_log(tmp_path)
    (tmp_path / TOPIC / "0.jsonl").unlink()  # the entries go, the signed checkpoints stay
    [problem] = verify(tmp_path).problems
    assert problem.kind == "missing" and "checkpoint at offset 3" in problem.message
    other = tmp_path / "other"
    log = AuditLog(other)
    checkpoint_key(other)
    entry = new_entry(
        topic=TOPIC,
        partition=1,
        offset=0,
        timestamp_ms=None,
        key=None,
        value=b"x",
        headers={"ce_type": "odd\u2028type".encode()},
        prev=GENESIS,
    )
    log.append(entry)
    result = verify(other)
    assert result.ok and result.unsigned == [f"{TOPIC}[1]"]  # intact, but not yet signed


# -- segments: one per instance of the topic ------------------------------------------------------------
A = TopicIdentity("cluster-1", "topic-a")
B = TopicIdentity("cluster-1", "topic-b")


def append(log: AuditLog, offset: int, value: bytes) -> None:
    log.append(
        new_entry(
            topic=TOPIC,
            partition=0,
            offset=offset,
            timestamp_ms=None,
            key=b"k",
            value=value,
            headers={"ce_id": value},
            prev=log.last(TOPIC, 0).hash,
        )
    )


def write_segmented_log(directory: Path) -> AuditLog:
    """Segment 0 of topic instance A (offsets 0–3), then segment 1 of B, the topic created again (0–2), each
    signed."""
    log = AuditLog(directory)
    key = checkpoint_key(directory)
    log.open_segment(TOPIC, 0, A, reason="the partition's first record", continues=False, opened_at="t0")
    for offset in range(4):
        append(log, offset, f"a{offset}".encode())
    log.checkpoint(key, TOPIC, 0, "t1")
    log.open_segment(TOPIC, 0, B, reason="the topic was created again", continues=False, opened_at="t2")
    for offset in range(3):
        append(log, offset, f"b{offset}".encode())
    log.checkpoint(key, TOPIC, 0, "t3")
    return log


def test_segments_chain_on_and_each_is_signed(tmp_path: Path) -> None:
    write_segmented_log(tmp_path)
    result = verify(tmp_path)
    assert result.ok, result.problems
    assert (result.entries, result.checkpoints, len(result.segments)) == (7, 2, 2)
    assert [(r.identity, r.ranges) for r in result.runs[(TOPIC, 0)]] == [(A, [(0, 3)]), (B, [(0, 2)])]
    assert AuditLog(tmp_path).last(TOPIC, 0) == Position(1, B, 2, json.loads(lines(tmp_path)[-1])["hash"])
    assert AuditLog(tmp_path).entry_at(TOPIC, 0, 1)["value_sha256"] == hashlib.sha256(b"b1").hexdigest()
    assert AuditLog(tmp_path).entry_at(TOPIC, 0, 3) is None  # offset 3 is of the segment before
    result = CliRunner().invoke(main, ["audit", "verify", "--dir", str(tmp_path), "--no-broker"])
    assert result.exit_code == 0, result.output
    assert (
        f"segment: {TOPIC}[0] segment 1 (topic id topic-b on cluster cluster-1), offsets 0–2" in result.output
    )
    assert "7 entries in 1 partitions, 2 signed checkpoints, 2 segments" in result.output


def test_an_altered_or_removed_segment_line_is_named(tmp_path: Path) -> None:
    write_segmented_log(tmp_path)
    content = lines(tmp_path)
    segment = json.loads(content[5])
    segment["reason"] = "nothing happened"
    rewrite(tmp_path, [*content[:5], json.dumps(segment), *content[6:]])
    [problem] = verify(tmp_path).problems
    assert (problem.kind, problem.line) == ("altered", 6) and "segment line" in problem.message
    rewrite(tmp_path, [*content[:5], *content[6:]])  # the segment line removed: offsets start again
    [problem] = verify(tmp_path).problems
    assert problem.kind in ("reordered", "altered") and problem.line == 6


def test_a_checkpoint_names_its_segment(tmp_path: Path) -> None:
    write_segmented_log(tmp_path)
    rewrite(tmp_path, lines(tmp_path)[:-1])  # the last entry of segment 1 removed
    [problem] = verify(tmp_path).problems
    assert problem.kind == "missing" and "checkpoint at segment 1, offset 2" in problem.message
    write_segmented_log(other := tmp_path / "other")
    path = other / TOPIC / "0.checkpoints.jsonl"
    moved = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    moved[1]["segment"] = 0  # said to be of segment 0: the signature no longer holds
    path.write_text("".join(json.dumps(c) + "\n" for c in moved), encoding="utf-8")
    [problem] = verify(other).problems
    assert problem.kind == "checkpoint"


def test_offsets_missing_within_a_later_segment_are_named_with_it(tmp_path: Path) -> None:
    log = write_segmented_log(tmp_path)
    append(log, 5, b"b5")
    [problem] = verify(tmp_path).problems
    assert problem.kind == "missing" and "segment 1: offsets 3–4 are missing" in problem.message


def test_a_long_log_is_read_from_its_end_in_blocks(tmp_path: Path) -> None:
    from egov.platform.audit import _reverse_lines

    path = tmp_path / "lines"
    path.write_bytes(b"".join(f"line {n}\n".encode() for n in range(100)))
    assert list(_reverse_lines(path, block=7)) == [f"line {n}".encode() for n in reversed(range(100))]


# -- the log against the broker ----------------------------------------------------------------------------
def held(identity: TopicIdentity, start: int, end: int) -> BrokerPartition:
    return BrokerPartition(TOPIC, 0, identity, start, end)


def gaps_of(directory: Path, broker: BrokerPartition, committed: int | None) -> list[tuple[str, int, int]]:
    found = compare(verify(directory), [broker], {} if committed is None else {(TOPIC, 0): committed})
    return [(g.kind, g.first, g.last) for g in found]


def test_records_the_audit_passed_without_logging_them_are_named(tmp_path: Path) -> None:
    write_segmented_log(tmp_path)  # topic instance B: offsets 0–2 logged
    assert gaps_of(tmp_path, held(B, 0, 3), 3) == []
    # the broker holds 0–5, the audit committed past 4: 3 is lost to the log, 4 and 5 are not read yet
    assert gaps_of(tmp_path, held(B, 0, 6), 4) == [("unlogged", 3, 3), ("behind", 4, 5)]
    assert gaps_of(tmp_path, held(B, 0, 6), None) == [("behind", 3, 5)]  # the audit never committed
    # records deleted by retention are not asked for; the log holding more than the broker is named
    assert gaps_of(tmp_path, held(B, 2, 3), 3) == []
    assert gaps_of(tmp_path, held(B, 0, 2), 2) == [("diverged", 2, 2)]


def test_a_topic_instance_the_log_has_no_segment_of_is_named(tmp_path: Path) -> None:
    # the bug this guards against: a new broker's records skipped as "logged before" (offsets 0–2 were)
    write_segmented_log(tmp_path)
    other = TopicIdentity("cluster-2", "topic-c")
    [gap] = compare(verify(tmp_path), [held(other, 0, 11)], {(TOPIC, 0): 11})
    assert (gap.kind, gap.first, gap.last, gap.fails) == ("unlogged", 0, 10, True)
    assert "no segment of this topic instance" in gap.message and "topic-c" in str(gap)


def test_a_partition_written_meanwhile_by_another_worker_continues_its_chain(tmp_path: Path) -> None:
    # Given a worker that logged a partition, which then moved to another worker of the audit service
    first = write_log(tmp_path, count=3)
    assert first.last(TOPIC, 0).offset == 2
    second = AuditLog(tmp_path)
    offset, prev = second.last(TOPIC, 0).offset, second.last(TOPIC, 0).hash
    entry = new_entry(
        topic=TOPIC,
        partition=0,
        offset=offset + 1,
        timestamp_ms=None,
        key=None,
        value=b"x",
        headers={},
        prev=prev,
    )
    second.append(entry)
    # When the partition comes back to the first worker, it continues from the other's last entry
    assert (first.last(TOPIC, 0).offset, first.last(TOPIC, 0).hash) == (3, entry["hash"])
    assert verify(tmp_path).ok
