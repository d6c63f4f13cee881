"""The audit log: a hash chain per partition with signed checkpoints, and a verifier that names the first
altered, missing or reordered entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from egov.platform.audit import GENESIS, AuditLog, checkpoint_key, new_entry, verify
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
    assert AuditLog(other).last(TOPIC, 0)[0] == 2 and verify(other).ok


@pytest.mark.parametrize("intact", [True, False])
def test_the_command_says_so_and_exits_accordingly(tmp_path: Path, intact: bool) -> None:
    write_log(tmp_path)
    if not intact:
        content = lines(tmp_path)
        del content[1]
        rewrite(tmp_path, content)
    result = CliRunner().invoke(main, ["audit", "verify", "--dir", str(tmp_path)])
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


def test_a_partition_written_meanwhile_by_another_worker_continues_its_chain(tmp_path: Path) -> None:
    # Given a worker that logged a partition, which then moved to another worker of the audit service
    first = write_log(tmp_path, count=3)
    assert first.last(TOPIC, 0)[0] == 2
    second = AuditLog(tmp_path)
    offset, prev = second.last(TOPIC, 0)
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
    assert first.last(TOPIC, 0) == (3, entry["hash"])
    assert verify(tmp_path).ok
