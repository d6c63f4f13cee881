"""How a refused payload is explained, to a person or a program: one `FieldError` per wrong field (its dotted
path, the rule broken, a message a person can act on), and the one JSON body every HTTP API of the project
answers a refused request with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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
