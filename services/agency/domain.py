"""How the department stand-in handles a dossier assigned to it. Pure.

The behaviour per procedure comes from a profile (services/agency/profiles/default.yaml, or
`EGOV_AGENCY_PROFILE`): how many working days the department takes, the chance it first asks for a
supplement, and the chance it refuses. The draws are made once per dossier from a generator seeded with the
scenario's seed and the dossier code, so a scenario replays identically whatever the order of events.

A real department's system replaces this service: it reads DossierAssigned from the LGSP's deliveries and
writes SupplementRequested and AgencyDecisionMade to its own topic, and uses nothing else of the project.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

from egov.paths import REPO_ROOT
from egov.platform.province import initials
from egov.regulations.workdays import WorkingCalendar

DEFAULT_PROFILE = REPO_ROOT / "services" / "agency" / "profiles" / "default.yaml"
#: The hour of the working day at which the department acts, in the province's time zone.
WORKING_HOUR = dt.time(9, 0)

SUPPLEMENT = "supplement"
DECIDE = "decide"


class Behaviour(BaseModel):
    """How the department handles one procedure."""

    model_config = ConfigDict(extra="forbid")

    duration_days: int = Field(ge=0, description="Working days from assignment to decision.")
    supplement_chance: float = Field(default=0.0, ge=0, le=1)
    reject_chance: float = Field(default=0.0, ge=0, le=1)
    missing_items: tuple[str, ...] = (
        "Bản sao chứng thực giấy tờ tùy thân",
        "Tờ khai có chữ ký của người nộp hồ sơ",
    )
    supplement_reason: str = "Hồ sơ chưa đầy đủ thành phần theo quy định."
    reject_reason: str = "Hồ sơ không đáp ứng điều kiện theo quy định của thủ tục hành chính."


class Profile(BaseModel):
    """The stand-in's behaviour for every procedure."""

    model_config = ConfigDict(extra="forbid")

    default: Behaviour
    procedures: dict[str, Behaviour] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Profile:
        path = path or DEFAULT_PROFILE
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})

    def behaviour(self, procedure_code: str) -> Behaviour:
        return self.procedures.get(procedure_code, self.default)


def plan(behaviour: Behaviour, *, seed: int, dossier_code: str) -> dict[str, Any]:
    """The department's choices for a dossier, drawn once (JSON-compatible, kept in the case file)."""
    rng = random.Random(f"{seed}/{dossier_code}")
    supplement = rng.random() < behaviour.supplement_chance
    reject = rng.random() < behaviour.reject_chance
    return {"supplement": supplement, "decision": "REJECTED" if reject else "APPROVED"}


#: The case file's next step once the department has decided.
DONE = "done"


def decided(case: Mapping[str, Any] | None) -> bool:
    """The department has decided this dossier: it decides once, and an assignment that arrives after (a
    delivery repeated under a new id) changes nothing (the one-stop system takes a decision only while the
    dossier is in progress)."""
    return case is not None and case.get("next") == DONE


class CaseDesk:
    """When the department acts, and what it says."""

    def __init__(
        self, profile: Profile, *, seed: int, timezone: str, calendar: WorkingCalendar | None = None
    ):
        self.profile = profile
        self.seed = seed
        self.zone = ZoneInfo(timezone)
        self.calendar = calendar or WorkingCalendar()

    def assigned(
        self, case: Mapping[str, Any] | None, assignment: Mapping[str, Any], now: dt.datetime
    ) -> tuple[dict[str, Any], str, dt.datetime]:
        """A dossier assigned (or assigned again after a supplement): the case file, the next action and when.

        The first time, the department asks for a supplement halfway through if its plan says so; otherwise,
        and after a supplement, it decides `duration_days` working days after the assignment."""
        behaviour = self.profile.behaviour(assignment["procedure_code"])
        new = (
            dict(case)
            if case
            else {
                "dossier_code": assignment["dossier_code"],
                "procedure_code": assignment["procedure_code"],
                "agency": dict(assignment["agency"]),
                "plan": plan(behaviour, seed=self.seed, dossier_code=assignment["dossier_code"]),
                "supplement_asked": False,
            }
        )
        new["assignments"] = int(new.get("assignments", 0)) + 1
        if new["plan"]["supplement"] and not new["supplement_asked"]:
            action, days = SUPPLEMENT, behaviour.duration_days // 2
        else:
            action, days = DECIDE, behaviour.duration_days
        new["next"] = action
        return new, action, self.working_time(now, days)

    def working_time(self, now: dt.datetime, days: int) -> dt.datetime:
        """`days` working days after `now`'s date, at the working hour, UTC."""
        local_day = now.astimezone(self.zone).date()
        day = self.calendar.add_working_days(local_day, days)
        at = dt.datetime.combine(day, WORKING_HOUR, tzinfo=self.zone).astimezone(dt.UTC)
        return max(at, now)

    def supplement_request(
        self, case: Mapping[str, Any], now: dt.datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The SupplementRequested body (form 02) and the case file after it."""
        behaviour = self.profile.behaviour(case["procedure_code"])
        request = {
            "dossier_code": case["dossier_code"],
            "missing_items": list(behaviour.missing_items),
            "reason": behaviour.supplement_reason,
            "requested_by": case["agency"],
            "requested_at": now,
        }
        return {**case, "supplement_asked": True, "next": "wait-supplement"}, request

    def decision(
        self, case: Mapping[str, Any], now: dt.datetime, official: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The AgencyDecisionMade body and the case file after it."""
        behaviour = self.profile.behaviour(case["procedure_code"])
        decision = case["plan"]["decision"]
        record = {
            "dossier_code": case["dossier_code"],
            "agency": case["agency"],
            "decision": decision,
            "reason": behaviour.reject_reason if decision == "REJECTED" else None,
            "document_id": None,
            "decided_by": dict(official),
            "decided_at": now,
        }
        return {**case, "next": DONE, "decision": decision}, record


def decision_document(
    case: Mapping[str, Any], official: Mapping[str, Any], centre: Mapping[str, str]
) -> dict[str, Any]:
    """The body of `POST /api/v1/documents` that issues an approval as a signed decision (quyết định) of the
    department, addressed to the public administration service centre that returns results to citizens."""
    agency = case["agency"]
    text = (
        f"QUYẾT ĐỊNH\nVề việc giải quyết hồ sơ {case['dossier_code']} (thủ tục {case['procedure_code']}).\n"
        f"{agency['name']} quyết định chấp thuận hồ sơ {case['dossier_code']}.\n"
    )
    return {
        "issuing_agency": agency["code"],
        "recipients": [centre["code"]],
        "document_type": "Quyết định",
        "symbol": f"QĐ-{initials(agency['name'])}",
        "summary": f"Về việc giải quyết hồ sơ {case['dossier_code']}",
        "signer": {k: official[k] for k in ("official_id", "full_name", "position")},
        "file_name": f"quyet-dinh-{case['dossier_code']}.txt",
        "media_type": "text/plain; charset=utf-8",
        "content_base64": base64.b64encode(text.encode()).decode(),
    }


def clerk_of(agency: Mapping[str, str]) -> dict[str, Any]:
    """The clerk (văn thư) who submits the department's decisions to the document system (fictional: a user of
    the local single sign-on, infra/keycloak/realms/officials-realm.json)."""
    return {
        "official_id": f"{agency['code']}/van-thu-01",
        "full_name": "Lê Thị Hồng",
        "position": "Chuyên viên văn thư",
        "agency": dict(agency),
    }


def official_of(agency: Mapping[str, str]) -> dict[str, Any]:
    """The official who signs the department's decisions (fictional: a leader of the local single sign-on,
    whose name and title the sign-in gives)."""
    return {
        "official_id": f"{agency['code']}/lanh-dao-01",
        "full_name": "Trần Văn Minh",
        "position": "Phó Giám đốc",
        "agency": dict(agency),
    }
