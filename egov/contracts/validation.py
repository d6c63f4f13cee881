"""Validation of payloads against the contracts, with the regulations' rules, written once.

Two layers, both driven by the `.avsc` files alone:

1. **Structure**: a pydantic model is built at load time from each Avro record (types, required fields,
   enum symbols, logical types). No field list is kept by hand anywhere else, so nothing can drift.
   Natural JSON is accepted: dates as `YYYY-MM-DD`, timestamps as RFC 3339 with a zone, bytes as base64,
   a nullable field as its value or `null`.
2. **Rules**: a field may name a rule with `"x-rule"`, a record may name record rules with `"x-rules"`;
   the rules are the functions of `egov.regulations` (ID number, agency, dossier and procedure codes, …).

Every error names the field by its dotted path (`applicant.id_number`, `attachments.0.sha256`) and the rule
broken. The portal validates HTTP bodies with the same models and rules; consumers check every event.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Union
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from egov.contracts.errors import FieldError
from egov.contracts.serde import ContractRegistry, get_registry
from egov.regulations import text
from egov.regulations.codes import (
    CodeError,
    agency_code_problems,
    parse_dossier_code,
    procedure_code_problems,
)
from egov.regulations.identity import id_number_problems
from egov.regulations.workdays import PROVINCE_TZ_DEFAULT


# -- rules --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleContext:
    """What a rule may know besides the payload: today's date in the province, for 'not in the future'."""

    today: dt.date | None = None

    @classmethod
    def now(cls) -> RuleContext:
        """Today in the province's time zone (every supported province is in Asia/Ho_Chi_Minh)."""
        return cls(today=dt.datetime.now(ZoneInfo(PROVINCE_TZ_DEFAULT)).date())


#: A field rule's findings: messages about the field, or (a key below it, message) pairs (a map's entries).
FieldRule = Callable[[Any, Mapping[str, Any], RuleContext], list[str] | list[tuple[str, str]]]
RecordRule = Callable[[Mapping[str, Any], RuleContext], list[tuple[str, str]]]

_PHONE = re.compile(r"(?:\+84|0)[0-9]{9}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _dossier_code(value: Any, _: Mapping[str, Any], __: RuleContext) -> list[str]:
    try:
        parse_dossier_code(value)
    except CodeError as exc:
        return [str(exc)]
    return []


FIELD_RULES: dict[str, FieldRule] = {
    "id_number": lambda v, rec, _: id_number_problems(v, rec.get("date_of_birth"), rec.get("sex")),
    "agency_code": lambda v, _, __: agency_code_problems(v),
    "procedure_code": lambda v, _, __: procedure_code_problems(v),
    "dossier_code": _dossier_code,
    "sha256": lambda v, _, __: [] if _SHA256.fullmatch(v) else ["must be 64 lower-case hex digits (SHA-256)"],
    "vn_phone": lambda v, _, __: (
        []
        if v is None or _PHONE.fullmatch(v)
        else ["must be a Vietnamese phone number: 0 or +84 then 9 digits"]
    ),
    "email": lambda v, _, __: (
        text.EMAIL.problems(v) or ([] if _EMAIL.fullmatch(v) else ["is not an e-mail address"])
    ),
    "non_negative": lambda v, _, __: [] if v >= 0 else [f"must not be negative, got {v}"],
    "person_name": lambda v, _, __: text.person_name_problems(v),
    "address_part": lambda v, _, __: text.ADDRESS_PART.problems(v),
    "short_text": lambda v, _, __: text.SHORT_TEXT.problems(v),
    "free_text": lambda v, _, __: text.FREE_TEXT.problems(v),
    "file_name": lambda v, _, __: text.file_name_problems(v),
    "media_type": lambda v, _, __: text.media_type_problems(v),
    "file_size": lambda v, _, __: text.file_size_problems(v),
    "attachments": lambda v, _, __: text.attachments_problems(v),
    "component_key": lambda v, _, __: text.component_key_problems(v),
    "form_fields": lambda v, _, __: text.form_fields_problems(v),
    "not_future": lambda v, _, ctx: (
        [f"is in the future ({v.isoformat()})"] if ctx.today is not None and v > ctx.today else []
    ),
}


def _contact_reachable(record: Mapping[str, Any], _: RuleContext) -> list[tuple[str, str]]:
    channel = record.get("notify_by")
    if channel in ("SMS", "ZALO") and not record.get("phone"):
        return [("phone", f"is needed to notify by {channel}")]
    if channel == "EMAIL" and not record.get("email"):
        return [("email", "is needed to notify by EMAIL")]
    return []


def _reason_when_rejected(record: Mapping[str, Any], _: RuleContext) -> list[tuple[str, str]]:
    if record.get("decision") == "REJECTED" and not record.get("reason"):
        return [("reason", "is required when the decision is REJECTED")]
    return []


RECORD_RULES: dict[str, RecordRule] = {
    "contact_reachable": _contact_reachable,
    "reason_when_rejected": _reason_when_rejected,
}

#: What JSON Schema can say of a field rule, for the OpenAPI documents and any client generated from them:
#: the same limits as the rule's check (egov.regulations.text), written there once. A rule with more to it
#: than a schema can say (a name's letters, an ID number's check against the birth date) is a narrower
#: check than its schema; every rule's name travels as `x-rule`.
RULE_SCHEMAS: dict[str, dict[str, Any]] = {
    "id_number": {"pattern": "^[0-9]{12}$"},
    "agency_code": {"minLength": 1, "maxLength": 35},
    "sha256": {"pattern": "^[0-9a-f]{64}$"},
    "vn_phone": {"pattern": "^(\\+84|0)[0-9]{9}$"},
    "email": {"maxLength": text.EMAIL.max_chars, "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"},
    "non_negative": {"minimum": 0},
    "person_name": text.PERSON_NAME.json_schema(),
    "address_part": text.ADDRESS_PART.json_schema(),
    "short_text": text.SHORT_TEXT.json_schema(),
    "free_text": text.FREE_TEXT.json_schema(),
    "file_name": {**text.FILE_NAME.json_schema(), "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f/\\\\]*$"},
    "media_type": {"maxLength": text.MEDIA_TYPE_LIMIT.max_chars, "pattern": text.MEDIA_TYPE_SCHEMA},
    "file_size": {"minimum": 1, "maximum": text.MAX_ATTACHMENT_BYTES},
    "attachments": {"maxItems": text.MAX_ATTACHMENTS},
    "component_key": {"pattern": text.COMPONENT_KEY_SCHEMA},
    "form_fields": {
        "maxProperties": text.MAX_FORM_FIELDS,
        "propertyNames": {"pattern": text.FORM_FIELD_NAME_SCHEMA},
        "additionalProperties": {"type": "string", **text.FORM_VALUE.json_schema()},
    },
}


def rule_schema(rule: str) -> dict[str, Any]:
    """The JSON Schema keywords of a field rule, with its name (`x-rule`)."""
    return {"x-rule": rule, **RULE_SCHEMAS.get(rule, {})}


def ruled(rule: str, python_type: Any = str) -> Any:
    """A pydantic annotation for a field of a hand-declared request model (an HTTP body that is not a
    contract) checked by a contract's field rule: the same check and the same JSON Schema as the contract's
    fields that name the rule, and the rule's name in the error."""

    def check(value: Any) -> Any:
        problems = [
            m if isinstance(m, str) else m[1] for m in _apply(FIELD_RULES[rule], value, {}, RuleContext())
        ]
        if problems:
            raise PydanticCustomError(rule, "; ".join(problems))
        return value

    return Annotated[python_type, Field(json_schema_extra=rule_schema(rule)), AfterValidator(check)]


if TYPE_CHECKING:  # to a type checker they are strings; to pydantic, strings checked by their rule
    PersonName = str
    ShortText = str
    FreeText = str
    FileName = str
    MediaType = str
    AgencyCode = str
else:
    PersonName = ruled("person_name")
    ShortText = ruled("short_text")
    FreeText = ruled("free_text")
    FileName = ruled("file_name")
    MediaType = ruled("media_type")
    AgencyCode = ruled("agency_code")


# -- models built from the schemas -------------------------------------------------------------------------
def _from_base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"is not valid base64: {exc}") from None


def _within_timestamp_range(value: dt.datetime) -> dt.datetime:
    if not MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:
        raise ValueError("is outside the range a timestamp can hold (years 0001–9999 in UTC)")
    return value


#: Avro `bytes` in JSON: strict base64, decoded (pydantic's Base64Bytes would dump it as base64 again).
Base64 = Annotated[bytes, PlainValidator(_from_base64)]
#: Avro timestamps in JSON: RFC 3339 with a zone, within what every Avro implementation can decode.
MIN_TIMESTAMP = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
MAX_TIMESTAMP = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)
Timestamp = Annotated[AwareDatetime, AfterValidator(_within_timestamp_range)]

_PRIMITIVES: dict[str, Any] = {
    "string": str,
    "int": Annotated[int, Field(ge=-(2**31), le=2**31 - 1)],
    "long": Annotated[int, Field(ge=-(2**63), le=2**63 - 1)],
    "boolean": bool,
    "float": float,
    "double": float,
    "bytes": Base64,
    "null": None,
}


class ContractModels:
    """pydantic models derived from the contracts, one per record, built once."""

    def __init__(self, registry: ContractRegistry) -> None:
        self.registry = registry
        self._models: dict[tuple[str, frozenset[str]], type[BaseModel]] = {}
        self._nested: dict[str, type[BaseModel]] = {}

    def model(self, name: str, exclude: frozenset[str] = frozenset()) -> type[BaseModel]:
        """The model of record `name`, without the top-level fields in `exclude` (e.g. server-set ones)."""
        key = (name, exclude)
        if key not in self._models:
            schema = self.registry.get(name).schema
            self._models[key] = self._record_model(schema, exclude)
        return self._models[key]

    def _named(self, name: str) -> Any:
        contract = self.registry.contracts.get(name)
        if contract is not None:
            return contract.schema
        # A named type defined inside another file (e.g. an enum inline in a record).
        for contract in self.registry.contracts.values():
            found = contract.schema.get("__named_schemas", {}).get(name)
            if found is not None:
                return found
        raise KeyError(name)

    def _record_model(
        self, schema: Mapping[str, Any], exclude: frozenset[str] = frozenset()
    ) -> type[BaseModel]:
        fields: dict[str, Any] = {}
        for field in schema["fields"]:
            if field["name"] in exclude:
                continue
            annotation = self._annotation(field["type"])
            # What the OpenAPI documents show of the field: the contract's words and the rule's limits.
            described: dict[str, Any] = {"description": field.get("doc")}
            if field.get("x-rule"):
                described["json_schema_extra"] = rule_schema(field["x-rule"])
            if "default" in field:
                default = field["default"]
                fields[field["name"]] = (
                    annotation,
                    Field(default_factory=lambda d=default: _copy(d), **described),
                )
            else:
                fields[field["name"]] = (annotation, Field(..., **described))
        model_name = str(schema["name"]).rsplit(".", 1)[-1]
        config = ConfigDict(extra="forbid", strict=True, title=model_name)
        model = create_model(model_name, __config__=config, __doc__=schema.get("doc"), **fields)
        return model

    def _annotation(self, avro_type: Any) -> Any:
        if isinstance(avro_type, str):
            if avro_type in _PRIMITIVES:
                return type(None) if avro_type == "null" else _PRIMITIVES[avro_type]
            return self._annotation(self._named(avro_type))
        if isinstance(avro_type, list):
            branches = [self._annotation(branch) for branch in avro_type]
            non_null = [b for b in branches if b is not type(None)]
            inner = non_null[0] if len(non_null) == 1 else Union[tuple(non_null)]  # noqa: UP007
            return Optional[inner] if len(non_null) < len(branches) else inner  # noqa: UP045
        kind = avro_type.get("type")
        logical = avro_type.get("logicalType")
        if logical == "date":
            return dt.date
        if logical in ("timestamp-millis", "timestamp-micros"):
            return Timestamp
        if kind == "record":
            # one model per named record, shared by every contract that holds it (one schema in the OpenAPI
            # documents, not a copy per use)
            name = (
                avro_type["name"]
                if "." in avro_type["name"]
                else f"{avro_type.get('namespace')}.{avro_type['name']}"
            )
            nested = self._nested.get(name)
            if nested is None:
                nested = self._nested[name] = self._record_model(avro_type)
            return nested
        if kind == "enum":
            return Literal[tuple(avro_type["symbols"])]
        if kind == "array":
            return list[self._annotation(avro_type["items"])]  # type: ignore[misc]
        if kind == "map":
            return dict[str, self._annotation(avro_type["values"])]  # type: ignore[misc]
        if kind == "fixed":
            return Base64
        return self._annotation(kind)


def natural_json(value: Any) -> Any:
    """Avro values as the JSON the toolkit reads: ISO dates, RFC 3339 UTC times, base64 bytes."""
    if isinstance(value, dt.datetime):
        spec = "milliseconds" if value.microsecond else "seconds"
        return value.astimezone(dt.UTC).isoformat(timespec=spec).replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: natural_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [natural_json(v) for v in value]
    return value


def _drop(payload: Any, path: str) -> None:
    """Remove the value at a dotted path (`applicant.sex`, `attachments.0.sha256`) if it is there."""
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = None


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


# -- the validator ------------------------------------------------------------------------------------------
class ContractValidator:
    """Structure and rules of every contract, for JSON payloads and for decoded events."""

    def __init__(self, registry: ContractRegistry | None = None) -> None:
        self.registry = registry or get_registry()
        self.models = ContractModels(self.registry)

    def from_json(
        self,
        name: str,
        payload: Any,
        *,
        exclude: frozenset[str] = frozenset(),
        context: RuleContext | None = None,
    ) -> tuple[dict[str, Any] | None, list[FieldError]]:
        """The Avro-ready record of a JSON payload (None when invalid) and every error found."""
        model = self.models.model(name, exclude)
        try:
            parsed = model.model_validate_json(json.dumps(payload, ensure_ascii=False))
        except ValidationError as exc:
            # Report the rules broken by the well-formed parts too, so one answer lists every wrong field.
            errors = structural_errors(exc)
            reported = {e.path for e in errors}
            lenient = self._lenient(self.registry.get(name).schema, payload)
            for path in reported:
                _drop(lenient, path)  # a rule never judges, or leans on, a value that is malformed
            errors += [e for e in self.check_rules(name, lenient, context=context) if e.path not in reported]
            return None, errors
        record = parsed.model_dump()
        errors = self.check_rules(name, record, context=context)
        return (record if not errors else None), errors

    def check_rules(
        self, name: str, record: Mapping[str, Any], *, context: RuleContext | None = None
    ) -> list[FieldError]:
        """Every rule (`x-rule`, `x-rules`) the record breaks, by field path."""
        errors: list[FieldError] = []
        self._walk(self.registry.get(name).schema, record, "", context or RuleContext.now(), errors)
        return errors

    def validate_event(self, name: str, record: Mapping[str, Any]) -> list[FieldError]:
        """Structure (Avro) and rules of a decoded or about-to-be-encoded event."""
        from egov.contracts.serde import ContractError

        try:
            self.registry.validate(name, record)
        except ContractError as exc:
            return [FieldError("", "avro", str(exc))]
        return self.check_rules(name, record)

    def _lenient(self, avro_type: Any, value: Any) -> Any:
        """A JSON payload with the dates it holds parsed where they parse, for checking the rules of a
        payload that is not entirely well formed."""
        if isinstance(avro_type, str):
            return value if avro_type in _PRIMITIVES else self._lenient(self.models._named(avro_type), value)
        if isinstance(avro_type, list):
            branches = [b for b in avro_type if b != "null"]
            return self._lenient(branches[0], value) if len(branches) == 1 and value is not None else value
        logical = avro_type.get("logicalType")
        if logical == "date" and isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return value
        kind = avro_type.get("type")
        if kind == "record" and isinstance(value, dict):
            types = {f["name"]: f["type"] for f in avro_type["fields"]}
            return {k: self._lenient(types[k], v) if k in types else v for k, v in value.items()}
        if kind == "array" and isinstance(value, list):
            return [self._lenient(avro_type["items"], v) for v in value]
        if kind == "map" and isinstance(value, dict):
            return {k: self._lenient(avro_type["values"], v) for k, v in value.items()}
        return value

    def _walk(
        self, avro_type: Any, value: Any, path: str, ctx: RuleContext, errors: list[FieldError]
    ) -> None:
        if value is None:
            return
        if isinstance(avro_type, str):
            if avro_type in _PRIMITIVES:
                return
            avro_type = self.models._named(avro_type)
        if isinstance(avro_type, list):
            for branch in avro_type:
                if branch != "null":
                    self._walk(branch, value, path, ctx, errors)
                    return
            return
        kind = avro_type.get("type")
        if kind == "record" and isinstance(value, Mapping):
            for field in avro_type["fields"]:
                field_path = f"{path}.{field['name']}" if path else field["name"]
                field_value = value.get(field["name"])
                rule = field.get("x-rule")
                if rule and field_value is not None:
                    for finding in _apply(FIELD_RULES[rule], field_value, value, ctx):
                        below, message = finding if isinstance(finding, tuple) else ("", finding)
                        where = f"{field_path}.{below}" if below else field_path
                        errors.append(FieldError(where, rule, message))
                self._walk(field["type"], field_value, field_path, ctx, errors)
            for rule in avro_type.get("x-rules", []):
                for field_name, message in _apply(RECORD_RULES[rule], value, ctx):
                    errors.append(FieldError(f"{path}.{field_name}" if path else field_name, rule, message))
        elif kind == "array" and isinstance(value, list):
            for index, item in enumerate(value):
                self._walk(avro_type["items"], item, f"{path}.{index}", ctx, errors)
        elif kind == "map" and isinstance(value, Mapping):
            for key, item in value.items():
                self._walk(avro_type["values"], item, f"{path}.{key}", ctx, errors)


def _apply(rule: Callable[..., list[Any]], *args: Any) -> list[Any]:
    """A rule's findings; nothing when a value it needs has the wrong type (that error is reported
    by the structural check already)."""
    try:
        return rule(*args)
    except (TypeError, ValueError, AttributeError, KeyError):
        return []


def structural_errors(error: ValidationError) -> list[FieldError]:
    """pydantic's errors as field errors: the dotted path and a message a person can act on."""
    out = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"] if not str(part).startswith(("function-", "json-")))
        out.append(FieldError(path, str(item["type"]), item["msg"].removeprefix("Value error, ")))
    return out


@lru_cache(maxsize=1)
def get_validator() -> ContractValidator:
    return ContractValidator()


def known_rules() -> set[str]:
    return set(FIELD_RULES) | set(RECORD_RULES)
