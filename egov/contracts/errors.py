"""How a refused payload is explained, to a person or a program: one `FieldError` per wrong field (its dotted
path, the rule broken, a message a person can act on), and the one JSON body every HTTP API of the project
answers a refused request with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class FieldError:
    """One way a payload breaks its contract."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(record)'}: {self.message} [{self.rule}]"


def error_body(errors: Sequence[FieldError]) -> dict[str, Any]:
    """The JSON answer of an HTTP API to a refused request: one entry per wrong field (every service's API
    answers this way)."""
    return {"errors": [{"field": e.path, "message": e.message, "rule": e.rule} for e in errors]}


class FieldErrorBody(BaseModel):
    """One entry of the error body: the field, the rule it breaks, what to do."""

    model_config = ConfigDict(extra="forbid", title="FieldError")

    field: str = Field(
        description="The dotted path of the wrong field (`applicant.id_number`, "
        "`attachments.0.sha256`), a parameter or header name, or `(body)`, `(service)`."
    )
    rule: str = Field(
        description="The rule broken (a contract rule such as `id_number`, or `json`, `size`, "
        "`authentication`, `access`, `exists`, `status`, …)."
    )
    message: str = Field(description="What is wrong, in words a person can act on.")


class ErrorBody(BaseModel):
    """The JSON answer of every HTTP API to a refused request (`error_body`)."""

    model_config = ConfigDict(extra="forbid", title="ErrorBody")

    errors: list[FieldErrorBody] = Field(min_length=1, description="One entry per wrong field.")
