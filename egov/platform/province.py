"""The province as data: agencies and the procedure catalogue, loaded from `architecture/provinces/`.

Which province is read comes from settings (`EGOV_PROVINCE`), never from code: provinces merge (Bình
Thuận, Đắk Nông and Lâm Đồng became Lâm Đồng province on 1/7/2025, Nghị quyết 202/2025/QH15) and the same
services must serve another one unchanged. A file says for which period it describes the province
(`valid_from`, `valid_until`): `binh-thuan.yaml` is the province of the architecture v1.0 before the merger,
`lam-dong.yaml` the province after it, with two levels of local government (province, then communes, wards
and a special zone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from egov.paths import PROVINCES_DIR
from egov.regulations.basis import Basis
from egov.regulations.codes import agency_code_problems, level1_code, procedure_code_problems
from egov.regulations.identity import PROVINCE_CODES
from egov.regulations.workdays import ProcessingUnit


def _code_check(problems_of: Callable[[str], list[str]], what: str) -> AfterValidator:
    def check(code: str) -> str:
        problems = problems_of(code)
        if problems:
            raise ValueError(f"{what} {code!r} {problems[0]}")
        return code

    return AfterValidator(check)


AgencyCode = Annotated[str, _code_check(agency_code_problems, "agency code")]
ProcedureCode = Annotated[str, _code_check(procedure_code_problems, "procedure code")]


class Agency(BaseModel):
    """An agency: the provincial People's Committee (committee), a public administration service centre
    (centre), a specialised department or other provincial body (department), a district-level People's
    Committee (district: before 1/7/2025 only), or a commune-level one (commune: xã, phường, đặc khu)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: AgencyCode
    name: str
    kind: Literal["committee", "centre", "department", "district", "commune"]
    verified: bool = False


class RequiredDocument(BaseModel):
    """One component of a procedure's dossier (thành phần hồ sơ): what, how many, in what form, and whether
    every dossier needs it. A file of a submission names its component by `key` (the Attachment contract's
    `component`); the portal refuses a dossier that misses a required one (services/portal/domain.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: How a file of a submission names this component (a–z, 0–9 and -).
    key: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    name: str
    copies: int = Field(default=1, ge=1)
    #: original (bản chính), copy (bản sao), certified_copy (bản sao chứng thực), present (xuất trình: shown
    #: only, not kept), either (bản chính hoặc bản sao).
    form: Literal["original", "copy", "certified_copy", "present", "either"] = "original"
    #: False for a component only some dossiers have (nếu có, nếu ủy quyền).
    required: bool = True
    verified: bool = False

    @property
    def attached(self) -> bool:
        """Whether every dossier must carry it as a file: a required component that is not only shown at
        the counter (xuất trình: an original the officer looks at and hands back)."""
        return self.required and self.form != "present"


class Procedure(BaseModel):
    """One administrative procedure of the catalogue (thủ tục hành chính)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: ProcedureCode
    name: str
    field: str
    receiving_agency: AgencyCode
    responsible_agency: AgencyCode
    processing_days: int = Field(ge=0)
    #: The unit processing_days is stated in (`egov.regulations.workdays`).
    processing_unit: ProcessingUnit = "working_days"
    fee_vnd: int = Field(ge=0)
    verified: bool = False
    #: The result is a paper document (văn bản, giấy tờ): QĐ 766 then counts an electronic result only with a
    #: result file (`services/reporting/domain.py`).
    result_on_paper: bool = True
    #: May be received at any one-stop desk of the province, whatever the citizen's residence (thực hiện không
    #: phụ thuộc vào địa giới hành chính, Nghị định 118/2025/NĐ-CP; the province publishes the list).
    boundaryless: bool = False
    documents: tuple[RequiredDocument, ...] = ()
    notes: str = ""

    @model_validator(mode="after")
    def _component_keys_unique(self) -> Procedure:
        keys = [d.key for d in self.documents]
        if len(keys) != len(set(keys)):
            raise ValueError(f"procedure {self.code}: the keys of its dossier components must be unique")
        return self

    def component(self, key: str) -> RequiredDocument | None:
        return next((d for d in self.documents if d.key == key), None)


class Province(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    slug: str
    #: The period the file describes: a province before or after a merger.
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    timezone: str = "Asia/Ho_Chi_Minh"
    #: The birth-registration code of the province in ID numbers (Thông tư 07/2016/TT-BCA).
    id_province_code: str
    #: Every code its citizens' ID numbers may begin with: those of the provinces that merged into it too.
    id_province_codes_accepted: tuple[str, ...] = ()
    level1_agency_code: str
    level1_agency_code_verified: bool = False
    agencies: tuple[Agency, ...]
    procedures: tuple[Procedure, ...]
    #: Where the province's facts come from (docs/legal-basis.md lists them with the rules in code).
    legal_basis: tuple[Basis, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> Province:
        for code in (self.id_province_code, *self.id_province_codes_accepted):
            if code not in PROVINCE_CODES:
                raise ValueError(f"{code} is not a province code of Thông tư 07/2016/TT-BCA")
        for agency in self.agencies:
            if level1_code(agency.code) != self.level1_agency_code:
                raise ValueError(
                    f"agency {agency.code} ({agency.name}) is not under the province's level-1 code "
                    f"{self.level1_agency_code}"
                )
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        known = {a.code for a in self.agencies}
        for proc in self.procedures:
            for role in ("receiving_agency", "responsible_agency"):
                if getattr(proc, role) not in known:
                    raise ValueError(f"procedure {proc.code}: {role} {getattr(proc, role)} is not an agency")
        codes = [p.code for p in self.procedures]
        if len(codes) != len(set(codes)):
            raise ValueError("procedure codes must be unique")
        return self

    def procedure(self, code: str) -> Procedure | None:
        return next((p for p in self.procedures if p.code == code), None)

    def agency(self, code: str) -> Agency | None:
        return next((a for a in self.agencies if a.code == code), None)


def initials(agency_name: str) -> str:
    """An agency's abbreviation in document symbols: the initials of its name (Sở Kế hoạch và Đầu tư →
    SKHĐT), as in QĐ-SKHĐT."""
    return "".join(word[0].upper() for word in agency_name.split() if word != "và")


def load_province(slug_or_path: str | Path, provinces_dir: Path = PROVINCES_DIR) -> Province:
    path = Path(slug_or_path)
    if not path.suffix:
        path = provinces_dir / f"{slug_or_path}.yaml"
    if not path.exists():
        available = ", ".join(sorted(p.stem for p in provinces_dir.glob("*.yaml")))
        raise FileNotFoundError(f"No province file {path}; available: {available}")
    return Province.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=4)
def get_province(slug: str) -> Province:
    return load_province(slug)


def find_procedure(code: str, provinces_dir: Path = PROVINCES_DIR) -> Procedure | None:
    """A procedure of any province file by its code (codes carry their province's level-1 suffix)."""
    for path in sorted(provinces_dir.glob("*.yaml")):
        found = get_province(path.stem).procedure(code)
        if found is not None:
            return found
    return None
