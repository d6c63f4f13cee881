"""The OpenAPI documents of the HTTP APIs: valid OpenAPI 3.1 by an independent validator, complete (every
route of every service, every status the runtime adds), drawn from the models the routes validate with, and
committed exactly as generated."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from egov.contracts.topics import EventTypes
from egov.contracts.validation import RULE_SCHEMAS, get_validator
from egov.runtime.http import MAX_JSON_DEPTH
from egov.tools import openapi
from egov.tools.contracts.asyncapi import render_yaml
from egov.tools.openapi import OPENAPI_DIR, build_documents, undeclared_routes, validate
from services.portal.domain import SERVER_SET_FIELDS

Docs = dict[str, dict[str, Any]]
STATUSES = {200, 202, 400, 401, 403, 404, 409, 413, 422, 503}


@pytest.fixture(scope="module")
def docs() -> Docs:
    return build_documents()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, methods in doc["paths"].items() for m, op in methods.items()]


def test_every_document_is_valid_openapi_3_1(docs: Docs) -> None:
    assert set(docs) == {"portal", "documents", "reporting", "health"}
    for stem, doc in docs.items():
        assert doc["openapi"] == "3.1.0"
        assert validate(doc) == [], stem


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.update(info="the portal"),
        lambda d: d["paths"]["/api/v1/dossiers"]["post"]["parameters"][0].update({"in": "body"}),
        lambda d: d["components"]["securitySchemes"]["citizens"].update(type="magic"),
    ],
    ids=["info not an object", "parameter in body", "unknown security scheme type"],
)
def test_the_validator_refuses_a_broken_document(docs: Docs, breakage: Any) -> None:
    broken = copy.deepcopy(docs["portal"])
    breakage(broken)
    assert validate(broken)


def test_every_route_of_every_service_declares_what_it_answers() -> None:
    assert undeclared_routes() == []


def test_every_operation_lists_the_statuses_the_runtime_adds(docs: Docs) -> None:
    for stem, doc in docs.items():
        for method, path, op in operations(doc):
            statuses = {int(s) for s in op["responses"]}
            assert statuses <= STATUSES, (stem, method, path)
            if op["security"]:
                assert {401, 403, 503} <= statuses, (stem, method, path)
                assert all(set(r) <= {"citizens", "officials"} for r in op["security"])
            if "requestBody" in op:
                assert {400, 413} <= statuses, (stem, method, path)
                assert op["requestBody"]["content"]["application/json"]["example"]
            for status, response in op["responses"].items():
                content = response["content"]
                if int(status) >= 400 and path != "/health":
                    body = content["application/json"]
                    assert body["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
                    assert body["example"]["errors"][0]["field"], (method, path, status)
                else:
                    assert next(iter(content.values())).get("example") is not None, (method, path, status)


def test_public_routes_say_so_and_the_rest_name_their_issuers(docs: Docs) -> None:
    portal = docs["portal"]["paths"]
    assert portal["/api/v1/public/dossiers/{dossier_code}"]["get"]["security"] == []
    assert portal["/health"]["get"]["security"] == []
    assert portal["/api/v1/dossiers"]["post"]["security"] == [
        {"citizens": ["openid", "api:portal"]},
        {"officials": ["openid", "api:portal"]},
    ]
    assert docs["documents"]["paths"]["/api/v1/documents"]["post"]["security"] == [
        {"officials": ["openid", "api:documents"]}
    ]
    schemes = docs["portal"]["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"openIdConnect"}
    assert schemes["citizens"]["openIdConnectUrl"].endswith("/realms/vneid/.well-known/openid-configuration")
    assert docs["reporting"]["paths"]["/api/v1/indicators"]["get"]["security"] == []


def test_the_submission_body_is_the_model_the_portal_validates_with(docs: Docs) -> None:
    doc = docs["portal"]
    body = doc["paths"]["/api/v1/dossiers"]["post"]["requestBody"]
    assert str(MAX_JSON_DEPTH) in body["description"]
    name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = doc["components"]["schemas"][name]
    model = get_validator().models.model(EventTypes.DOSSIER_SUBMITTED, SERVER_SET_FIELDS)
    assert set(schema["properties"]) == set(model.model_fields)
    assert not set(schema["properties"]) & SERVER_SET_FIELDS
    name_schema = doc["components"]["schemas"]["CitizenRef"]["properties"]["full_name"]
    assert name_schema["x-rule"] == "person_name"
    assert name_schema["maxLength"] == RULE_SCHEMAS["person_name"]["maxLength"]
    attachments = schema["properties"]["attachments"]
    assert attachments["maxItems"] == RULE_SCHEMAS["attachments"]["maxItems"]
    component = doc["components"]["schemas"]["Attachment"]["properties"]["component"]
    assert component["x-rule"] == "component_key"
    # the example is the contract's golden example, and it is valid by the portal's own validator
    example = body["content"]["application/json"]["example"]
    record, errors = get_validator().from_json(
        EventTypes.DOSSIER_SUBMITTED, example, exclude=SERVER_SET_FIELDS
    )
    assert errors == [] and record is not None


def test_the_committed_documents_are_up_to_date(docs: Docs) -> None:
    for stem, doc in docs.items():
        path = OPENAPI_DIR / f"{stem}.yaml"
        assert path.exists(), f"{path} is missing: run `egov http openapi`"
        assert path.read_text(encoding="utf-8") == render_yaml(doc), (
            f"{path} is stale: run `egov http openapi` to regenerate it"
        )


def test_the_command_writes_the_documents_and_checks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openapi, "OPENAPI_DIR", tmp_path)
    runner = CliRunner()
    missing = runner.invoke(openapi.openapi_command, ["--check"])
    assert missing.exit_code == 1 and "missing" in missing.output
    assert runner.invoke(openapi.openapi_command, []).exit_code == 0
    assert runner.invoke(openapi.openapi_command, ["--check"]).exit_code == 0
    target = tmp_path / "portal.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace("3.1.0", "3.0.3", 1), encoding="utf-8")
    stale = runner.invoke(openapi.openapi_command, ["--check"])
    assert stale.exit_code == 1 and "stale" in stale.output and "egov http openapi" in stale.output
