"""Signing fictional people in, as a client of the APIs would: the demo, the tests and `egov idp token`.

Tokens come from the identity provider's token endpoint (discovered from the issuer) with the password grant
of the public client `egov-cli`, for the fictional users of infra/keycloak/users.yaml. `httpx` clients get an
`Auth` that picks who makes each request the way the people of the scenario would:

- the portal: a citizen submits an online dossier in their own name; a one-stop counter officer of the
  province's service centre receives the others, and follows every dossier;
- the document system: the issuing agency's clerk submits a document and follows it; its leader, the signer,
  approves it (signed in again for that) and recalls it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

from egov.platform.people import FictionalUsers, official_username
from egov.platform.province import get_province
from egov.runtime.auth import AuthError, password_grant
from egov.runtime.settings import Settings
from egov.tools.identity.realms import CLI_CLIENT

#: Seconds a token is reused (the realms' tokens live 300 s; an approval always signs in anew).
REUSE_SECONDS = 120.0


@dataclass
class SignIn:
    """Signs the fictional people in at the configured issuers, reusing a token for a while."""

    citizen_issuer: str
    official_issuer: str
    users: FictionalUsers = field(default_factory=FictionalUsers.load)
    client_id: str = CLI_CLIENT
    _tokens: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> SignIn:
        if not settings.oidc_citizen_issuer or not settings.oidc_official_issuer:
            raise RuntimeError("no identity provider: EGOV_OIDC_CITIZEN_ISSUER and EGOV_OIDC_OFFICIAL_ISSUER")
        return cls(
            settings.oidc_citizen_issuer, settings.oidc_official_issuer, client_id=settings.oidc_client_id
        )

    def _token(self, issuer: str, username: str, password: str, *, fresh: bool = False) -> str:
        cached = self._tokens.get((issuer, username))
        if cached and not fresh and time.monotonic() - cached[0] < REUSE_SECONDS:
            return cached[1]
        token = asyncio.run(
            password_grant(
                issuer,
                client_id=self.client_id,
                username=username,
                password=password,
                audiences=("portal", "documents"),
            )
        )
        self._tokens[(issuer, username)] = (time.monotonic(), token)
        return token

    def citizen(self, id_number: str) -> str:
        """A citizen's token (VNeID: the ID number is the user name)."""
        return self._token(self.citizen_issuer, id_number, self.users.citizen_password)

    def official(self, official_id: str, *, fresh: bool = False) -> str:
        """An official's token; `fresh` signs in anew (what a signature's approval needs)."""
        username = official_username(official_id)
        return self._token(self.official_issuer, username, self.users.official_password, fresh=fresh)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class PortalAuth(httpx.Auth):
    """Who makes a request to the portal: the applicant online, else the service centre's counter officer."""

    def __init__(self, sign_in: SignIn, province: str, *, as_citizen: str | None = None) -> None:
        self.sign_in = sign_in
        centre = next((a for a in get_province(province).agencies if a.kind == "centre"), None)
        if centre is None:
            raise ValueError(f"{province} has no public administration service centre")
        self.province = province
        self.counter_officer = f"{centre.code}/mot-cua-01"
        self.as_citizen = as_citizen

    def of_applicant(self, body: dict[str, Any]) -> PortalAuth:
        """Who follows up a dossier submitted with `body`: its applicant when they submitted it online, else
        the counter officer who received it."""
        applicant = body.get("applicant") or {}
        if body.get("channel") != "ONLINE" or not applicant.get("id_number"):
            return self
        return PortalAuth(self.sign_in, self.province, as_citizen=str(applicant["id_number"]))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        import json

        token = None
        if self.as_citizen is not None:
            token = self.sign_in.citizen(self.as_citizen)
        elif request.method == "POST" and request.url.path == "/api/v1/dossiers":
            try:
                body = json.loads(request.content or b"{}")
            except ValueError:
                body = {}  # not JSON: the portal answers 400 to whoever sends it
            if (
                isinstance(body, dict)
                and body.get("channel") == "ONLINE"
                and isinstance(body.get("applicant"), dict)
            ):
                try:
                    token = self.sign_in.citizen(str(body["applicant"].get("id_number")))
                except (
                    AuthError
                ):  # nobody has that account: the counter officer sends it, and is told why not
                    token = None
        if token is None:
            token = self.sign_in.official(self.counter_officer)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


class DocumentsAuth(httpx.Auth):
    """Who makes a request to the document system for an agency: its clerk, or its leader (the signer) to
    approve (signed in anew) and to recall."""

    def __init__(self, sign_in: SignIn, agency_code: str) -> None:
        self.sign_in = sign_in
        self.clerk = f"{agency_code}/van-thu-01"
        self.leader = f"{agency_code}/lanh-dao-01"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        path = request.url.path
        if path.endswith("/approve"):
            token = self.sign_in.official(self.leader, fresh=True)
        elif path.endswith("/recall"):
            token = self.sign_in.official(self.leader)
        else:
            token = self.sign_in.official(self.clerk)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request
