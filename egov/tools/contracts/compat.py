"""The compatibility gate: every contract stays BACKWARD-transitive compatible with all its released versions.

Released versions are kept in `contracts/released/<full name>/v<N>.avsc`, each the standalone schema (every
named type inlined) as it was released. BACKWARD-transitive: a reader with the current schema can read data
written with *any* released version. The check is the `avro` package's reader/writer checker
(`avro.compatibility`), an implementation independent of the one that encodes the events (fastavro).
A breaking change is a new event type, not a new version (DESIGN.md, Events).

The checker answers for a whole schema, with locations and messages that do not pair up. To name the field
and the reason together, the gate walks the reader and writer records field by field (into nested records,
array items, map values and the record branches of unions) and runs the checker on each field's type pair.
It also refuses what the checker lets through: a field whose logical type changes (a `date` read as a
`timestamp-millis`: the int-to-long promotion is allowed, the meaning is not kept), a candidate with an
invalid default (fastavro's parser checks defaults, the `avro` package does not), and a released contract
that was deleted. A whole-schema checker run stays as a safety net.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.errors
import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    lookup_writer_field,
    schema_name_equals,
)
from fastavro import parse_schema
from fastavro.schema import UnknownType

from egov.contracts.serde import ContractRegistry, full_name, get_registry
from egov.paths import CONTRACTS_DIR

RELEASED_DIR = CONTRACTS_DIR / "released"
_VERSION = re.compile(r"^v(\d+)\.avsc$")

#: Kinds of incompatibility beyond the checker's own (`SchemaIncompatibilityType` values).
LOGICAL_TYPE_CHANGED = "logical_type_changed"
INVALID_SCHEMA = "invalid_schema"
DELETED_CONTRACT = "deleted_contract"
UNKNOWN_CONTRACT = "unknown_contract"
_NOT_FROM_CHECKER = {LOGICAL_TYPE_CHANGED, INVALID_SCHEMA, DELETED_CONTRACT, UNKNOWN_CONTRACT}
_NAMED = ("record", "enum", "fixed")


@dataclass(frozen=True)
class Incompatibility:
    """A released version that the new schema cannot read, and why.

    `location` is the dotted field path (`applicant.date_of_birth`, `attachments[].sha256` for an array's
    items, `form_fields{}` for a map's values), `(root)` for the top-level type, `(schema)` for a candidate
    that is not valid Avro, `(contract)` for a deleted or unknown contract. `message` names the field and
    the reason.
    """

    contract: str
    released: str
    location: str
    kind: str
    message: str

    def __str__(self) -> str:
        if self.kind == UNKNOWN_CONTRACT:
            return self.message
        if self.kind in (DELETED_CONTRACT, INVALID_SCHEMA):
            return f"{self.contract}: {self.message}"
        return f"{self.contract}: cannot read data written with {self.released}: {self.message}"


def released_versions(name: str, released_dir: Path = RELEASED_DIR) -> list[Path]:
    """The released versions of contract `name`, oldest first."""
    folder = released_dir / name
    if not folder.is_dir():
        return []
    versions = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _VERSION.match(p.name))]
    return [p for _, p in sorted(versions)]


def _parse(schema: Any) -> avro.schema.Schema:
    with warnings.catch_warnings():
        # An unknown logical type is read as its underlying type (Avro specification); the walk still
        # compares the `logicalType` properties.
        warnings.simplefilter("ignore", avro.errors.IgnoredLogicalType)
        return avro.schema.parse(json.dumps(schema))


def _invalid(schema: Any) -> str | None:
    """Why `schema` is not valid Avro, or None. fastavro's parser checks defaults; the avro package's not."""
    try:
        parse_schema(copy.deepcopy(schema))
        _parse(schema)
    except UnknownType as exc:
        return f"unknown type {exc.name}"
    except Exception as exc:  # both parsers raise their own errors, and ValueError, KeyError, … on odd input
        return str(exc) or type(exc).__name__
    return None


# -- the field-by-field walk ------------------------------------------------------------------------------


def _field(path: str) -> str:
    return f"field {path!r}" if path else "the top-level type"


def _show(schema: avro.schema.Schema, depth: int = 0) -> str:
    """A short description of a type for a message: `string`, `long (timestamp-millis)`, `enum a.B`, …"""
    if isinstance(schema, avro.schema.UnionSchema):
        return "union [" + ", ".join(_show(s, depth + 1) for s in schema.schemas) + "]"
    if isinstance(schema, avro.schema.NamedSchema):
        return f"{schema.type} {schema.fullname}" if depth == 0 else str(schema.fullname)
    if isinstance(schema, avro.schema.ArraySchema):
        return f"array of {_show(schema.items, depth + 1)}"
    if isinstance(schema, avro.schema.MapSchema):
        return f"map of {_show(schema.values, depth + 1)}"
    logical = _logical(schema)
    return f"{schema.type} ({logical})" if logical else str(schema.type)


def _logical(schema: avro.schema.Schema) -> str | None:
    logical = schema.props.get("logicalType")
    if not isinstance(logical, str):
        return None
    if logical == "decimal":
        return f"decimal({schema.props.get('precision')}, {schema.props.get('scale', 0)})"
    return logical


class _Walk:
    """Compare a reader and a writer schema field by field; `found` holds (path, kind, message)."""

    def __init__(self) -> None:
        self.checker = ReaderWriterCompatibilityChecker()
        self.found: list[tuple[str, str, str]] = []
        self._records: list[tuple[str, str]] = []  # the record pairs being walked: a recursive type stops

    def _add(self, path: str, kind: str, reason: str) -> None:
        self.found.append((path, kind, f"{_field(path)}: {reason}"))

    def _compatible(
        self, reader: avro.schema.Schema, writer: avro.schema.Schema
    ) -> SchemaCompatibilityResult:
        return self.checker.get_compatibility(reader, writer)

    def compare(self, reader: avro.schema.Schema, writer: avro.schema.Schema, path: str) -> None:
        if isinstance(writer, avro.schema.UnionSchema):
            for branch in writer.schemas:
                self._branch(reader, branch, path, writer)
        else:
            self._branch(reader, writer, path, None)

    def _pick(self, reader: avro.schema.Schema, writer: avro.schema.Schema) -> avro.schema.Schema | None:
        """The reader type (or reader union branch) that reads values of the (non-union) writer type."""
        candidates = reader.schemas if isinstance(reader, avro.schema.UnionSchema) else [reader]
        same = [c for c in candidates if c.type == writer.type]
        for candidate in same:
            if not isinstance(writer, avro.schema.NamedSchema) or (
                isinstance(candidate, avro.schema.NamedSchema) and schema_name_equals(candidate, writer)
            ):
                return candidate
        if same:
            return same[0]
        for candidate in candidates:  # a promotion: int read as long, string as bytes, …
            if self._compatible(candidate, writer).compatibility is SchemaCompatibilityType.compatible:
                return candidate
        return None

    def _branch(
        self,
        reader: avro.schema.Schema,
        writer: avro.schema.Schema,
        path: str,
        writer_union: avro.schema.UnionSchema | None,
    ) -> None:
        match = self._pick(reader, writer)
        if (
            isinstance(match, avro.schema.RecordSchema)
            and isinstance(writer, avro.schema.RecordSchema)
            and schema_name_equals(match, writer)
        ):
            self._record(match, writer, path)
            return
        if isinstance(match, avro.schema.ArraySchema) and isinstance(writer, avro.schema.ArraySchema):
            self.compare(match.items, writer.items, f"{path}[]")
            return
        if isinstance(match, avro.schema.MapSchema) and isinstance(writer, avro.schema.MapSchema):
            self.compare(match.values, writer.values, f"{path}{{}}")
            return
        result = self._compatible(reader, writer)
        if result.compatibility is SchemaCompatibilityType.incompatible:
            self._mismatch(reader, writer, match, result, path, writer_union)
        elif match is not None:
            was, now = _logical(writer), _logical(match)
            if was != now:
                self._add(
                    path,
                    LOGICAL_TYPE_CHANGED,
                    f"logical type changed from {was or 'none'} to {now or 'none'}; "
                    "old values would be read with another meaning",
                )

    def _mismatch(
        self,
        reader: avro.schema.Schema,
        writer: avro.schema.Schema,
        match: avro.schema.Schema | None,
        result: SchemaCompatibilityResult,
        path: str,
        writer_union: avro.schema.UnionSchema | None,
    ) -> None:
        kind = result.incompatibilities[0].value if result.incompatibilities else "type_mismatch"
        if isinstance(match, avro.schema.NamedSchema) and isinstance(writer, avro.schema.NamedSchema):
            if not schema_name_equals(match, writer):
                self._add(
                    path,
                    "name_mismatch",
                    f"{writer.type} {writer.fullname} was renamed to {match.fullname} "
                    'without keeping the old name in its "aliases"',
                )
                return
            if isinstance(match, avro.schema.EnumSchema) and isinstance(writer, avro.schema.EnumSchema):
                removed = [s for s in writer.symbols if s not in match.symbols]
                self._add(
                    path,
                    "missing_enum_symbols",
                    f"symbols {', '.join(removed)} were removed from {writer.fullname}",
                )
                return
            if isinstance(match, avro.schema.FixedSchema) and isinstance(writer, avro.schema.FixedSchema):
                self._add(
                    path,
                    "fixed_size_mismatch",
                    f"the size of {writer.fullname} changed from {writer.size} to {match.size}",
                )
                return
        reason = f"reader type {_show(reader)} cannot read writer type {_show(writer)}"
        if writer_union is not None:
            reason += f" (a branch of the writer's {_show(writer_union)})"
        self._add(path, kind, reason)

    def _record(self, reader: avro.schema.RecordSchema, writer: avro.schema.RecordSchema, path: str) -> None:
        pair = (str(reader.fullname), str(writer.fullname))
        if pair in self._records:  # a recursive type: this pair is being walked further up
            return
        self._records.append(pair)
        for reader_field in reader.fields:
            where = f"{path}.{reader_field.name}" if path else str(reader_field.name)
            writer_field = lookup_writer_field(writer_schema=writer, reader_field=reader_field)
            if writer_field is None:
                if not reader_field.has_default:
                    self.found.append(
                        (
                            where,
                            "reader_field_missing_default_value",
                            f"{_field(where)} was added without a default, so old data has no value for it",
                        )
                    )
            else:
                self.compare(reader_field.type, writer_field.type, where)
        self._records.pop()


def check_reader(reader: Any, writer: Any, *, contract: str, released: str) -> list[Incompatibility]:
    """Why `reader` (a JSON schema) cannot read data written with `writer`; empty when it can."""
    invalid = _invalid(reader)
    if invalid is not None:
        return [
            Incompatibility(
                contract, released, "(schema)", INVALID_SCHEMA, f"the new schema is not valid Avro: {invalid}"
            )
        ]
    reader_schema, writer_schema = _parse(reader), _parse(writer)
    walk = _Walk()
    walk.compare(reader_schema, writer_schema, "")
    problems = [
        Incompatibility(contract, released, path or "(root)", kind, message)
        for path, kind, message in walk.found
    ]
    # The safety net: the whole-schema checker finds a break the walk did not explain.
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader_schema, writer_schema)
    explained = any(p.kind not in _NOT_FROM_CHECKER for p in problems)
    if result.compatibility is SchemaCompatibilityType.incompatible and not explained:
        kinds = ", ".join(sorted({i.value for i in result.incompatibilities})) or "incompatible"
        locations = ", ".join(sorted(result.locations))
        problems += [
            Incompatibility(contract, released, locations, kinds, f"at {locations}: {_explain(message)}")
            for message in sorted(result.messages)
        ] or [Incompatibility(contract, released, locations, kinds, f"at {locations}: incompatible")]
    return problems


def _explain(message: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", message):
        return f"field {message!r} was added without a default, so old data has no value for it"
    return message


# -- the gate -------------------------------------------------------------------------------------------


def check_against_released(
    name: str, candidate: Any, released_dir: Path = RELEASED_DIR
) -> list[Incompatibility]:
    """Check a candidate standalone schema for contract `name` against all its released versions."""
    problems: list[Incompatibility] = []
    for version in released_versions(name, released_dir):
        writer = json.loads(version.read_text(encoding="utf-8"))
        found = check_reader(candidate, writer, contract=name, released=f"{name}/{version.stem}")
        if any(p.kind == INVALID_SCHEMA for p in found):
            return found  # the same for every version
        problems += found
    return problems


def check_all(
    registry: ContractRegistry | None = None, released_dir: Path = RELEASED_DIR
) -> list[Incompatibility]:
    """The gate: every current contract against every released version of it, and no released contract
    deleted."""
    registry = registry or get_registry()
    problems: list[Incompatibility] = []
    names = [c.name for c in registry.events()]
    released = sorted(p.name for p in released_dir.iterdir() if p.is_dir()) if released_dir.is_dir() else []
    for name in released:
        versions = released_versions(name, released_dir)
        if not versions:
            continue
        if name not in registry.contracts:
            problems.append(
                Incompatibility(
                    name,
                    f"{name}/{versions[-1].stem}",
                    "(contract)",
                    DELETED_CONTRACT,
                    "released but no longer in contracts/schemas "
                    "(a contract is never deleted; deprecate it instead)",
                )
            )
        elif name not in names:  # released as an event, no longer one: still checked
            names.append(name)
    for name in names:
        problems += check_against_released(name, registry.standalone(name), released_dir)
    return problems


def _names_in(schema: Any, namespace: str = "") -> Iterator[str]:
    """Full names of the named types a JSON schema defines or references (and, harmlessly, primitives)."""
    if isinstance(schema, str):
        yield schema if "." in schema or not namespace else f"{namespace}.{schema}"
    elif isinstance(schema, list):
        for branch in schema:
            yield from _names_in(branch, namespace)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in _NAMED and isinstance(schema.get("name"), str):
            full = full_name(schema, namespace)
            yield full
            namespace = full.rpartition(".")[0]
        for field in schema.get("fields", []):
            if isinstance(field, dict):
                yield from _names_in(field.get("type"), namespace)
        for key in ("items", "values"):
            if key in schema:
                yield from _names_in(schema[key], namespace)
        if isinstance(kind, dict | list):
            yield from _names_in(kind, namespace)


def check_candidate(
    raw: Any, registry: ContractRegistry | None = None, released_dir: Path = RELEASED_DIR
) -> tuple[str, list[Incompatibility], list[str]]:
    """Check a candidate new version of any contract (as written: named types may be referenced by full
    name): its full name, the problems, and the released versions checked (`<full name>/v<N>`).

    An event is checked against its released versions. A shared type is substituted for the current
    definition in a copy of the schemas folder, and every event that uses it is checked against its released
    versions. An unknown name is a problem: a new contract has nothing to be compatible with. A known
    contract that nothing released uses gives no problems and no versions.
    """
    registry = registry or get_registry()
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        message = 'the candidate is not a named Avro type: it needs a "name" (and a "namespace")'
        return "", [Incompatibility("(candidate)", "", "(contract)", UNKNOWN_CONTRACT, message)], []
    name = full_name(raw)
    contract = registry.contracts.get(name)
    if contract is None:
        message = (
            f"unknown contract {name}: check the name and namespace "
            "(a new contract has nothing to be compatible with)"
        )
        return name, [Incompatibility(name, "", "(contract)", UNKNOWN_CONTRACT, message)], []

    problems: list[Incompatibility] = []
    checked: list[str] = []
    own = released_versions(name, released_dir)
    if own:
        try:
            candidate = registry.expand(raw)
        except (TypeError, KeyError, AttributeError) as exc:
            return name, [_invalid_candidate(name, repr(exc))], []
        problems += check_against_released(name, candidate, released_dir)
        checked += [f"{name}/{v.stem}" for v in own]

    users = [
        c.name
        for c in registry.events()
        if c.name != name and released_versions(c.name, released_dir)
        if name in set(_names_in(registry.standalone(c.name)))
    ]
    if users:
        with tempfile.TemporaryDirectory(prefix="egov-compat-") as tmp:
            schemas = Path(tmp) / "schemas"
            shutil.copytree(registry.schemas_dir, schemas)
            target = schemas / contract.source.relative_to(registry.schemas_dir)
            target.write_text(json.dumps(raw, ensure_ascii=False, indent=2), encoding="utf-8")
            try:
                substituted = ContractRegistry(schemas)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                return name, [_invalid_candidate(name, str(exc).replace(f"{schemas}{os.sep}", ""))], []
            for user in users:
                problems += check_against_released(user, substituted.standalone(user), released_dir)
                checked += [f"{user}/{v.stem}" for v in released_versions(user, released_dir)]
    return name, problems, checked


def _invalid_candidate(name: str, why: str) -> Incompatibility:
    return Incompatibility(name, "", "(schema)", INVALID_SCHEMA, f"the new schema is not valid Avro: {why}")


def release(registry: ContractRegistry | None = None, released_dir: Path = RELEASED_DIR) -> list[Path]:
    """Record the current version of every event contract that differs from its last release; nothing is
    written while any contract breaks the gate (an incompatible change or a deleted contract)."""
    registry = registry or get_registry()
    problems = check_all(registry, released_dir)
    if problems:
        raise ValueError("; ".join(str(p) for p in problems))
    written = []
    for contract in registry.events():
        current = registry.standalone(contract.name)
        versions = released_versions(contract.name, released_dir)
        if versions and json.loads(versions[-1].read_text(encoding="utf-8")) == current:
            continue
        path = released_dir / contract.name / f"v{len(versions) + 1}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
