"""The legal basis of a rule: which regulation and article it implements, and how sure we are of it.

Every rule this project takes from a Vietnamese regulation says so where it is written, as a `Basis` in the
module's `LEGAL_BASIS` (or in the data file that holds the rule's values), and `egov arch docs` gathers them
into docs/legal-basis.md. A value whose source could not be read is labelled, never presented as fact:

- `verified`: the regulation's own wording was read (the whole text, or the article quoted word for word in a
  copy; not checked against the Official Gazette, Công báo);
- `secondary`: a news item, another authority's document restating it, a question-and-answer paraphrase, a
  provincial decision applying it, or a public repository;
- `unverified`: no source was found; the value is this project's reading or choice, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["verified", "secondary", "unverified"]
STATUSES: tuple[Status, ...] = ("verified", "secondary", "unverified")


@dataclass(frozen=True)
class Basis:
    """One rule and where it comes from."""

    #: A short, stable name for the rule (`dossier-code.format`).
    rule: str
    #: What the rule makes the code do, in a sentence.
    summary: str
    #: The regulation, as Vietnamese sources write it (`Nghị định 118/2025/NĐ-CP`); "—" for a project choice.
    regulation: str
    #: The article and clause (`Art. 11`, `Art. 13 cl. 3`), or "unverified" when the number is not known.
    article: str
    status: Status
    #: Where it was read: addresses, or a named document; empty only for a project choice.
    sources: tuple[str, ...] = ()
    #: What is not known, or how this project reads it.
    note: str = ""
    #: Filled in by whoever gathers the bases: the module or data file that declares it.
    where: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"{self.rule}: status {self.status!r} is not one of {', '.join(STATUSES)}")
        if not self.rule or not self.summary or not self.regulation or not self.article:
            missing = "rule, summary, regulation and article are required"
            raise ValueError(f"{self.rule or '(no rule)'}: {missing}")
        if self.status != "unverified" and not self.sources:
            raise ValueError(f"{self.rule}: a {self.status} basis names its sources")

    @property
    def verified(self) -> bool:
        return self.status == "verified"


#: Sources used by several rules, named once.
HANOI_QD_1594 = (
    "Hà Nội QĐ 1594/QĐ-TTPVHCC (20/11/2025), internal procedure citing the forms of Thông tư 03/2025/TT-VPCP"
)
LAI_CHAU_QD_88 = "Lai Châu QĐ 88/2025/QĐ-UBND (21/11/2025) cl. 6, applying Nghị định 118/2025/NĐ-CP"
QD766_DESCRIPTION = (
    "“Mô tả công thức tính chỉ số 766” as kept in github.com/ChippedTopaz/qd766 (web/src/formula-document.ts)"
)
