"""The OpenAPI 3.1 documents of the HTTP APIs, generated from the services' wiring and committed.

`egov http openapi` builds every service (building connects to nothing), reads the routes its wiring
declares (egov.runtime.openapi) and writes one document per API under `contracts/openapi/`: the portal, the
document system and the indicators, and `health.yaml` for the `/health` and `/metrics` routes every service
has. Each document is checked with an independent validator (openapi-spec-validator, OpenAPI 3.1);
`--check` (and a unit test) fails when a committed one is stale, as for the AsyncAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from openapi_spec_validator import OpenAPIV31SpecValidator

from egov import __version__
from egov.paths import CONTRACTS_DIR
from egov.runtime.openapi import Issuers, document, routes_of
from egov.runtime.settings import Settings
from egov.tools.contracts.asyncapi import render_yaml
from egov.tools.generated import shown, write_or_check
from egov.tools.identity.keycloak import LocalIdentityProvider
from services import SERVICES, load_services

OPENAPI_DIR = CONTRACTS_DIR / "openapi"
#: The APIs with routes of their own beyond /health, and what each is.
APIS: dict[str, tuple[str, str]] = {
    "portal": (
        "Public-service portal",
        "The access channel of the citizen journey: dossiers submitted online (by the citizen, signed in "
        "through VNeID) or received at the counter or by post (by a one-stop counter officer), followed by "
        "submission id and dossier code, supplemented when asked; a public look-up by dossier code.",
    ),
    "documents": (
        "Document management and executive system (QLVB&ĐH)",
        "Outgoing official documents of every agency: registered under the official's agency, approved by "
        "their signer (signed in anew), signed by the signing platform and issued through the LGSP; the "
        "statuses each recipient reports; recalls.",
    ),
    "reporting": (
        "Indicators",
        "QĐ 766's and the provincial DTI's indicators computed from the events, per procedure, agency and "
        "month, and the dashboard that draws them.",
    ),
}
HEALTH = "health"
COMMON = """

Generated from the services' wiring (the routes' declared models, parameters and statuses; the bodies'
models are the ones the routes validate with, derived from the Avro contracts and their rules) by `egov http
openapi`: do not edit by hand. A refused request is answered with one body everywhere:
`{"errors": [{"field": …, "rule": …, "message": …}]}`, one entry per wrong field."""


def _local_issuers() -> Issuers:
    """The local identity provider's issuers on its default port (a deployment's are configuration)."""
    local = LocalIdentityProvider(home=CONTRACTS_DIR)  # only its addresses are read
    return Issuers(local.citizen_issuer, local.official_issuer)


def _local_server(name: str) -> tuple[str, str]:
    return f"http://127.0.0.1:{SERVICES[name].port}", f"{name} in the local stack (`egov up`)"


def build_documents(
    issuers: Issuers | None = None, servers: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every document by file stem: one per API, and the health route of every service. `servers` (API →
    base URL) replaces the local stack's addresses, e.g. for a test's own processes."""
    chosen = issuers or _local_issuers()
    services = load_services(Settings())
    docs: dict[str, dict[str, Any]] = {}
    for name, (title, description) in APIS.items():
        url = servers.get(name) if servers else None
        docs[name] = document(
            name,
            routes_of(services[name]),
            title=title,
            description=description + COMMON,
            version=__version__,
            servers=[(url, f"{name} under test")] if url else [_local_server(name)],
            issuers=chosen,
        )
    health_routes = [r for r in routes_of(services["onestop"]) if r.path in ("/health", "/metrics")]
    docs[HEALTH] = document(
        HEALTH,
        health_routes,
        title="Health and metrics of every service",
        description="The routes every service of the architecture serves, on its own port: whether it is "
        "ready, and its Prometheus metrics." + COMMON,
        version=__version__,
        servers=[_local_server(name) for name in SERVICES],
        issuers=chosen,
    )
    return docs


def undeclared_routes() -> list[str]:
    """Routes that declare no operation, hence are missing from the documents: `METHOD path (service)`."""
    missing = []
    for name, service in load_services(Settings()).items():
        for path, methods in service.routes.items():
            missing += [f"{m} {path} ({name})" for m in methods if (m, path) not in service.operations]
    return missing


def validate(doc: Mapping[str, Any]) -> list[str]:
    """What makes `doc` invalid OpenAPI 3.1, one line each (openapi-spec-validator); empty when valid."""
    return [
        f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message[:300]}"
        for error in OpenAPIV31SpecValidator(dict(doc)).iter_errors()
    ]


@click.group("http")
def http() -> None:
    """The HTTP APIs: their OpenAPI documents."""


@http.command("openapi")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; fail when a committed document is stale or a fresh one is invalid.",
)
def openapi_command(check: bool) -> None:
    """Generate contracts/openapi/*.yaml (OpenAPI 3.1) from the services' routes."""
    if missing := undeclared_routes():
        raise click.ClickException("routes without a declared operation: " + ", ".join(missing))
    docs = build_documents()
    for stem, doc in docs.items():
        if errors := validate(doc):
            raise click.ClickException(f"{stem}: not valid OpenAPI 3.1:\n  " + "\n  ".join(errors))
    OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    for stem, doc in docs.items():
        target = OPENAPI_DIR / f"{stem}.yaml"
        write_or_check(target, render_yaml(doc), check=check, command="egov http openapi")
    if check:
        click.echo(f"{shown(OPENAPI_DIR)}: {len(docs)} documents up to date and valid OpenAPI 3.1")
        return
    for stem, doc in docs.items():
        operations = sum(len(methods) for methods in doc["paths"].values())
        click.echo(f"wrote {shown(OPENAPI_DIR / f'{stem}.yaml')}: {operations} operations")
