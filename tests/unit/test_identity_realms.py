"""The identity provider's configuration as code: generated from the register, the provinces and the fictional
users, committed, and never stale."""

from __future__ import annotations

import json

from egov.platform.people import FictionalUsers
from egov.tools.identity.realms import (
    CITIZENS,
    OFFICIALS,
    citizens_with_accounts,
    officials,
    realm_files,
    realms,
)


def test_the_committed_realm_files_are_up_to_date() -> None:
    for path, text in realm_files().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `egov idp realms`"


def test_citizens_sign_in_with_their_id_number_and_carry_their_identity_as_claims() -> None:
    realm = realms()[CITIZENS]
    people = citizens_with_accounts()
    assert len(realm["users"]) == len(people) >= FictionalUsers.load().citizens
    assert any(not p.answers for p in people)  # the time-out path can be played by a signed-in citizen
    first = realm["users"][0]
    assert first["username"] == people[0].id_number == first["attributes"]["id_number"][0]
    assert first["attributes"]["birthdate"] == [people[0].citizen["date_of_birth"]]
    # passwords are hashed in the file (fictional users; the published password is in users.yaml)
    assert FictionalUsers.load().citizen_password not in json.dumps(realm)
    mappers = {
        m["config"]["claim.name"]
        for s in realm["clientScopes"]
        for m in s["protocolMappers"]
        if "claim.name" in m["config"]
    }
    assert {"id_number", "full_name", "birthdate", "sex", "auth_time"} <= mappers


def test_every_agency_has_a_clerk_and_a_leader_and_the_centres_counter_officers() -> None:
    staff = officials()
    by_agency: dict[str, set[str]] = {}
    for member in staff:
        by_agency.setdefault(member.agency.code, set()).add(member.role)
    assert all({"clerk", "leader"} <= roles for roles in by_agency.values())
    assert by_agency["000.00.01.H11"] >= {"counter_officer"}  # Bình Thuận's public administration centre
    realm = realms()[OFFICIALS]
    assert len(realm["users"]) == len(staff)
    leader = next(
        u for u in realm["users"] if u["attributes"]["official_id"] == ["000.00.04.H11/lanh-dao-01"]
    )
    assert leader["username"] == "000.00.04.h11.lanh-dao-01"
    assert leader["attributes"]["position"] == ["leader"]


def test_the_cli_client_issues_no_refresh_tokens_so_a_tokens_iat_is_a_sign_in() -> None:
    for realm in realms().values():
        cli = next(c for c in realm["clients"] if c["clientId"] == "egov-cli")
        assert cli["attributes"]["use.refresh.tokens"] == "false"
        assert cli["directAccessGrantsEnabled"] and cli["publicClient"]
        audiences = {s["name"] for s in realm["clientScopes"] if s["name"].startswith("api:")}
        assert audiences == {"api:portal", "api:documents"}
