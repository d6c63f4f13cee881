"""The compatibility gate: every contract stays BACKWARD-transitive compatible with all its released versions.

Released versions are kept in `contracts/released/<full name>/v<N>.avsc`, each the standalone schema (every
named type inlined) as it was released. BACKWARD-transitive: a reader with the current schema can read data
written with *any* released version. The check is the `avro` package's reader/writer checker
(`avro.compatibility`), an implementation independent of the one that encodes the events (fastavro).
A breaking change is a new event type, not a new version (DESIGN.md, Events).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from egov.paths import CONTRACTS_DIR
from egov.runtime.serde import ContractRegistry, get_registry

RELEASED_DIR = CONTRACTS_DIR / "released"
_VERSION = re.compile(r"^v(\d+)\.avsc$")


@dataclass(frozen=True)
class Incompatibility:
    """A released version that the new schema cannot read, and why."""

    contract: str
    released: str
    location: str
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"at {self.location}: {self.message}"
        return f"{self.contract}: cannot read data written with {self.released}: {where}"


def released_versions(name: str, released_dir: Path = RELEASED_DIR) -> list[Path]:
    """The released versions of contract `name`, oldest first."""
    folder = released_dir / name
    if not folder.is_dir():
        return []
    versions = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _VERSION.match(p.name))]
    return [p for _, p in sorted(versions)]


def _parse(schema: Any) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema))


def check_reader(reader: Any, writer: Any, *, contract: str, released: str) -> list[Incompatibility]:
    """Why `reader` (a JSON schema) cannot read data written with `writer`; empty when it can."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(_parse(reader), _parse(writer))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted({i.value for i in result.incompatibilities})) or "incompatible"
    # The checker's messages and locations are sets that do not pair up: report each message, with all
    # the locations, and spell out the bare field name it gives for a new field without a default.
    locations = ", ".join(sorted(result.locations))
    return [
        Incompatibility(contract, released, locations, kinds, _explain(message))
        for message in sorted(result.messages)
    ] or [Incompatibility(contract, released, locations, kinds, "incompatible")]


def _explain(message: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", message):
        return f"field {message!r} was added without a default, so old data has no value for it"
    return message


def check_against_released(
    name: str, candidate: Any, released_dir: Path = RELEASED_DIR
) -> list[Incompatibility]:
    """Check a candidate standalone schema for contract `name` against all its released versions."""
    problems: list[Incompatibility] = []
    for version in released_versions(name, released_dir):
        writer = json.loads(version.read_text(encoding="utf-8"))
        problems += check_reader(candidate, writer, contract=name, released=f"{name}/{version.stem}")
    return problems


def check_all(
    registry: ContractRegistry | None = None, released_dir: Path = RELEASED_DIR
) -> list[Incompatibility]:
    """The gate: every current event contract against every released version of it."""
    registry = registry or get_registry()
    problems: list[Incompatibility] = []
    for contract in registry.events():
        problems += check_against_released(contract.name, registry.standalone(contract.name), released_dir)
    return problems


def release(registry: ContractRegistry | None = None, released_dir: Path = RELEASED_DIR) -> list[Path]:
    """Record the current version of every event contract that differs from its last release."""
    registry = registry or get_registry()
    written = []
    for contract in registry.events():
        current = registry.standalone(contract.name)
        versions = released_versions(contract.name, released_dir)
        if versions and json.loads(versions[-1].read_text(encoding="utf-8")) == current:
            continue
        problems = check_against_released(contract.name, current, released_dir)
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        path = released_dir / contract.name / f"v{len(versions) + 1}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
