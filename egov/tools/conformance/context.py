"""What the scenarios of a run share: the role, the province and agency under test, the kit's exchange on the
broker, the business clock and the kit's waits."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from egov.platform.province import Agency, Province
from egov.runtime.clock import Clock
from egov.runtime.settings import Settings
from egov.tools.architecture.roles import Role
from egov.tools.conformance.checks import Verdict
from egov.tools.conformance.wire import Exchange


@dataclass(frozen=True)
class Timing:
    """The kit's waits, in real seconds."""

    #: The longest a scenario waits for an answer.
    timeout: float = 60.0
    #: How long after a deadline has passed (in business time) an answer is still awaited, to report it late.
    grace: float = 10.0
    #: Clock disagreement allowed between the kit and the vendor's system, in real seconds (times that far
    #: out of the business time of the exchange are not business time).
    skew: float = 2.0


@dataclass
class Context:
    """What every scenario of a run shares."""

    settings: Settings
    role: Role
    province: Province
    agency: Agency
    exchange: Exchange
    timing: Timing
    #: Makes this run's business keys unique on the broker (a vendor's memory outlives a run).
    run_number: int = field(default_factory=lambda: random.randint(10000, 99999))

    @property
    def clock(self) -> Clock:
        return self.exchange.clock

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.province.timezone)

    @property
    def tolerance(self) -> dt.timedelta:
        """`Timing.skew` in business time."""
        return dt.timedelta(seconds=self.timing.skew * self.clock.speed)

    def real_seconds_until(self, instant: dt.datetime) -> float:
        return max(0.0, (instant - self.clock.now()).total_seconds() / self.clock.speed)

    def wait_for_deadline(self, day: dt.date) -> float:
        """Real seconds to wait for an answer due by the end of `day` (province time): until the day is over,
        plus the grace, within the time-out."""
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=self.zone)
        return min(self.timing.timeout, self.real_seconds_until(end) + self.timing.grace)

    def other_agency(self, kinds: tuple[str, ...] = ("department",)) -> Agency:
        """An agency of the province that is not the vendor's, of the same kind if there is one."""
        others = [a for a in self.province.agencies if a.code != self.agency.code]
        return next((a for a in others if a.kind in kinds), others[0])


class Scenarios(Protocol):
    """A role's scenarios and checks."""

    def __init__(self, context: Context) -> None: ...

    async def play(self) -> None: ...

    def verdicts(self) -> list[Verdict]: ...
