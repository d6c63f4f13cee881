"""The province as data: agencies and the procedure catalogue, loaded from `architecture/provinces/`.

Which province is read comes from settings (`EGOV_PROVINCE`), never from code: provinces merge (Bình Thuận
became part of Lâm Đồng on 1/7/2025) and the same services must serve another one unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from egov.paths import PROVINCES_DIR
from egov.regulations.basis import Basis
from egov.regulations.codes import agency_code_problems, procedure_code_problems
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
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: AgencyCode
    name: str
    kind: Literal["committee", "centre", "department", "district", "commune"]
    verified: bool = False


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


class Province(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    slug: str
    timezone: str = "Asia/Ho_Chi_Minh"
    id_province_code: str
    level1_agency_code: str
    level1_agency_code_verified: bool = False
    agencies: tuple[Agency, ...]
    procedures: tuple[Procedure, ...]
    #: Where the province's facts come from (docs/legal-basis.md lists them with the rules in code).
    legal_basis: tuple[Basis, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> Province:
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
