"""The legal basis table: every rule cites a regulation and article with its status, the table is generated
from those citations, and the committed docs/legal-basis.md is not stale."""

from __future__ import annotations

import difflib
from collections import Counter

import pytest

from egov.regulations.basis import Basis
from egov.tools.architecture import legal


@pytest.fixture(scope="module")
def table() -> str:
    return legal.render()


def test_the_committed_table_is_up_to_date(table: str) -> None:
    path = legal.LEGAL_BASIS_PATH
    assert path.exists(), f"{path} is missing: run `egov arch docs`"
    committed = path.read_text(encoding="utf-8")
    diff = difflib.unified_diff(committed.splitlines(), table.splitlines(), "committed", "generated", n=1)
    assert committed == table, "docs/legal-basis.md is stale: run `egov arch docs`\n" + "\n".join(
        list(diff)[:40]
    )


def test_rendering_is_deterministic(table: str) -> None:
    assert legal.render() == table


def test_every_rule_has_one_name_and_appears_with_its_status(table: str) -> None:
    bases = legal.every_basis()
    names = Counter(b.rule for b in bases)
    assert [name for name, n in names.items() if n > 1] == []
    for basis in bases:
        assert f"| `{basis.rule}` |" in table
        assert basis.where, basis.rule
    assert f"{Counter(b.status for b in bases)['verified']} verified" in table


def test_the_rule_modules_declare_their_basis() -> None:
    where = {w for w, _ in legal.declared_in_code()}
    for module in ("codes", "identity", "workdays"):
        assert f"egov/regulations/{module}.py" in where


@pytest.mark.parametrize(
    ("rule", "regulation", "article", "status"),
    [
        ("dossier-code.format", "Thông tư 03/2025/TT-VPCP", "Art. 13 cl. 3", "verified"),
        ("id-number.length", "Luật Căn cước 2023", "Art. 12 cl. 1", "verified"),
        ("deadline.on-a-holiday", "Bộ luật Dân sự 2015", "Art. 148 cl. 5", "verified"),
        ("calendar.cultural-day", "80-NQ/TW", "unverified", "secondary"),
        ("procedure-code.format", "—", "unverified", "unverified"),
    ],
)
def test_the_key_rules_cite_what_the_research_found(
    rule: str, regulation: str, article: str, status: str
) -> None:
    [basis] = [b for b in legal.every_basis() if b.rule == rule]
    assert regulation in basis.regulation and article in basis.article and basis.status == status


def test_a_basis_that_claims_a_source_must_name_it() -> None:
    with pytest.raises(ValueError, match="names its sources"):
        Basis("x", "does x", "Nghị định 1/2025/NĐ-CP", "Art. 1", "secondary")
    with pytest.raises(ValueError, match="status"):
        Basis("x", "does x", "Nghị định 1/2025/NĐ-CP", "Art. 1", "probably")  # type: ignore[arg-type]
    assert Basis("x", "does x", "—", "unverified", "unverified").verified is False


def test_the_command_checks_the_table_too(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from egov.tools.architecture import docs

    monkeypatch.setattr(docs, "DOCUMENT_PATH", tmp_path / "README.md")
    monkeypatch.setattr(legal, "LEGAL_BASIS_PATH", tmp_path / "legal-basis.md")
    runner = CliRunner()
    assert runner.invoke(docs.arch_docs_command, []).exit_code == 0
    assert (tmp_path / "legal-basis.md").read_text(encoding="utf-8") == legal.render()
    (tmp_path / "legal-basis.md").write_text("# old\n", encoding="utf-8")
    stale = runner.invoke(docs.arch_docs_command, ["--check"])
    assert stale.exit_code == 1 and "legal-basis.md is stale: run `egov arch docs`" in stale.output


REPLACED = ("61/2018/NĐ-CP", "107/2021/NĐ-CP", "01/2018/TT-VPCP")
#: Words that say a text is cited as replaced, not as the rule in force.
AS_HISTORY = ("replaced", "cited before", "could not be confirmed", "before 1/7/2025", "pre-merger")


def test_the_replaced_one_stop_texts_are_cited_only_as_replaced() -> None:
    """Nghị định 118/2025/NĐ-CP replaced 61/2018 and 107/2021, Thông tư 03/2025/TT-VPCP the forms of Thông tư
    01/2018: wherever they still appear, the text around them says so."""
    from egov.paths import REPO_ROOT

    roots = ["egov", "services", "contracts/schemas", "architecture", "docs", "README.md"]
    files = [p for r in roots for p in ([REPO_ROOT / r] if r.endswith(".md") else (REPO_ROOT / r).rglob("*"))]
    wrong = []
    for path in files:
        if not path.is_file() or path.suffix not in (".py", ".yaml", ".avsc", ".md", ".html"):
            continue
        if "adr" in path.parts:  # decision records keep the texts they were decided under
            continue
        text = " ".join(path.read_text(encoding="utf-8").split())
        for old in REPLACED:
            start = text.find(old)
            while start >= 0:
                around = text[max(0, start - 160) : start + 160]
                if not any(word in around for word in AS_HISTORY):
                    wrong.append(f"{path.relative_to(REPO_ROOT)}: …{text[max(0, start - 60) : start + 40]}…")
                start = text.find(old, start + 1)
    assert wrong == []
