"""Who makes an HTTP request: the access rules of the routes and the token checks that need no provider."""

from __future__ import annotations

import asyncio
import datetime as dt

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from egov.runtime.auth import (
    CITIZENS,
    PUBLIC,
    AuthError,
    Person,
    TokenVerifier,
    _person,
    citizens_or_officials,
    officials,
)

CITIZEN = Person(kind="citizen", subject="c-1", issuer="i", id_number="060171358490")
CLERK = Person(kind="official", subject="o-1", issuer="i", agency_code="000.00.04.H11", position="clerk")
LEADER = Person(kind="official", subject="o-2", issuer="i", agency_code="000.00.04.H11", position="leader")


def test_routes_say_who_may_call_them() -> None:
    assert PUBLIC.public
    assert CITIZENS.allows(CITIZEN) and not CITIZENS.allows(CLERK)
    assert officials("leader").allows(LEADER) and not officials("leader").allows(CLERK)
    assert officials().allows(CLERK) and not officials().allows(CITIZEN)
    both = citizens_or_officials("counter_officer")
    assert both.allows(CITIZEN) and not both.allows(CLERK)
    assert "leader" in officials("leader").describe()
    with pytest.raises(ValueError, match="unknown positions"):
        officials("mayor")


def test_the_actor_of_an_event_is_pseudonymous() -> None:
    assert CITIZEN.actor() == {"kind": "CITIZEN", "id": "c-1", "agency_code": None, "position": None}
    assert "060171358490" not in repr(CITIZEN)  # the ID number is not even in a repr


def test_claims_become_a_person_and_the_authentication_time_is_when_they_signed_in() -> None:
    person = _person(
        "official",
        "https://sso/realms/officials",
        {
            "sub": "s",
            "iat": 1_800_000_000,
            "agency_code": "000.00.04.H11",
            "position": "leader",
            "official_id": "x",
        },
    )
    assert person.authenticated_at == dt.datetime.fromtimestamp(1_800_000_000, dt.UTC)
    assert person.authenticated_within(300, now=1_800_000_100)
    assert not person.authenticated_within(300, now=1_800_000_400)
    assert _person("citizen", "i", {"sub": "s", "iat": 1, "auth_time": 5}).authenticated_at.timestamp() == 5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "is missing"),
        ("Basic dXNlcjpwdw==", "must be `Bearer"),
        ("Bearer not-a-jwt", "is not a JSON Web Token"),
    ],
)
def test_a_request_without_a_usable_token_is_a_401(header: str | None, message: str) -> None:
    verifier = TokenVerifier({"citizen": "https://vneid.example/realms/vneid"}, "portal")
    with pytest.raises(AuthError, match=message) as refused:
        asyncio.run(verifier.person(header))
    assert refused.value.status == 401


def test_a_token_of_an_issuer_the_api_does_not_trust_is_a_401_without_asking_anyone() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"iss": "https://evil.example", "sub": "x", "aud": "portal"}, key, algorithm="RS256")
    verifier = TokenVerifier({"citizen": "https://vneid.example/realms/vneid"}, "portal")
    with pytest.raises(AuthError, match="does not trust"):
        asyncio.run(verifier.person(f"Bearer {token}"))
