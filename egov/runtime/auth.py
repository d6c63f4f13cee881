"""Who makes an HTTP request: OpenID Connect bearer tokens checked once, in the runtime, for every API.

A route says who may call it (`Access`: the public, signed-in citizens, officials of some positions); the
runtime checks the `Authorization: Bearer …` token before the route runs: its signature against the issuer's
keys (found through OpenID Connect discovery and the JWKS), its issuer, its audience (the API's own client
id, the service's name by default), its expiry. A request without a valid token is a 401; a valid token that
may not call the route is a 403; both with the error body of every API. The route then sees the `Person`.

Two issuers, both configuration (`EGOV_OIDC_CITIZEN_ISSUER`, `EGOV_OIDC_OFFICIAL_ISSUER`), so VNeID (citizens,
Nghị định 59/2022/NĐ-CP) and the province's single sign-on (officials) replace the local Keycloak realms
without a code change. `EGOV_AUTH=off` opens every route, for debugging only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
import jwt

#: The claims the identity providers put in their access tokens (infra/keycloak/realms/*.json map them).
ID_NUMBER, FULL_NAME, BIRTHDATE, SEX = "id_number", "full_name", "birthdate", "sex"
AGENCY_CODE, POSITION, OFFICIAL_ID, TITLE = "agency_code", "position", "official_id", "title"
#: When the person authenticated (OIDC Core), which a signature's approval requires to be recent.
AUTH_TIME = "auth_time"

#: Positions of the province's officials (the officials' realm gives each one).
CLERK, COUNTER_OFFICER, LEADER = "clerk", "counter_officer", "leader"
POSITIONS = (CLERK, COUNTER_OFFICER, LEADER)

Kind = Literal["citizen", "official"]
#: Seconds of clock difference tolerated between the identity provider and the API.
LEEWAY = 5
#: Seconds the discovered keys of an issuer are kept before they are fetched again (a key the cache does not
#: know is fetched at once: keys roll over without a restart).
KEYS_LIFESPAN = 300


class AuthError(Exception):
    """A request refused for who makes it: 401 (no valid token) or 403 (a valid one that may not)."""

    def __init__(self, status: int, message: str, *, field: str = "Authorization") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Person:
    """Who made a request, as the token says."""

    kind: Kind
    #: The token's subject: a pseudonymous id, the one that travels with the events (never the ID number).
    subject: str
    issuer: str
    name: str | None = None
    #: A citizen's personal identification number (personal data: never logged, never on an event's actor).
    id_number: str | None = field(default=None, repr=False)
    date_of_birth: str | None = field(default=None, repr=False)
    sex: str | None = None
    agency_code: str | None = None
    position: str | None = None
    #: An official's id in the agency's directory, and the title they sign with (chức vụ).
    official_id: str | None = None
    title: str | None = None
    #: When the person last authenticated (`auth_time`, else when the token was issued).
    authenticated_at: dt.datetime | None = None

    def actor(self) -> dict[str, Any]:
        """The person as an event records who acted (the `vn.egov.common.Actor` contract)."""
        return {
            "kind": self.kind.upper(),
            "id": self.subject,
            "agency_code": self.agency_code,
            "position": self.position,
        }

    def authenticated_within(self, seconds: float, now: float | None = None) -> bool:
        if self.authenticated_at is None:
            return False
        age = (now if now is not None else time.time()) - self.authenticated_at.timestamp()
        return -LEEWAY <= age <= seconds


@dataclass(frozen=True)
class Access:
    """Who may call a route: anyone, signed-in citizens, officials (of these positions; any when empty)."""

    public: bool = False
    citizens: bool = False
    officials: bool = False
    positions: frozenset[str] = frozenset()

    def allows(self, person: Person) -> bool:
        if person.kind == "citizen":
            return self.citizens
        return self.officials and (not self.positions or person.position in self.positions)

    def describe(self) -> str:
        who = []
        if self.citizens:
            who.append("a signed-in citizen")
        if self.officials:
            roles = " or ".join(sorted(self.positions)) if self.positions else "any position"
            who.append(f"an official ({roles})")
        return " or ".join(who) or "nobody"


PUBLIC = Access(public=True)
CITIZENS = Access(citizens=True)


def officials(*positions: str) -> Access:
    unknown = set(positions) - set(POSITIONS)
    if unknown:
        raise ValueError(f"unknown positions {sorted(unknown)}; known: {', '.join(POSITIONS)}")
    return Access(officials=True, positions=frozenset(positions))


def citizens_or_officials(*positions: str) -> Access:
    return Access(citizens=True, officials=True, positions=officials(*positions).positions)


class _Issuer:
    """One identity provider: its metadata and keys, found through discovery and cached."""

    def __init__(self, kind: Kind, url: str, timeout: float) -> None:
        self.kind: Kind = kind
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._keys: jwt.PyJWKClient | None = None

    async def keys(self) -> jwt.PyJWKClient:
        if self._keys is None:
            discovery = f"{self.url}/.well-known/openid-configuration"
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                answer = await client.get(discovery)
            answer.raise_for_status()
            metadata = answer.json()
            if metadata.get("issuer", "").rstrip("/") != self.url:
                raise ConnectionError(
                    f"{discovery} names issuer {metadata.get('issuer')!r}, not {self.url!r}"
                )
            self._keys = jwt.PyJWKClient(
                metadata["jwks_uri"], cache_keys=True, lifespan=KEYS_LIFESPAN, timeout=int(self.timeout)
            )
        return self._keys


class Verifier(Protocol):
    """What the runtime asks of a token check (TokenVerifier; the fake runtime's stands in for it)."""

    @property
    def trusts_anyone(self) -> bool: ...

    async def person(self, authorization: str | None) -> Person: ...


class TokenVerifier:
    """Checks bearer tokens of the configured issuers for one audience."""

    def __init__(self, issuers: Mapping[Kind, str], audience: str, *, timeout: float = 10.0) -> None:
        self.audience = audience
        self._issuers = {url.rstrip("/"): _Issuer(kind, url, timeout) for kind, url in issuers.items() if url}

    @property
    def trusts_anyone(self) -> bool:
        return bool(self._issuers)

    async def person(self, authorization: str | None) -> Person:
        """The person of an `Authorization` header's bearer token; AuthError(401) when there is none or it
        does not hold; ConnectionError when an identity provider cannot be reached."""
        if not authorization:
            raise AuthError(401, "is missing: sign in and send `Authorization: Bearer <access token>`")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "must be `Bearer <access token>`")
        token = token.strip()
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(401, f"is not a JSON Web Token: {exc}") from None
        issuer = self._issuers.get(str(unverified.get("iss", "")).rstrip("/"))
        if issuer is None:
            raise AuthError(
                401, f"comes from issuer {unverified.get('iss')!r}, which this API does not trust"
            )
        keys = await issuer.keys()
        try:
            key = await asyncio.to_thread(keys.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=self.audience,
                issuer=issuer.url,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise ConnectionError(f"cannot fetch the keys of {issuer.url}: {exc}") from exc
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "has expired: sign in again") from None
        except jwt.InvalidAudienceError:
            raise AuthError(401, f"is not meant for this API (audience {self.audience!r})") from None
        except jwt.PyJWTError as exc:
            raise AuthError(401, f"does not hold: {exc}") from None
        return _person(issuer.kind, issuer.url, claims)


def _person(kind: Kind, issuer: str, claims: Mapping[str, Any]) -> Person:
    when = claims.get(AUTH_TIME) or claims.get("iat")
    return Person(
        kind=kind,
        subject=str(claims["sub"]),
        issuer=issuer,
        name=claims.get(FULL_NAME) or claims.get("name"),
        id_number=claims.get(ID_NUMBER),
        date_of_birth=claims.get(BIRTHDATE),
        sex=claims.get(SEX),
        agency_code=claims.get(AGENCY_CODE),
        position=claims.get(POSITION),
        official_id=claims.get(OFFICIAL_ID),
        title=claims.get(TITLE),
        authenticated_at=dt.datetime.fromtimestamp(int(when), dt.UTC) if when else None,
    )


async def password_grant(
    issuer: str,
    *,
    client_id: str,
    username: str,
    password: str,
    audiences: tuple[str, ...] = (),
    timeout: float = 10.0,
) -> str:
    """An access token for a person, from the issuer's token endpoint (found through discovery) with the
    OAuth password grant: how the demo, the tests and the stand-ins sign their fictional people in. Each
    audience is asked for as the scope `api:<audience>` (infra/keycloak/realms)."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        metadata = (await client.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")).json()
        scope = " ".join(["openid", *(f"api:{audience}" for audience in audiences)])
        answer = await client.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "password",
                "client_id": client_id,
                "username": username,
                "password": password,
                "scope": scope,
            },
        )
    if answer.status_code != 200:
        raise AuthError(401, f"the identity provider refused the sign-in: {answer.text[:300]}")
    return str(answer.json()["access_token"])
