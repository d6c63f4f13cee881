"""Avro serde: the contracts in `contracts/schemas/`, parsed once, and Avro single-object encoding.

Single-object encoding (Avro specification, "Single-object encoding"): the two marker bytes `C3 01`, the
8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, then the Avro
binary body. Any reader, in any language, finds the writer's schema in `contracts/` by that fingerprint;
no schema registry is needed.

Every `.avsc` file holds one named type; named types shared by several events (applicant, attachment, …)
are defined once and referenced by full name.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import SchemaParseException, UnknownType, fingerprint, to_parsing_canonical_form
from fastavro.validation import ValidationError, validate

from egov.paths import SCHEMAS_DIR

MAGIC = b"\xc3\x01"
COMMON_NAMESPACE = "vn.egov.common"
HEADER_LEN = len(MAGIC) + 8


class ContractError(ValueError):
    """A payload does not match its contract, or bytes cannot be decoded; the message says why."""


class UndecodableMessage(ContractError):
    """Bytes that are not a single-object-encoded event of a known contract."""


@dataclass(frozen=True)
class Contract:
    """One named Avro type of the contracts, parsed, with its fingerprint."""

    name: str
    schema: Any  # the parsed fastavro schema
    source: Path
    fingerprint: bytes
    doc: str

    @property
    def is_record(self) -> bool:
        return isinstance(self.schema, dict) and self.schema.get("type") == "record"

    @property
    def is_event(self) -> bool:
        """A record that travels as a message: every record outside the shared `vn.egov.common` types."""
        return self.is_record and not self.name.startswith(COMMON_NAMESPACE + ".")


class ContractRegistry:
    """All contracts of a folder, parsed once; encode and decode events by type name or fingerprint."""

    def __init__(self, schemas_dir: Path = SCHEMAS_DIR) -> None:
        self.schemas_dir = schemas_dir
        self._named: dict[str, Any] = {}
        self._raw: dict[str, Any] = {}
        self.contracts: dict[str, Contract] = {}
        self._by_fingerprint: dict[bytes, Contract] = {}
        #: Released versions that differ from the current schema: fingerprint → (contract, writer schema).
        self._released: dict[bytes, tuple[Contract, Any]] = {}
        #: Every released version, the current one included: fingerprint (hex) → `<full name>/v<N>`.
        self._release_names: dict[str, str] = {}
        self._load()
        self._load_released(schemas_dir.parent / "released")

    def _load_released(self, released_dir: Path) -> None:
        """Index every released version, so data written with an older version still decodes (read with the
        current schema as the reader: the compatibility gate guarantees that works)."""
        for path in sorted(released_dir.glob("*/v*.avsc")):
            contract = self.contracts.get(path.parent.name)
            if contract is None:
                continue
            writer = parse_schema(json.loads(path.read_text(encoding="utf-8")))
            fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(writer), "CRC-64-AVRO"))
            self._release_names[fp.hex()] = f"{contract.name}/{path.stem}"
            if fp not in self._by_fingerprint:
                self._released[fp] = (contract, writer)

    def _load(self) -> None:
        pending = {
            path: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(self.schemas_dir.rglob("*.avsc"))
        }
        # Files reference each other's named types: parse whatever resolves until nothing is left.
        while pending:
            progressed = False
            errors: dict[Path, str] = {}
            for path, raw in list(pending.items()):
                # Parse against a copy: fastavro may register a type before failing on one it references.
                attempt = dict(self._named)
                try:
                    parsed: Any = parse_schema(raw, named_schemas=attempt)
                except UnknownType as exc:
                    errors[path] = f"unknown type {exc.name}"
                    continue
                except SchemaParseException as exc:
                    raise ContractError(f"{path}: {exc}") from exc
                name = parsed["name"]
                expected = path.name.removesuffix(".avsc")
                if name != expected:
                    raise ContractError(f"{path}: the file must be named after its type, {name}.avsc")
                self._named = attempt
                self._raw[name] = raw
                canonical = to_parsing_canonical_form(self._expand(raw, set()))
                contract = Contract(
                    name=name,
                    schema=parsed,
                    source=path,
                    fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
                    doc=raw.get("doc", ""),
                )
                self.contracts[name] = contract
                self._by_fingerprint[contract.fingerprint] = contract
                del pending[path]
                progressed = True
            if not progressed:
                detail = "; ".join(f"{p.name}: {why}" for p, why in errors.items())
                raise ContractError(f"Contracts reference types that no file defines: {detail}")

    def standalone(self, name: str) -> Any:
        """The JSON schema of `name` with every named type it uses inlined: what another Avro
        implementation needs to read it, and what the released versions keep."""
        return self._expand(copy.deepcopy(self._raw[self.get(name).name]), set())

    def expand(self, schema: Any) -> Any:
        """Any JSON schema (e.g. a vendor's candidate) with the contracts' named types inlined."""
        return self._expand(copy.deepcopy(schema), set())

    def _expand(self, schema: Any, seen: set[str]) -> Any:
        """The schema standing alone: each named type it references inlined where it first occurs,
        as the Parsing Canonical Form (and so the fingerprint) requires."""
        if isinstance(schema, str):
            if schema in self._raw and schema not in seen:
                seen.add(schema)
                return self._expand(self._raw[schema], seen)
            return schema
        if isinstance(schema, list):
            return [self._expand(branch, seen) for branch in schema]
        if isinstance(schema, dict):
            if "name" in schema and schema.get("type") in ("record", "enum", "fixed"):
                seen.add(full_name(schema))
            out = dict(schema)
            if "fields" in schema:
                out["fields"] = [{**f, "type": self._expand(f["type"], seen)} for f in schema["fields"]]
            for key in ("items", "values"):
                if key in schema:
                    out[key] = self._expand(schema[key], seen)
            if isinstance(schema.get("type"), dict | list):
                out["type"] = self._expand(schema["type"], seen)
            return out
        return schema

    # -- look-up -------------------------------------------------------------------------------------
    def get(self, name: str) -> Contract:
        try:
            return self.contracts[name]
        except KeyError:
            raise ContractError(f"No contract named {name!r} in {self.schemas_dir}") from None

    def by_fingerprint(self, fp: bytes) -> Contract:
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise UndecodableMessage(f"unknown writer schema fingerprint {fp.hex()}") from None

    def released_versions(self) -> dict[str, str]:
        """Fingerprint (hex) → `<full name>/v<N>` of every released version of every contract: what a writer
        may use (a fingerprint not here is a schema nobody released)."""
        return dict(self._release_names)

    def events(self) -> list[Contract]:
        return [c for c in self.contracts.values() if c.is_event]

    # -- wire format ---------------------------------------------------------------------------------
    def validate(self, name: str, record: Mapping[str, Any]) -> None:
        """Raise ContractError naming each field that breaks the contract."""
        try:
            validate(record, self.get(name).schema, raise_errors=True)
        except ValidationError as exc:
            problems = "; ".join(_describe(e) for e in exc.errors)
            raise ContractError(f"{name} does not match its contract: {problems}") from exc

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Single-object encoding of `record` as the contract `name`, validated first."""
        contract = self.get(name)
        naive = _naive_datetime_path(record)
        if naive is not None:
            raise ContractError(f"{name}: {naive} is a naive datetime; times on the wire are aware, in UTC")
        self.validate(name, record)
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(contract.fingerprint)
        schemaless_writer(buf, contract.schema, dict(record))
        return buf.getvalue()

    def decode(self, data: bytes | None) -> tuple[Contract, dict[str, Any]]:
        """The contract and record of single-object-encoded bytes; UndecodableMessage says why not."""
        if not data:
            raise UndecodableMessage("empty message value")
        if data[:2] != MAGIC:
            raise UndecodableMessage(
                f"not Avro single-object encoding: expected marker c301, got {data[:2].hex() or 'nothing'}"
            )
        if len(data) < HEADER_LEN:
            raise UndecodableMessage(
                f"{len(data)} bytes are too short for single-object encoding (marker and 8-byte fingerprint)"
            )
        fp = bytes(data[2:HEADER_LEN])
        if fp in self._released:
            contract, writer = self._released[fp]
            reader = contract.schema
        else:
            contract = self.by_fingerprint(fp)
            writer, reader = contract.schema, None
        body = io.BytesIO(data[HEADER_LEN:])
        try:
            record = schemaless_reader(body, writer, reader)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, …
            raise UndecodableMessage(f"body does not decode as {contract.name}: {exc!r}") from exc
        if not isinstance(record, dict):
            raise UndecodableMessage(f"{contract.name} is not an event (a record) and cannot be a message")
        if body.tell() != len(data) - HEADER_LEN:
            raise UndecodableMessage(
                f"{len(data) - HEADER_LEN - body.tell()} trailing bytes after a {contract.name} body"
            )
        return contract, record


def _naive_datetime_path(value: Any, path: str = "") -> str | None:
    """The path of the first datetime without a time zone in a record, if any."""
    if isinstance(value, dt.datetime):
        return (path or "(value)") if value.tzinfo is None else None
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _naive_datetime_path(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _describe(error: Any) -> str:
    """fastavro's validation error without the whole schema: the field and the value it got."""
    field = getattr(error, "field", None)
    datum = getattr(error, "datum", None)
    if field is None:
        return str(error)
    shown = repr(datum) if len(repr(datum)) <= 80 else repr(datum)[:77] + "..."
    return f"{str(field).split('.', 3)[-1] if field else field}: {shown} does not match its type"


def full_name(schema: Mapping[str, Any], namespace: str = "") -> str:
    """The full name of a named type: its own namespace, else the enclosing one (Avro specification)."""
    name = str(schema.get("name", ""))
    namespace = str(schema.get("namespace") or namespace)
    return name if "." in name or not namespace else f"{namespace}.{name}"


@lru_cache(maxsize=4)
def get_registry(schemas_dir: Path = SCHEMAS_DIR) -> ContractRegistry:
    """The process-wide contract registry: every schema parsed once."""
    return ContractRegistry(schemas_dir)
