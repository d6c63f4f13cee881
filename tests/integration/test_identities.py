"""People's identities on the real identity provider (Keycloak, the realms of infra/keycloak/realms): every
API refuses a request without a valid token (401) and a person the route does not serve (403), and a document
is signed only after its signer approves it, signed in. The allowed paths passing end to end is what the
journey, the document exchange and the reporting modules show, on this same provider."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from egov.contracts.envelope import Envelope
from egov.contracts.serde import get_registry
from egov.contracts.topics import EventTypes, Topics, dead_letters
from egov.platform.province import get_province
from egov.runtime.auth import password_grant
from egov.tools.identity.signin import SignIn, bearer
from egov.tools.samples import official_document, submission
from services import load_services
from tests.integration.conftest import Stack, new_settings, run_stack, wait_until
from tests.integration.kafka_helpers import collect, produce, read_all

pytestmark = pytest.mark.integration
PROVINCE = get_province("binh-thuan")
CODES = [p.code for p in PROVINCE.procedures]
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/public/dossiers/{dossier_code}"),
    ("GET", "/api/v1/indicators"),
    ("GET", "/api/v1/indicators/part"),  # a reporting worker's share of the same public figures
    ("GET", "/"),
}


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = new_settings(kafka_bootstrap, tmp_path_factory.mktemp("identities") / "state")
    with run_stack(settings, ("portal", "documents", "signing", "reporting")) as running:
        yield running


def a_submission(seed: int, channel: str = "ONLINE") -> dict[str, object]:
    return {**submission(random.Random(seed), CODES), "channel": channel}


def test_an_independent_client_without_a_token_gets_401_from_every_api_but_the_public_routes(
    stack: Stack,
) -> None:
    services = load_services(stack.settings)
    checked = 0
    for name in ("portal", "documents", "reporting"):
        base = stack.services[name].url
        for path, methods in services[name].routes.items():
            concrete = (
                path.replace("{dossier_code}", "000.00.04.H11-261201-0001")
                .replace("{submission_id}", "00000000-0000-4000-8000-000000000000")
                .replace("{draft_id}", "d-1")
            )
            for method in methods:
                answer = httpx.request(method, base + concrete, json={}, timeout=10.0)
                checked += 1
                if (method, path) in PUBLIC:
                    assert answer.status_code in (200, 404), (name, method, path, answer.text)
                else:
                    assert answer.status_code == 401, (name, method, path, answer.text)
                    assert answer.json()["errors"][0]["field"] == "Authorization"
    assert checked >= 12


def test_expired_wrong_issuer_and_wrong_audience_tokens_are_refused(
    stack: Stack, identity_provider: SignIn
) -> None:
    portal = stack.services["portal"].url
    person = a_submission(1)["applicant"]
    users = identity_provider.users

    def token(client_id: str, audiences: tuple[str, ...]) -> str:
        return asyncio.run(
            password_grant(
                identity_provider.citizen_issuer,
                client_id=client_id,
                username=str(person["id_number"]),  # type: ignore[index]
                password=users.citizen_password,
                audiences=audiences,
            )
        )

    def look_up(with_token: str) -> httpx.Response:
        return httpx.get(f"{portal}/api/v1/dossiers/000.00.04.H11-261201-0001", headers=bearer(with_token))

    # the right token finds no such dossier: the token itself holds
    assert look_up(token("egov-cli", ("portal",))).status_code == 404
    # a token for the document system only
    wrong_audience = look_up(token("egov-cli", ("documents",)))
    assert wrong_audience.status_code == 401 and "audience" in wrong_audience.text
    # a token from an issuer the API does not trust, and one naming a trusted issuer, signed by another key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"sub": "x", "aud": "portal", "iat": now, "exp": now + 300}
    foreign = jwt.encode({**claims, "iss": "https://idp.example/realms/other"}, key, algorithm="RS256")
    assert "does not trust" in look_up(foreign).text and look_up(foreign).status_code == 401
    forged = jwt.encode(
        {**claims, "iss": identity_provider.citizen_issuer}, key, algorithm="RS256", headers={"kid": "forged"}
    )
    assert look_up(forged).status_code == 401
    # a token that expired (the two-second client), once the tolerated clock difference has passed too
    short = token("egov-cli-short", ("portal",))
    expires = jwt.decode(short, options={"verify_signature": False})["exp"]
    wait_until(lambda: time.time() > expires + 6, "the short token expired", 30)
    expired = look_up(short)
    assert expired.status_code == 401 and "expired" in expired.text


def test_a_citizen_submits_only_for_themself_and_reads_only_their_own_dossier(
    stack: Stack, identity_provider: SignIn
) -> None:
    portal = stack.services["portal"].url
    mine, theirs = a_submission(2), a_submission(3)
    me = bearer(identity_provider.citizen(str(mine["applicant"]["id_number"])))  # type: ignore[index]
    other = bearer(identity_provider.citizen(str(theirs["applicant"]["id_number"])))  # type: ignore[index]
    if mine["applicant"] == theirs["applicant"]:
        pytest.skip("the seeds drew the same person")
    for_someone_else = httpx.post(f"{portal}/api/v1/dossiers", json=theirs, headers=me)
    assert for_someone_else.status_code == 403
    assert for_someone_else.json()["errors"][0]["field"] == "applicant.id_number"
    accepted = httpx.post(f"{portal}/api/v1/dossiers", json=mine, headers=me)
    assert accepted.status_code == 202, accepted.text
    submission_id = accepted.json()["submission_id"]
    assert httpx.get(f"{portal}/api/v1/submissions/{submission_id}", headers=other).status_code == 403
    # the one-stop system is not running here: the submission stays pending, seen only by its applicant
    status = httpx.get(f"{portal}/api/v1/submissions/{submission_id}", headers=me)
    assert status.status_code == 200 and status.json()["status"] == "pending"


def test_officials_issue_only_for_their_agency_and_only_the_signer_approves(
    stack: Stack, identity_provider: SignIn
) -> None:
    documents = stack.services["documents"].url
    letter = official_document(random.Random(44), PROVINCE)
    agency = str(letter["issuing_agency"])
    clerk = bearer(identity_provider.official(f"{agency}/van-thu-01"))
    other_agency = next(a.code for a in PROVINCE.agencies if a.kind == "department" and a.code != agency)
    # an official of agency A issuing for agency B
    foreign = httpx.post(
        f"{documents}/api/v1/documents", json={**letter, "issuing_agency": other_agency}, headers=clerk
    )
    assert foreign.status_code == 403 and foreign.json()["errors"][0]["field"] == "issuing_agency"
    answer = httpx.post(f"{documents}/api/v1/documents", json=letter, headers=clerk)
    assert answer.status_code == 202, answer.text
    draft = answer.json()["draft_id"]
    document = wait_until(
        lambda: httpx.get(f"{documents}/api/v1/drafts/{draft}", headers=clerk).json().get("document_id"),
        "registered",
        60,
    )
    # a clerk approving
    by_clerk = httpx.post(f"{documents}/api/v1/documents/approve", params={"id": document}, headers=clerk)
    assert by_clerk.status_code == 403
    # a leader who is not the signer
    another = bearer(identity_provider.official(f"{other_agency}/lanh-dao-01"))
    assert (
        httpx.post(
            f"{documents}/api/v1/documents/approve", params={"id": document}, headers=another
        ).status_code
        == 403
    )
    view = wait_until(  # the document's record follows the draft's registration by a hop
        lambda: (
            httpx.get(f"{documents}/api/v1/documents/by-id", params={"id": document}, headers=clerk)
            .json()
            .get("outgoing")
        ),
        "no record of the document",
        30,
    )
    assert view["status"] == "awaiting_approval"  # nothing was signed
    # the signer, just signed in
    signer = bearer(identity_provider.official(f"{agency}/lanh-dao-01", fresh=True))
    approved = httpx.post(f"{documents}/api/v1/documents/approve", params={"id": document}, headers=signer)
    assert approved.status_code == 202, approved.text
    wait_until(
        lambda: (
            httpx.get(f"{documents}/api/v1/documents/by-id", params={"id": document}, headers=clerk).json()[
                "outgoing"
            ]["status"]
            == "issued"
        ),
        "signed and issued",
        60,
    )


def test_a_signature_requested_without_its_signers_approval_is_refused(stack: Stack) -> None:
    letter = official_document(random.Random(45), PROVINCE)
    document = f"{letter['issuing_agency']},2026/12/01,9999/{letter['symbol']}"
    request = {
        "document_id": document,
        "content_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "signer": {**letter["signer"], "agency": {"code": letter["issuing_agency"], "name": "x"}},  # type: ignore[dict-item]
        "requested_at": dt.datetime.now(dt.UTC),
    }
    envelope = Envelope.new(
        source="/egov/documents",
        type=EventTypes.SIGNATURE_REQUESTED,
        subject=document,
        time=dt.datetime.now(dt.UTC),
    )
    bootstrap = stack.settings.kafka_bootstrap_servers
    produce(
        bootstrap,
        stack.topic(Topics.OUTGOING_DOCUMENTS),
        document.encode(),
        get_registry().encode(EventTypes.SIGNATURE_REQUESTED, request),
        envelope.to_headers(),
    )
    refusals = collect(
        bootstrap,
        stack.topic(dead_letters("signing")),
        until=lambda rs: any(r.key == document.encode() for r in rs),
    )
    [refusal] = [r for r in refusals if r.key == document.encode()]
    assert "no approval by its signer" in refusal.decoded()["reason"]
    # the refusal is recorded after the request was read: nothing was signed for it
    signed = read_all(bootstrap, stack.topic(Topics.SIGNATURES))
    assert not [r for r in signed if r.key == document.encode()]
