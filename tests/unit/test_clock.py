"""Business time: the wall clock, or a faster one shared by every process of a stack."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from egov.runtime.clock import Clock
from egov.runtime.settings import Settings

ANCHOR = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)


def test_a_fast_clock_runs_from_its_anchor() -> None:
    real = ANCHOR + dt.timedelta(seconds=10)
    clock = Clock(speed=86400, anchor=ANCHOR, real_now=lambda: real)
    assert clock.now() == ANCHOR + dt.timedelta(days=10)
    assert clock.after(2.0) == clock.now() + dt.timedelta(days=2)
    assert Clock(real_now=lambda: real).now() == real


def test_a_clock_without_a_shared_anchor_or_with_a_naive_one_is_refused() -> None:
    with pytest.raises(ValidationError, match="EGOV_CLOCK_ANCHOR"):
        Settings(clock_speed=10)
    with pytest.raises(ValidationError, match="UTC offset"):
        Settings(clock_anchor=dt.datetime(2026, 11, 24, 8, 0))
    with pytest.raises(ValueError, match="positive"):
        Clock(speed=0)
    assert Settings(clock_speed=10, clock_anchor=ANCHOR).clock.speed == 10
