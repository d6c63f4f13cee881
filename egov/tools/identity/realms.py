"""The local identity provider's configuration as code: the two Keycloak realms, generated.

- `vneid`, standing in for VNeID (Nghị định 59/2022/NĐ-CP): the fictional people of the population register
  stand-in (the register's first people and every one it never answers for), each signing in with the
  personal identification number as user name, with their ID number, name, date of birth and sex as claims.
- `officials`, the province's single sign-on for its staff: per agency of every province file a clerk and a
  leader who may sign, per public administration service centre two one-stop counter officers; claims: the
  official's id in the agency's directory, name, title, agency code and position (clerk, counter_officer,
  leader).

Both realms have one client per API (`portal`, `documents`) that tokens name as their audience when asked
for it (`scope=openid api:portal`); a public client for the password grant without refresh tokens
(`egov-cli`: each of its tokens comes from an authentication, so its `iat` is when the person signed in,
which a signature's approval checks), the same with two-second tokens (`egov-cli-short`, for expiry tests),
and a browser client (`egov-web`, authorisation code with PKCE, which gives `auth_time` and honours
`max_age`).

Passwords are hashed here (PBKDF2-SHA256, few iterations: fictional users, fast sign-ins and imports) with a
salt derived from the user name, so the files are the same at every generation and a test finds them stale
when the register, the provinces or infra/keycloak/users.yaml change (`egov idp realms --check`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egov.paths import KEYCLOAK_INFRA_DIR, PROVINCES_DIR
from egov.platform.people import FictionalUsers, official_username
from egov.platform.province import Agency, load_province
from services.population.domain import Person, get_register

KEYCLOAK_DIR = KEYCLOAK_INFRA_DIR
REALMS_DIR = KEYCLOAK_DIR / "realms"
CITIZENS, OFFICIALS = "vneid", "officials"
#: The APIs that check tokens: each is a client of both realms, named as the tokens' audience.
APIS = ("portal", "documents")
#: The public client of the demo, the tests and the stand-ins (password grant, no refresh tokens).
CLI_CLIENT = "egov-cli"
HASH_ITERATIONS = 1000
ACCESS_TOKEN_SECONDS = 300

#: Roles of the officials' realm, with the title each signs with and the user-name suffix.
CLERK = ("clerk", "Chuyên viên văn thư", "van-thu")
LEADER = ("leader", "Phó Giám đốc", "lanh-dao")
COUNTER_OFFICER = ("counter_officer", "Công chức một cửa", "mot-cua")
_TITLES = {"committee": "Phó Chủ tịch", "centre": "Phó Giám đốc"}


def citizens_with_accounts(users: FictionalUsers | None = None) -> list[Person]:
    """The register's people who have an account in the VNeID stand-in: its first ones, and every one it
    never answers for (so the time-out path can be played by a signed-in citizen)."""
    chosen = users or FictionalUsers.load()
    register = get_register()
    first = list(register.people[: chosen.citizens])
    return first + [p for p in register.silent() if p not in first]


@dataclass(frozen=True)
class StaffMember:
    """A fictional official of the officials' realm (`role` is the `position` claim: clerk, counter_officer,
    leader; `title` the position they sign with, e.g. Phó Giám đốc)."""

    username: str
    official_id: str
    name: str
    title: str
    role: str
    agency: Agency

    def as_official(self) -> dict[str, Any]:
        """The official as the `vn.egov.common.Official` contract has them."""
        return {
            "official_id": self.official_id,
            "full_name": self.name,
            "position": self.title,
            "agency": {"code": self.agency.code, "name": self.agency.name},
        }


_FAMILY = ("Trần", "Lê", "Phạm", "Hoàng", "Võ", "Đặng")
_GIVEN = ("Văn Minh", "Thị Hồng", "Quốc Bảo", "Thu Hà", "Đức Anh", "Ngọc Lan")


def officials() -> list[StaffMember]:
    """Every fictional official of every province file, in a stable order."""
    found: list[StaffMember] = []
    seen: set[str] = set()
    for path in sorted(PROVINCES_DIR.glob("*.yaml")):
        for agency in load_province(path).agencies:
            if agency.code in seen:
                continue
            seen.add(agency.code)
            roles = [CLERK, LEADER] + ([COUNTER_OFFICER, COUNTER_OFFICER] if agency.kind == "centre" else [])
            counts: dict[str, int] = {}
            for position, title, suffix in roles:
                counts[suffix] = counts.get(suffix, 0) + 1
                official_id = f"{agency.code}/{suffix}-{counts[suffix]:02d}"
                pick = int(hashlib.sha256(official_id.encode()).hexdigest(), 16)
                name = f"{_FAMILY[pick % len(_FAMILY)]} {_GIVEN[(pick // 7) % len(_GIVEN)]}"
                if position == "leader":
                    title = _TITLES.get(agency.kind, title)
                found.append(
                    StaffMember(
                        username=official_username(official_id),
                        official_id=official_id,
                        name=name,
                        title=title,
                        role=position,
                        agency=agency,
                    )
                )
    return found


def official(agency_code: str, role: str) -> StaffMember:
    """The first fictional official of that agency and role."""
    for candidate in officials():
        if candidate.agency.code == agency_code and candidate.role == role:
            return candidate
    raise LookupError(f"no fictional {role} of {agency_code} in the officials' realm")


# -- the realm files ------------------------------------------------------------------------------------
_TOKEN = {"access.token.claim": "true", "id.token.claim": "true", "introspection.token.claim": "true"}


def _mapper(name: str, kind: str, config: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "openid-connect",
        "protocolMapper": kind,
        "consentRequired": False,
        "config": config,
    }


def _attribute(attribute: str, claim: str | None = None) -> dict[str, Any]:
    config = {
        "user.attribute": attribute,
        "claim.name": claim or attribute,
        "jsonType.label": "String",
        "userinfo.token.claim": "true",
        **_TOKEN,
    }
    return _mapper(attribute, "oidc-usermodel-attribute-mapper", config)


def _scope(name: str, mappers: list[dict[str, Any]], *, in_token: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "openid-connect",
        "attributes": {"include.in.token.scope": str(in_token).lower(), "display.on.consent.screen": "false"},
        "protocolMappers": mappers,
    }


def _scopes(realm: str, claims: list[str]) -> list[dict[str, Any]]:
    # A realm file that lists client scopes gets none of Keycloak's built-in ones: declare those needed.
    basic = _scope(
        "basic",
        [
            _mapper(
                "sub", "oidc-sub-mapper", {"access.token.claim": "true", "introspection.token.claim": "true"}
            ),
            _mapper(
                "auth_time",
                "oidc-usersessionmodel-note-mapper",
                {
                    "user.session.note": "AUTH_TIME",
                    "claim.name": "auth_time",
                    "jsonType.label": "long",
                    **_TOKEN,
                },
            ),
        ],
        in_token=False,
    )
    profile = _scope("profile", [_attribute("username", "preferred_username")])
    own = _scope(f"{realm}-claims", [_attribute(c) for c in claims], in_token=False)
    audiences = [
        _scope(
            f"api:{api}",
            [
                _mapper(
                    f"audience {api}",
                    "oidc-audience-mapper",
                    {
                        "included.client.audience": api,
                        "access.token.claim": "true",
                        "id.token.claim": "false",
                        "introspection.token.claim": "true",
                    },
                )
            ],
        )
        for api in APIS
    ]
    return [basic, profile, own, *audiences]


def _clients(realm: str) -> list[dict[str, Any]]:
    defaults = ["basic", "profile", f"{realm}-claims"]
    optional = [f"api:{api}" for api in APIS]
    apis = [
        {
            "clientId": api,
            "name": f"{api} API (an audience: no flow)",
            "enabled": True,
            "publicClient": False,
            "bearerOnly": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "protocol": "openid-connect",
        }
        for api in APIS
    ]

    def cli(client_id: str, lifespan: int | None) -> dict[str, Any]:
        attributes = {"use.refresh.tokens": "false"}  # each token comes from a sign-in: its iat is that time
        if lifespan is not None:
            attributes["access.token.lifespan"] = str(lifespan)
        return {
            "clientId": client_id,
            "name": "egov command line, demo and tests (password grant)",
            "enabled": True,
            "publicClient": True,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": True,
            "protocol": "openid-connect",
            "fullScopeAllowed": True,
            "defaultClientScopes": defaults,
            "optionalClientScopes": optional,
            "attributes": attributes,
        }

    web = {
        "clientId": "egov-web",
        "name": "Browser sign-in (authorisation code with PKCE)",
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": True,
        "directAccessGrantsEnabled": False,
        "protocol": "openid-connect",
        "redirectUris": ["http://127.0.0.1/*", "http://localhost/*"],
        "webOrigins": ["+"],
        "defaultClientScopes": defaults,
        "optionalClientScopes": optional,
        "attributes": {"pkce.code.challenge.method": "S256"},
    }
    return [*apis, cli(CLI_CLIENT, None), cli(f"{CLI_CLIENT}-short", 2), web]


def _profile(attributes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The declarative user profile (Keycloak 24+): without it the admin API would drop the attributes."""
    admin_only = {"view": ["admin", "user"], "edit": ["admin"]}
    declared = [
        {"name": n, "displayName": n, "validations": v, "permissions": admin_only, "multivalued": False}
        for n, v in attributes.items()
    ]
    base = [
        {
            "name": n,
            "displayName": n,
            "validations": {"length": {"max": 255}},
            "permissions": {"view": ["admin", "user"], "edit": ["admin"]},
            "multivalued": False,
        }
        for n in ("username", "email", "firstName", "lastName")
    ]
    config = json.dumps(
        {"attributes": base + declared, "unmanagedAttributePolicy": "ADMIN_VIEW"}, ensure_ascii=False
    )
    return {
        "org.keycloak.userprofile.UserProfileProvider": [
            {
                "providerId": "declarative-user-profile",
                "subComponents": {},
                "config": {"kc.user.profile.config": [config]},
            }
        ]
    }


def _password(username: str, password: str) -> dict[str, Any]:
    salt = hashlib.sha256(f"egov-fictional-salt/{username}".encode()).digest()[:16]
    value = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, HASH_ITERATIONS, dklen=32)
    secret = {
        "value": base64.b64encode(value).decode(),
        "salt": base64.b64encode(salt).decode(),
        "additionalParameters": {},
    }
    data = {"hashIterations": HASH_ITERATIONS, "algorithm": "pbkdf2-sha256", "additionalParameters": {}}
    return {
        "type": "password",
        "temporary": False,
        "secretData": json.dumps(secret, sort_keys=True),
        "credentialData": json.dumps(data, sort_keys=True),
    }


def _user(realm: str, username: str, password: str, attributes: dict[str, str]) -> dict[str, Any]:
    # Fixed ids: the same `sub` at every start. They must be unique across realms (one table in Keycloak).
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:egov:{realm}:user:{username}")),
        "username": username,
        "enabled": True,
        "emailVerified": True,
        "attributes": {k: [v] for k, v in attributes.items()},
        "credentials": [_password(username, password)],
        "requiredActions": [],
    }


def _realm(
    name: str, display: str, claims: dict[str, dict[str, Any]], users: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "realm": name,
        "displayName": display,
        "enabled": True,
        "sslRequired": "none",  # plain http on the loopback interface; a deployment terminates TLS in front
        "accessTokenLifespan": ACCESS_TOKEN_SECONDS,
        "passwordPolicy": f"hashAlgorithm(pbkdf2-sha256) and hashIterations({HASH_ITERATIONS})",
        "registrationAllowed": False,
        "bruteForceProtected": False,
        "eventsEnabled": False,
        "clientScopes": _scopes(name, list(claims)),
        "defaultDefaultClientScopes": ["basic", "profile", f"{name}-claims"],
        "defaultOptionalClientScopes": [f"api:{api}" for api in APIS],
        "clients": _clients(name),
        "components": _profile(claims),
        "users": users,
    }


_PATTERN = "pattern"


def realms(users: FictionalUsers | None = None) -> dict[str, dict[str, Any]]:
    """The two realm files' contents, by realm name."""
    chosen = users or FictionalUsers.load()
    citizens = [
        _user(
            CITIZENS,
            p.id_number,
            chosen.citizen_password,
            {
                "id_number": p.id_number,
                "full_name": str(p.citizen["full_name"]),
                "birthdate": str(p.citizen["date_of_birth"]),
                "sex": str(p.citizen["sex"]),
            },
        )
        for p in citizens_with_accounts(chosen)
    ]
    staff = [
        _user(
            OFFICIALS,
            o.username,
            chosen.official_password,
            {
                "official_id": o.official_id,
                "full_name": o.name,
                "title": o.title,
                "agency_code": o.agency.code,
                "position": o.role,
            },
        )
        for o in officials()
    ]
    citizen_claims: dict[str, dict[str, Any]] = {
        "id_number": {_PATTERN: {_PATTERN: "^[0-9]{12}$"}},
        "full_name": {"length": {"min": 1, "max": 255}},
        "birthdate": {_PATTERN: {_PATTERN: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}},
        "sex": {"options": {"options": ["MALE", "FEMALE"]}},
    }
    official_claims: dict[str, dict[str, Any]] = {
        "official_id": {"length": {"min": 1, "max": 255}},
        "full_name": {"length": {"min": 1, "max": 255}},
        "title": {"length": {"min": 1, "max": 255}},
        "agency_code": {"length": {"min": 1, "max": 35}},
        "position": {"options": {"options": ["clerk", "counter_officer", "leader"]}},
    }
    return {
        CITIZENS: _realm(CITIZENS, "VNeID (stand-in: fictional citizens)", citizen_claims, citizens),
        OFFICIALS: _realm(
            OFFICIALS, "Province staff single sign-on (stand-in: fictional officials)", official_claims, staff
        ),
    }


def realm_files() -> dict[Path, str]:
    return {
        REALMS_DIR / f"{name}-realm.json": json.dumps(content, ensure_ascii=False, indent=1) + "\n"
        for name, content in realms().items()
    }
