"""The one-stop mechanism's rules as data (`architecture/one-stop-rules.yaml`): how many supplement requests a
dossier may get, when the apology with a request to extend goes out and how often the date may move, and the
forms of Thông tư 03/2025/TT-VPCP by key. Each value carries its legal basis and whether it was verified, so a
value read from a secondary source stays a value in data, labelled, that a deployment can correct without
touching the code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from egov.paths import ONE_STOP_RULES_PATH
from egov.regulations.basis import Basis

#: The forms, by the key the code uses (their numbers are data, and partly unverified).
FormKey = Literal[
    "receipt", "supplement", "refusal", "apology_extension", "stop_notice", "control_sheet", "register"
]
FORM_KEYS: tuple[FormKey, ...] = (
    "receipt",
    "supplement",
    "refusal",
    "apology_extension",
    "stop_notice",
    "control_sheet",
    "register",
)


class _Labelled(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    verified: bool
    basis: Basis

    @model_validator(mode="after")
    def _verified_means_verified(self) -> _Labelled:
        if self.verified != self.basis.verified:
            raise ValueError(
                f"{self.basis.rule}: verified is {self.verified} but the basis is {self.basis.status}"
            )
        return self


class Rule(_Labelled):
    """A number the journey applies, with where it comes from."""

    value: int = Field(ge=0)


class Form(_Labelled):
    """A form of Thông tư 03/2025/TT-VPCP."""

    number: str
    name: str

    def label(self) -> str:
        """How the code and the demo name it: `form 03, Phiếu …` (the number as the data gives it)."""
        return f"form {self.number}{'' if self.verified else ' (number unverified)'}, {self.name}"


class OneStopRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Supplement requests allowed per dossier (Nghị định 118/2025/NĐ-CP Art. 11: one).
    supplement_requests_max: Rule
    #: Working days before the appointment date at which an unresolved dossier gets its apology.
    apology_lead_working_days: Rule
    #: How many times the appointment date may be moved by an apology.
    reschedules_max: Rule
    forms: dict[FormKey, Form]

    @model_validator(mode="after")
    def _every_form(self) -> OneStopRules:
        missing = [key for key in FORM_KEYS if key not in self.forms]
        if missing:
            raise ValueError(f"forms missing: {', '.join(missing)}")
        if self.supplement_requests_max.value < 1 or self.apology_lead_working_days.value < 1:
            raise ValueError("at least one supplement request and a lead of at least one working day")
        return self

    def form(self, key: FormKey) -> Form:
        return self.forms[key]

    @property
    def legal_basis(self) -> tuple[Basis, ...]:
        rules = (self.supplement_requests_max, self.apology_lead_working_days, self.reschedules_max)
        return tuple(r.basis for r in rules) + tuple(self.forms[k].basis for k in FORM_KEYS)


def load_one_stop_rules(path: Path = ONE_STOP_RULES_PATH) -> OneStopRules:
    return OneStopRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def get_one_stop_rules() -> OneStopRules:
    return load_one_stop_rules()
