"""Hostile input at the portal, on the fake runtime: what a person trying to break the API sends is refused
with a 4xx that names the field, and nothing reaches a topic (the probes of a hostile user's session: deep
nesting, huge and control-character names, dossiers without their documents, too many or too large files)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import get_province
from egov.regulations import text
from egov.runtime.http import MAX_JSON_DEPTH
from egov.runtime.testing import FakeRuntime
from egov.tools.samples import submission
from services.portal.app import build
from tests.handlers.conftest import citizen, example, official

COUNTER = official("000.00.01.H11", "counter_officer")
PROCEDURE = "1.001612.000.00.00.H11"  # a private enterprise: two required components


def a_dossier(seed: int = 7) -> dict[str, Any]:
    return {**submission(random.Random(seed), [PROCEDURE]), "channel": "ONLINE"}


def post(portal: FakeRuntime, body: Any = None, *, raw: bytes | None = None, person: Any = None) -> Any:
    signed = portal.bearer(person or COUNTER)
    return portal.request("POST", "/api/v1/dossiers", json=body, body=raw, headers=signed)


def refused(answer: Any, status: int) -> set[str]:
    """The fields a refusal names (every entry names one)."""
    assert answer.status == status, answer.body
    assert all(e["field"] and e["rule"] and e["message"] for e in answer.body["errors"]), answer.body
    return {e["field"] for e in answer.body["errors"]}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_a_body_nested_deeper_than_any_contract_is_a_400_not_a_failure(start, depth: int) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    answer = post(portal, raw=b"[" * depth + b"]" * depth)
    assert refused(answer, 400) == {"(body)"}
    assert answer.body["errors"][0]["rule"] == "depth"
    # a deep value inside an object is refused alike (within the body size the API takes)
    inner = min(depth, 5000)
    nested = b'{"form_fields": ' + b'{"a": ' * inner + b"1" + b"}" * inner + b"}"
    assert refused(post(portal, raw=nested), 400) == {"(body)"}
    assert portal.published == []


def test_a_string_with_an_unpaired_surrogate_is_a_400(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    body = a_dossier()
    raw = post_body(body).replace(b'"ly_do": "', b'"ly_do": "\\ud800', 1)
    answer = post(portal, raw=raw)
    assert refused(answer, 400) == {"(body)"} and answer.body["errors"][0]["rule"] == "unicode"


def post_body(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("N" * 100_000, "characters long"),
        ("Nguyễn\x00Lan", "U+0000"),
        ("Nguyễn\u0085Lan", "U+0085"),
        ("Lan\n", "control character"),
        ("Robert'); DROP TABLE--", "a name has letters"),
        ("   ", "must not be empty"),
        ("12345", "a name has letters"),
    ],
    ids=["100000 characters", "NUL", "C1 control", "line break", "punctuation", "blank", "digits"],
)
def test_a_name_out_of_bounds_is_a_422_naming_it(start, name: str, why: str) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    body = a_dossier()
    person = citizen(body["applicant"])
    body["applicant"]["full_name"] = name
    answer = post(portal, body, person=person)
    assert "applicant.full_name" in refused(answer, 422)
    [entry] = [e for e in answer.body["errors"] if e["field"] == "applicant.full_name"]
    assert entry["rule"] == "person_name" and why in entry["message"]
    assert len(str(answer.body)) < 2000, "the refusal does not echo a huge value back"
    assert portal.published == []


def test_names_of_real_people_pass(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    for index, name in enumerate(["Nguyễn Thị Minh Khai", "H'Hen Niê", "Lê Văn A", "Nông Quốc Tuấn-Anh"]):
        body = a_dossier(seed=10 + index)
        person = citizen(body["applicant"], subject=f"c-{index}")
        body["applicant"]["full_name"] = name
        assert post(portal, body, person=person).status == 202, name
    assert len(portal.on(Topics.DOSSIER_SUBMISSIONS)) == 4


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        (
            ("contact", "address"),
            {"street": "x" * 201, "ward": "P", "province": "Bình Thuận"},
            "contact.address.street",
        ),
        (
            ("contact", "address"),
            {"street": "1 Trần Phú", "ward": "P\x00", "province": "Bình Thuận"},
            "contact.address.ward",
        ),
        (("contact", "email"), "a\x00@example.vn", "contact.email"),
        (("contact", "phone"), "0912345678\n", "contact.phone"),
        (("contact", "phone"), "09١٢٣٤٥٦٧٨", "contact.phone"),
        (("form_fields",), {"ly_do": "x" * 2001}, "form_fields.ly_do"),
        (("form_fields",), {"Lý do": "Cấp mới"}, "form_fields"),
        (("form_fields",), {f"f{i}": "v" for i in range(text.MAX_FORM_FIELDS + 1)}, "form_fields"),
    ],
    ids=[
        "long street",
        "NUL in ward",
        "NUL in email",
        "line break in phone",
        "Arabic-Indic digits",
        "long form value",
        "form field name",
        "too many form fields",
    ],
)
def test_addresses_contacts_and_forms_obey_their_limits(
    start, where: tuple[str, ...], value: Any, field: str
) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    body = a_dossier()
    person = citizen(body["applicant"])
    node = body
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    assert field in refused(post(portal, body, person=person), 422)
    assert portal.published == []


def test_a_dossier_without_its_required_documents_is_a_422_naming_what_is_missing(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    body = a_dossier()
    person = citizen(body["applicant"])
    procedure = get_province("binh-thuan").procedure(PROCEDURE)
    assert procedure is not None
    required = [d for d in procedure.documents if d.attached]
    # no attachments at all: every required component is named
    answer = post(portal, {**body, "attachments": []}, person=person)
    assert refused(answer, 422) == {"attachments"}
    messages = [e["message"] for e in answer.body["errors"]]
    assert len(messages) == len(required)
    for document, message in zip(required, messages, strict=True):
        assert document.key in message and document.name in message
    assert {e["rule"] for e in answer.body["errors"]} == {"required_documents"}
    # one missing
    partial = [a for a in body["attachments"] if a["component"] != required[-1].key]
    answer = post(portal, {**body, "attachments": partial}, person=person)
    assert refused(answer, 422) == {"attachments"} and required[-1].key in answer.body["errors"][0]["message"]
    # a file naming a component the procedure does not have
    stray = [*body["attachments"], {**body["attachments"][0], "component": "giay-khai-sinh"}]
    answer = post(portal, {**body, "attachments": stray}, person=person)
    assert refused(answer, 422) == {f"attachments.{len(stray) - 1}.component"}
    assert portal.published == []
    # and all of them: accepted, each file with its component on the event
    assert post(portal, body, person=person).status == 202
    [event] = portal.on(Topics.DOSSIER_SUBMISSIONS)
    assert {a["component"] for a in event.record["attachments"]} == {d.key for d in required}


def test_too_many_or_too_large_files_are_refused(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    body = a_dossier()
    person = citizen(body["applicant"])
    one = body["attachments"][0]
    many = body["attachments"] + [dict(one) for _ in range(text.MAX_ATTACHMENTS)]
    assert refused(post(portal, {**body, "attachments": many}, person=person), 422) == {"attachments"}
    huge = [{**one, "size_bytes": text.MAX_ATTACHMENT_BYTES + 1}, *body["attachments"][1:]]
    assert "attachments.0.size_bytes" in refused(
        post(portal, {**body, "attachments": huge}, person=person), 422
    )
    empty = [{**one, "size_bytes": 0}, *body["attachments"][1:]]
    assert "attachments.0.size_bytes" in refused(
        post(portal, {**body, "attachments": empty}, person=person), 422
    )
    bad = [{**one, "file_name": "../../etc/passwd", "media_type": "pdf"}, *body["attachments"][1:]]
    fields = refused(post(portal, {**body, "attachments": bad}, person=person), 422)
    assert {"attachments.0.file_name", "attachments.0.media_type"} <= fields
    assert portal.published == []


def test_a_body_larger_than_the_api_takes_is_a_413_before_anything_reads_it(start) -> None:  # type: ignore[no-untyped-def]
    portal = start(build)
    operation = portal.service.operations[("POST", "/api/v1/dossiers")]
    too_large = b" " * (operation.max_body_bytes + 1)
    assert refused(post(portal, raw=too_large), 413) == {"(body)"}
    # refused before the token is checked: nothing of a body that size is read
    assert refused(portal.request("POST", "/api/v1/dossiers", body=too_large), 413) == {"(body)"}
    assert portal.published == []


def test_a_supplement_obeys_the_same_limits(start) -> None:  # type: ignore[no-untyped-def]
    # Given a dossier waiting for a supplement
    portal = start(build)
    code = "000.00.04.H11-261125-0001"
    received = example(EventTypes.DOSSIER_RECEIVED, applicant=None)
    portal.deliver(Topics.DOSSIERS, received, key=code, event_type=EventTypes.DOSSIER_RECEIVED)
    waiting = example(
        EventTypes.DOSSIER_STATUS_CHANGED,
        from_status="ACCEPTED",
        to_status="SUPPLEMENT_REQUESTED",
        reason=None,
    )
    portal.deliver(Topics.DOSSIERS, waiting, key=code, event_type=EventTypes.DOSSIER_STATUS_CHANGED)
    files = a_dossier()["attachments"]

    def supply(body: dict[str, Any]) -> Any:
        path = f"/api/v1/dossiers/{code}/supplements"
        return portal.request("POST", path, json=body, headers=portal.bearer(COUNTER))

    # When the note holds a NUL, or is too long, or the files are too many
    assert refused(supply({"attachments": files, "note": "Đã bổ sung\x00"}), 422) == {"note"}
    assert refused(supply({"attachments": files, "note": "x" * 2001}), 422) == {"note"}
    many = files * (text.MAX_ATTACHMENTS // len(files) + 1)
    assert refused(supply({"attachments": many}), 422) == {"attachments"}
    # Then nothing is published; a note with line breaks is fine
    assert portal.on(Topics.SUPPLEMENTS) == []
    assert supply({"attachments": files, "note": "Đã bổ sung.\nXin cảm ơn."}).status == 202
