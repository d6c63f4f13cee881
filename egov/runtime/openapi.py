"""The OpenAPI 3.1 document of a service's HTTP API, generated from what its wiring declares.

Each route says who may call it (`Access`) and what it takes and answers (`Operation`: the body's model, the
parameters, the statuses with their models and examples); this module turns those declarations into one
OpenAPI document, adding what the runtime does for every route: 401, 403 and 503 for a route that needs a
bearer token, 400 and 413 for a route with a JSON body, 503 and 413 for a route that records its request on a
topic. The body models are the ones the routes validate with (pydantic models derived from the Avro
contracts, or hand-declared request models whose fields use the contracts' rules), so the schemas, their
limits (`maxLength`, `pattern`, `x-rule`, …) and the checks cannot drift apart.

The bearer tokens come from two OpenID Connect issuers: VNeID for citizens and the province's single sign-on
for officials; both are security schemes, and a public route says so (`security: []`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from egov.contracts.errors import ErrorBody
from egov.runtime.auth import Access
from egov.runtime.http import MAX_JSON_DEPTH, Operation, Parameter, Reply, refusal

OPENAPI_VERSION = "3.1.0"
ERROR_SCHEMA = "ErrorBody"
_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Issuers:
    """The OpenID Connect issuers whose tokens the API takes."""

    citizens: str
    officials: str


@dataclass(frozen=True)
class Route:
    """One route of an API as its wiring declares it."""

    method: str
    path: str
    operation: Operation
    access: Access


def routes_of(service: Any) -> list[Route]:
    """The routes of a `Service` (egov.runtime.service) that declare an operation, in path order."""
    return [
        Route(method, path, service.operations[(method, path)], service.access[(method, path)])
        for method, path in sorted(service.operations)
    ]


def document(
    api: str,
    routes: Iterable[Route],
    *,
    title: str,
    description: str,
    version: str,
    servers: Iterable[tuple[str, str]],
    issuers: Issuers,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes of API `api` (its name: the tokens' audience)."""
    chosen = list(routes)
    models = _models(chosen)
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    ref_of = {model: refs[(model, "validation")]["$ref"] for model in models}
    paths: dict[str, dict[str, Any]] = {}
    for route in chosen:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(api, route, ref_of)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": url, "description": text} for url, text in servers],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(defs.get("$defs", {}).items())),
            "securitySchemes": _security_schemes(issuers),
        },
    }


def _models(routes: list[Route]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = [ErrorBody]
    for route in routes:
        candidates = [route.operation.body, *(r.model for r in route.operation.replies.values())]
        found += [m for m in candidates if m is not None and m not in found]
    return found


def _security_schemes(issuers: Issuers) -> dict[str, Any]:
    def scheme(issuer: str, who: str) -> dict[str, Any]:
        return {
            "type": "openIdConnect",
            "openIdConnectUrl": f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            "description": f"{who}: a bearer access token (`Authorization: Bearer …`) whose audience is this "
            "API (the scope `api:<API name>` asks for it). The issuer is configuration "
            "(EGOV_OIDC_CITIZEN_ISSUER, EGOV_OIDC_OFFICIAL_ISSUER); the address here is the local one.",
        }

    return {
        "citizens": scheme(issuers.citizens, "Citizens signed in through VNeID"),
        "officials": scheme(issuers.officials, "Officials signed in at the province's single sign-on"),
    }


def _security(api: str, access: Access) -> list[dict[str, list[str]]]:
    scopes = ["openid", f"api:{api}"]
    requirements = []
    if access.citizens:
        requirements.append({"citizens": scopes})
    if access.officials:
        requirements.append({"officials": scopes})
    return requirements


def operation_id(api: str, method: str, path: str) -> str:
    """`portal_post_api_v1_dossiers_dossier_code_supplements`: stable, safe in code generators."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", path) if w]
    return "_".join([api, method.lower(), *words]) if words else f"{api}_{method.lower()}_root"


def _operation(api: str, route: Route, ref_of: Mapping[type[BaseModel], str]) -> dict[str, Any]:
    op = route.operation
    access = route.access
    built: dict[str, Any] = {
        "operationId": operation_id(api, route.method, route.path),
        "summary": op.summary,
        "tags": [api],
    }
    if op.description:
        built["description"] = op.description
    built["security"] = [] if access.public else _security(api, access)
    if not access.public:
        built["x-access"] = access.describe()
    parameters = _parameters(route)
    if parameters:
        built["parameters"] = parameters
    if op.body is not None:
        content: dict[str, Any] = {"schema": {"$ref": ref_of[op.body]}}
        if op.body_example is not None:
            content["example"] = op.body_example
        built["requestBody"] = {
            "required": True,
            "description": f"JSON, at most {op.max_body_bytes} bytes, nested at most {MAX_JSON_DEPTH} "
            "levels.",
            "content": {"application/json": content},
        }
    built["responses"] = {
        str(status): _response(reply, status, ref_of) for status, reply in sorted(replies(route).items())
    }
    return built


def _parameters(route: Route) -> list[dict[str, Any]]:
    declared = {(p.where, p.name): p for p in route.operation.parameters}
    for name in _PARAM.findall(route.path):
        if ("path", name) not in declared:
            declared[("path", name)] = Parameter(
                name, "path", f"The {name.replace('_', ' ')}.", required=True
            )
    out = []
    for (where, name), parameter in declared.items():
        if where == "path" and name not in _PARAM.findall(route.path):
            raise ValueError(f"{route.method} {route.path} declares a path parameter {name} it does not have")
        entry: dict[str, Any] = {
            "name": name,
            "in": where,
            "description": parameter.description,
            "required": True if where == "path" else parameter.required,
            "schema": dict(parameter.schema),
        }
        if parameter.example is not None:
            entry["example"] = parameter.example
        out.append(entry)
    return out


def replies(route: Route) -> dict[int, Reply]:
    """Every status the route answers: what it declares and what the runtime adds for it."""
    op, access = route.operation, route.access
    added: list[tuple[int, Reply]] = []
    if op.body is not None:
        added.append(
            (
                400,
                refusal(
                    f"The body is not JSON, nests deeper than {MAX_JSON_DEPTH} levels, or holds a string "
                    "that is not text (an unpaired surrogate).",
                    "(body)",
                    "json",
                    "is not valid JSON: Expecting value: line 1 column 1 (char 0)",
                ),
            )
        )
        added.append(
            (
                413,
                refusal(
                    f"The body is larger than the {op.max_body_bytes} bytes this API takes.",
                    "(body)",
                    "size",
                    f"is {op.max_body_bytes + 1} bytes; this API takes at most {op.max_body_bytes}",
                ),
            )
        )
    if not access.public:
        added.append(
            (
                401,
                refusal(
                    "No bearer token, or one that does not hold: expired, forged, of an issuer or audience "
                    "this API does not trust.",
                    "Authorization",
                    "authentication",
                    "is missing: sign in and send `Authorization: Bearer <access token>`",
                ),
            )
        )
        added.append(
            (
                403,
                refusal(
                    f"The person may not call it: it is for {access.describe()}.",
                    "Authorization",
                    "access",
                    f"may not do this: it is for {access.describe()}",
                ),
            )
        )
        added.append(
            (
                503,
                refusal(
                    "The identity provider cannot be reached to check the token; try again.",
                    "Authorization",
                    "unavailable",
                    "the identity provider cannot be reached to check the token; try again",
                ),
            )
        )
    if op.publishes:
        added.append(
            (
                503,
                refusal(
                    "The broker is away: the request may not have been recorded; send it again (with the "
                    "same Idempotency-Key, where the route takes one).",
                    "(service)",
                    "unavailable",
                    "the request may not have been recorded; send it again with the same Idempotency-Key",
                ),
            )
        )
        added.append(
            (
                413,
                refusal(
                    "The broker refuses the record as too large.",
                    "(body)",
                    "size",
                    "is refused by the broker: the record is larger than the broker takes",
                ),
            )
        )
    merged = dict(op.replies)
    for status, reply in added:
        if status not in merged:
            merged[status] = reply
        elif reply.description not in merged[status].description:
            kept = merged[status]
            merged[status] = Reply(f"{kept.description} Or: {reply.description}", kept.model, kept.example)
    return merged


def _response(reply: Reply, status: int, ref_of: Mapping[type[BaseModel], str]) -> dict[str, Any]:
    if reply.model is not None:
        content: dict[str, Any] = {"schema": {"$ref": ref_of[reply.model]}}
        media = "application/json"
    elif status >= 400:
        content = {"schema": {"$ref": _REF.format(model=ERROR_SCHEMA)}}
        media = "application/json"
    else:
        content = {"schema": {"type": "string"}}
        media = reply.media_type
    if reply.example is not None:
        content["example"] = reply.example
    return {"description": reply.description, "content": {media: content}}
