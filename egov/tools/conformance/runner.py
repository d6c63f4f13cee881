"""One run of the kit for one role: connect as the conformance principal, play the role's scenarios against
the vendor's running system, judge every check, and hand the verdicts to the report.

Waiting is always for a condition with a time-out, never a sleep: an answer is awaited until the dossier's
deadline has passed in business time plus a grace (so that a late answer is reported late rather than
missing), and never longer than `timeout` real seconds; an absence (no answer to a dossier of another agency,
no second decision) is judged once a dossier sent after it on the same partition has been answered, and
again over everything read by the end of the run.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from egov.platform.province import Agency, Province, get_province
from egov.runtime.settings import Settings
from egov.tools.architecture.acls import external_principal
from egov.tools.architecture.roles import Role, get_roles
from egov.tools.conformance.agency import AgencyScenarios
from egov.tools.conformance.checks import Verdict
from egov.tools.conformance.context import Context, Scenarios, Timing
from egov.tools.conformance.documents import DocumentScenarios
from egov.tools.conformance.wire import Exchange

#: The model's principal of the kit (architecture/model.yaml, principals).
KIT_PRINCIPAL = "conformance"


@dataclass
class RunResult:
    role: Role
    agency: Agency
    verdicts: list[Verdict]
    seconds: float
    started_at: dt.datetime
    settings: Settings
    unreadable: list[str]
    log_size: int

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]


class SetupError(RuntimeError):
    """The kit cannot run: a usage or configuration problem (exit code 2)."""


def default_agency(role: Role, province: Province) -> Agency:
    """The agency a run tests when none is named: the first department responsible for a procedure."""
    responsible = {p.responsible_agency for p in province.procedures}
    departments = [a for a in province.agencies if a.kind == "department"]
    return next(
        (a for a in departments if a.code in responsible),
        departments[0] if departments else province.agencies[0],
    )


def resolve(settings: Settings, role_id: str, agency_code: str | None) -> tuple[Role, Province, Agency]:
    """The role, the province and the agency of a run; SetupError saying what is wrong."""
    try:
        role = get_roles().get(role_id)
    except KeyError as exc:
        raise SetupError(str(exc.args[0])) from None
    province = get_province(settings.province)
    if agency_code is None:
        return role, province, default_agency(role, province)
    agency = province.agency(agency_code)
    if agency is None:
        raise SetupError(
            f"--agency-code {agency_code} is not an agency of {province.name} "
            f"(EGOV_PROVINCE={settings.province})"
        )
    return role, province, agency


async def run_role(
    settings: Settings,
    role_id: str,
    agency_code: str | None = None,
    *,
    timing: Timing | None = None,
    principal: str | None = None,
    scenarios: Callable[[Context], Scenarios] | None = None,
) -> RunResult:
    """Play the role's scenarios against the vendor's system on the broker of `settings`, and judge them."""
    role, province, agency = resolve(settings, role_id, agency_code)
    who = principal or settings.kafka_principal or external_principal(settings.topic_prefix, KIT_PRINCIPAL)
    exchange = Exchange(settings, principal=who, clock=settings.clock)
    started, begun = settings.clock.now(), time.monotonic()
    read = [t.topic for t in role.writes] + [role.dead_letters]
    write = [t.topic for t in role.reads]
    async with exchange:
        await exchange.start(read=read, write=write, optional=[role.dead_letters])
        context = Context(settings, role, province, agency, exchange, timing or Timing())
        chosen = (scenarios or scenarios_of(role.id))(context)
        await chosen.play()
        verdicts = chosen.verdicts()
    ids = [c.id for c in role.checks]
    missing = sorted(set(ids) - {v.id for v in verdicts})
    if missing:
        raise RuntimeError(f"role {role.id}: no verdict for {', '.join(missing)}")
    ordered = sorted(verdicts, key=lambda v: ids.index(v.id))
    return RunResult(
        role=role,
        agency=agency,
        verdicts=ordered,
        seconds=time.monotonic() - begun,
        started_at=started,
        settings=settings,
        unreadable=exchange.unreadable,
        log_size=len(exchange.log),
    )


#: Each role's scenarios (a role of architecture/conformance-roles.yaml without them cannot be run).
SCENARIOS: dict[str, Callable[[Context], Scenarios]] = {
    "agency": AgencyScenarios,
    "documents": DocumentScenarios,
}


def scenarios_of(role_id: str) -> Callable[[Context], Scenarios]:
    return SCENARIOS[role_id]
