"""agency wiring: the department case-system stand-in.

It takes the dossiers the LGSP delivers to the agencies it serves, keeps a case file per dossier, and when a
durable timer says the department's working days have passed, writes a supplement request or its decision
to its own topic, for the LGSP to deliver to the one-stop system. It uses only the public contracts, and,
when `EGOV_DOCUMENTS_URL` is set, the document system's public API to issue each approval as a signed
decision (the decision then names the document, and so do the result and the citizen's notice).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt

from egov.contracts.topics import EventTypes, Topics
from egov.platform.people import FictionalUsers, official_username
from egov.platform.province import get_province
from egov.runtime.auth import AuthError, password_grant
from egov.runtime.engine import Engine
from egov.runtime.retries import TryLater
from egov.runtime.service import IncomingEvent, Service
from egov.runtime.settings import Settings
from egov.runtime.timers import Timers
from services import SERVICES
from services.agency.domain import (
    DECIDE,
    SUPPLEMENT,
    CaseDesk,
    Profile,
    clerk_of,
    decided,
    decision_document,
    official_of,
)

#: The purpose of the timer that makes the department act on a dossier.
ACT = "act"


def build(
    settings: Settings,
    *,
    engine: Engine | None = None,
    documents_transport: httpx.AsyncBaseTransport | None = None,
) -> Service:
    """The department stand-in; `documents_transport` carries its calls to the document system's API (the
    network by default; handler tests give a fake one)."""
    service = Service("agency", default_port=SERVICES["agency"].port, settings=settings, engine=engine)
    province = get_province(settings.province)
    served = frozenset(c.strip() for c in settings.agency_codes.split(",") if c.strip()) or frozenset(
        a.code for a in province.agencies
    )
    #: Where results are returned to citizens: the addressee of the department's signed decisions.
    centre = next(
        ({"code": a.code, "name": a.name} for a in province.agencies if a.kind == "centre"), None
    ) or {
        "code": province.agencies[0].code,
        "name": province.agencies[0].name,
    }
    desk = CaseDesk(Profile.load(settings.agency_profile), seed=settings.seed, timezone=province.timezone)
    service.writes(Topics.CASE_EVENTS)
    timers = Timers(service)

    #: Dossier code → the department's case file (its plan, what it does next).
    cases = service.table("cases", help="Dossier code → the department's case file.")

    async def assigned(event: IncomingEvent) -> None:
        record = event.record
        if record["agency"]["code"] not in served:
            return  # another department's dossier
        code = record["dossier_code"]
        if decided(cases.get(code)):
            service.log.info("case.already_decided", dossier_code=code)
            return
        case, action, at = desk.assigned(cases.get(code), record, event.handled_at)
        cases[code] = case
        timers.set(code, ACT, at)
        service.log.info("case.opened", dossier_code=code, next=action, at=at.isoformat())

    async def act(code: str, event: IncomingEvent) -> None:
        case = cases.get(code)
        if case is None:
            # The timer was recorded and the case file was not: a worker crashed while the assignment's
            # writes were under way. The assignment was not remembered as handled, so it is handled again
            # and sets a new timer; this one has nothing to act on.
            service.log.warning("case.timer_without_case_file", dossier_code=code)
            return
        now = event.handled_at
        if case["next"] == SUPPLEMENT:
            case, record = desk.supplement_request(case, now)
            event_type = EventTypes.SUPPLEMENT_REQUESTED
        elif case["next"] == DECIDE:
            case, record = desk.decision(case, now, official_of(case["agency"]))
            if record["decision"] == "APPROVED" and settings.documents_url:
                record["document_id"] = await issue_signed_decision(case, event)
            event_type = EventTypes.AGENCY_DECISION_MADE
        else:
            return
        envelope = service.new_envelope(event_type, subject=code, time=now, caused_by=event)
        await service.publish(Topics.CASE_EVENTS, record, key=code, envelope=envelope)
        cases[code] = case
        service.log.info("case.acted", dossier_code=code, event_type=event_type)

    async def sign_in(official_id: str) -> tuple[dict[str, str], dict[str, Any]]:
        """Headers with the official's bearer token, and its claims: the stand-in signs its fictional
        officials in at the province's single sign-on as they would (none with EGOV_AUTH=off)."""
        if settings.auth == "off" or not settings.oidc_official_issuer:
            return {}, {}
        token = await password_grant(
            settings.oidc_official_issuer,
            client_id=settings.oidc_client_id,
            username=official_username(official_id),
            password=FictionalUsers.load().official_password,
            audiences=("documents",),
        )
        return {"Authorization": f"Bearer {token}"}, jwt.decode(token, options={"verify_signature": False})

    async def issue_signed_decision(case: dict[str, Any], event: IncomingEvent) -> str | None:
        """Issue the approval as a signed decision through the document system's API, as the department's
        people would: its clerk submits it, its leader (the signer) approves it, signed in just now; the
        document id, or None when the document system or the sign-on refuses it (the decision then goes
        without a document, and says so in the log).

        The draft's Idempotency-Key derives from the timer event, so a retry registers the same document,
        never a second one. A document system or sign-on that does not answer, or answers 5xx/429, is an error
        that may pass: the decision waits and is tried again."""
        leader = official_of(case["agency"])
        clerk = clerk_of(case["agency"])
        try:
            leader_headers, claims = await sign_in(leader["official_id"])
            clerk_headers, _ = await sign_in(clerk["official_id"])
        except AuthError as exc:
            service.log.warning("decision.sign_in_refused", reason=exc.message)
            return None
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise TryLater(
                f"the single sign-on at {settings.oidc_official_issuer} did not answer: {exc}"
            ) from exc
        signer = {**leader, "full_name": claims.get("full_name", leader["full_name"])}
        signer["position"] = claims.get("title", leader["position"])
        body = decision_document(case, signer, centre)
        headers = {"Idempotency-Key": f"decision/{event.envelope.id}", **clerk_headers}
        async with httpx.AsyncClient(
            base_url=str(settings.documents_url), timeout=10.0, transport=documents_transport
        ) as client:
            try:
                answer = await client.post("/api/v1/documents", json=body, headers=headers)
                if answer.status_code >= 500 or answer.status_code == 429:
                    raise TryLater(f"the document system answered {answer.status_code}")
                if answer.status_code != 202:
                    service.log.warning(
                        "decision.document_refused", status=answer.status_code, body=answer.text[:500]
                    )
                    return None
                draft = answer.json()["draft_id"]
                document = None
                for _ in range(50):  # up to 10 s for the registration (each look-up is a round trip)
                    found = await client.get(f"/api/v1/drafts/{draft}", headers=clerk_headers)
                    document = found.json().get("document_id")
                    if document:
                        break
                    await asyncio.sleep(0.2)  # polling interval of the look-up above
                if not document:
                    service.log.warning("decision.document_not_registered", draft_id=draft)
                    return None
                for _ in range(50):  # the document's own record follows its draft's registration by a hop
                    approved = await client.post(
                        "/api/v1/documents/approve", params={"id": document}, headers=leader_headers
                    )
                    if approved.status_code != 404:
                        break
                    await asyncio.sleep(0.2)  # polling interval while the record is not there yet
                if approved.status_code >= 500 or approved.status_code == 429:
                    raise TryLater(f"the document system answered {approved.status_code} to the approval")
                if approved.status_code != 202:
                    service.log.warning(
                        "decision.approval_refused", status=approved.status_code, body=approved.text[:500]
                    )
                    return None
                return str(document)
            except (httpx.HTTPError, ValueError) as exc:  # ValueError: a body that is not the JSON expected
                raise TryLater(
                    f"the document system at {settings.documents_url} did not answer: {exc}"
                ) from exc

    timers.on(ACT, act)
    service.consume(Topics.LGSP_TO_AGENCIES, assigned, name="assignments")
    return service
