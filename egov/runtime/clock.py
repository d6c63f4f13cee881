"""Business time: the clock that dates events and decides deadlines, appointments and overdue dossiers.

In production it is the wall clock. For demos and tests it can run faster (`EGOV_CLOCK_SPEED`), so that a
procedure of ten working days plays out in seconds: business time is
`anchor + (real now - anchor) × speed`, where the anchor (`EGOV_CLOCK_ANCHOR`) is the real instant at which
both clocks agree. Every process of a stack must be given the same anchor and speed (the stack command and
the test fixtures set both), or their business times disagree.

Technical waits (the LGSP's time-out for a national system's answer, retry back-off) are real durations: a
national system is not faster because the demo is. `after(real_seconds)` converts one into the business
instant at which it has elapsed, so a single clock can date everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Clock:
    """Business time, `speed` times faster than real time from `anchor` on."""

    speed: float = 1.0
    anchor: dt.datetime | None = None
    real_now: Callable[[], dt.datetime] = field(default=_utc_now, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("the clock's speed must be positive")
        if self.anchor is not None and self.anchor.tzinfo is None:
            raise ValueError("the clock's anchor must be timezone-aware")

    def now(self) -> dt.datetime:
        """The business time now, UTC."""
        real = self.real_now()
        if self.speed == 1.0 or self.anchor is None:
            return real
        return self.anchor + (real - self.anchor) * self.speed

    def after(self, real_seconds: float) -> dt.datetime:
        """The business instant at which `real_seconds` of real time will have passed."""
        return self.now() + dt.timedelta(seconds=real_seconds * self.speed)


def to_millis(instant: dt.datetime) -> dt.datetime:
    """`instant` in UTC at the precision events carry it (Avro timestamp-millis)."""
    instant = instant.astimezone(dt.UTC)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)
