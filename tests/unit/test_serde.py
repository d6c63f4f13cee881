"""Avro single-object encoding: our bytes are standard Avro, and bad bytes are refused with the reason."""

import io
import json

import avro.io
import avro.schema
import pytest

from egov.contracts.serde import MAGIC, ContractError, UndecodableMessage, get_registry
from egov.contracts.validation import get_validator
from egov.paths import EXAMPLES_DIR

REG = get_registry()
SUBMITTED = "vn.egov.dossier.DossierSubmitted"
RECORD, _ = get_validator().from_json(
    SUBMITTED, json.loads((EXAMPLES_DIR / f"{SUBMITTED}.json").read_text(encoding="utf-8"))
)
assert RECORD is not None


def test_single_object_encoding_has_marker_fingerprint_and_body() -> None:
    data = REG.encode(SUBMITTED, RECORD)
    assert data[:2] == MAGIC == b"\xc3\x01"
    assert data[2:10] == REG.get(SUBMITTED).fingerprint
    contract, record = REG.decode(data)
    assert contract.name == SUBMITTED
    assert record == {**RECORD}


def test_another_avro_implementation_reads_our_body() -> None:
    data = REG.encode(SUBMITTED, RECORD)
    standalone = REG.standalone(SUBMITTED)
    reader = avro.io.DatumReader(avro.schema.parse(json.dumps(standalone)))
    decoded = reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    assert decoded["applicant"] == {**RECORD["applicant"]}
    assert decoded["submitted_at"].timestamp() == RECORD["submitted_at"].timestamp()


def test_the_fingerprint_is_crc64_avro_of_the_canonical_form() -> None:
    # The avro package computes the same Rabin fingerprint on a schema without logical types
    # (its canonical form keeps {"type": "int"} for logical types, unlike the specification and Java).
    contract = REG.get("vn.egov.common.Attachment")
    reference = avro.schema.parse(contract.source.read_text())
    assert reference.fingerprint("CRC-64-AVRO") == contract.fingerprint


def test_a_contract_violation_names_the_field() -> None:
    bad = {**RECORD, "channel": "FAX"}
    with pytest.raises(ContractError, match="channel"):
        REG.encode(SUBMITTED, bad)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b'{"json": true}', "expected marker c301"),
        (MAGIC + b"\x00" * 8 + b"\x02", "unknown writer schema fingerprint"),
    ],
)
def test_undecodable_bytes_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UndecodableMessage, match=reason):
        REG.decode(data)


def test_truncated_and_padded_bodies_are_refused() -> None:
    data = REG.encode(SUBMITTED, RECORD)
    with pytest.raises(UndecodableMessage, match="does not decode"):
        REG.decode(data[:-5])
    with pytest.raises(UndecodableMessage, match="trailing bytes"):
        REG.decode(data + b"\x00")


def test_every_event_type_of_the_registry_has_a_contract() -> None:
    from services import all_topics

    for spec in all_topics():
        for event_type in spec.events:
            assert REG.get(event_type).is_event, f"{spec.name}: {event_type}"


def test_naive_datetimes_never_reach_the_wire() -> None:
    import datetime as dt

    body = {**RECORD, "submitted_at": dt.datetime(2026, 11, 24, 3, 0)}
    with pytest.raises(ContractError, match="submitted_at is a naive datetime"):
        REG.encode(SUBMITTED, body)


def test_a_marker_without_a_fingerprint_is_called_too_short() -> None:
    with pytest.raises(UndecodableMessage, match="too short"):
        REG.decode(MAGIC + b"\x00")


def test_data_written_with_a_released_version_still_decodes_after_a_compatible_change(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The gate allows adding a field with a default; old bytes must then read with the new schema."""
    import shutil

    from egov.contracts.serde import ContractRegistry

    shutil.copytree(REG.schemas_dir, tmp_path / "schemas")
    shutil.copytree(REG.schemas_dir.parent / "released", tmp_path / "released")
    source = tmp_path / "schemas" / "dossier" / "vn.egov.dossier.DossierReceived.avsc"
    schema = json.loads(source.read_text(encoding="utf-8"))
    schema["fields"].append({"name": "counter", "type": ["null", "string"], "default": None, "doc": "new"})
    source.write_text(json.dumps(schema), encoding="utf-8")
    evolved = ContractRegistry(tmp_path / "schemas")

    record, _ = get_validator().from_json(
        "vn.egov.dossier.DossierReceived",
        json.loads((EXAMPLES_DIR / "vn.egov.dossier.DossierReceived.json").read_text(encoding="utf-8")),
    )
    old_bytes = REG.encode("vn.egov.dossier.DossierReceived", record)  # written with v1
    contract, decoded = evolved.decode(old_bytes)
    assert contract.name == "vn.egov.dossier.DossierReceived"
    assert decoded == {**record, "counter": None}
