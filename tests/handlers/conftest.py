"""Handler tests: each service's own wiring (`services.<name>.app.build`) on the fake runtime
(`egov.runtime.testing`), between the domain unit tests and the tests on a real broker. No broker, no
process: a service's handlers, tables, timers and routes, driven Given / When / Then in milliseconds."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from egov.contracts.validation import RuleContext, get_validator
from egov.paths import EXAMPLES_DIR
from egov.runtime.auth import Person
from egov.runtime.service import Service
from egov.runtime.settings import Settings
from egov.runtime.testing import FakeRuntime

#: Business time of the tests: a Tuesday morning in the province (02:00 UTC is 09:00 in Hồ Chí Minh City).
NOW = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def citizen(applicant: Any, *, subject: str = "c-1") -> Person:
    """A citizen signed in through VNeID, as their token says (`applicant`: a CitizenRef record)."""
    return Person(
        kind="citizen",
        subject=subject,
        issuer="https://vneid.example/realms/vneid",
        name=applicant["full_name"],
        id_number=applicant["id_number"],
        authenticated_at=dt.datetime.now(dt.UTC),
    )


def official(
    agency_code: str, position: str, *, official_id: str | None = None, minutes_ago: float = 0
) -> Person:
    """An official signed in at the province's single sign-on."""
    role = {"leader": "lanh-dao", "clerk": "van-thu", "counter_officer": "mot-cua"}[position]
    return Person(
        kind="official",
        subject=f"o-{agency_code}-{position}",
        issuer="https://sso.example/realms/officials",
        agency_code=agency_code,
        position=position,
        official_id=official_id or f"{agency_code}/{role}-01",
        authenticated_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago),
    )


def example(event_type: str, **changes: Any) -> dict[str, Any]:
    """The golden example of `event_type` as an Avro-ready record, with `changes` applied (natural JSON)."""
    body = json.loads((EXAMPLES_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    body.update(changes)
    record, errors = get_validator().from_json(event_type, body, context=RuleContext(today=None))
    assert record is not None, errors
    return record


#: Both province files: the pre-merger Bình Thuận of the architecture v1.0 and Lâm Đồng after 1/7/2025.
PROVINCES = ("binh-thuan", "lam-dong")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings of a service under test: its own state folder, no topic prefix, no broker, and Bình Thuận
    (the golden examples' province) whatever EGOV_PROVINCE says; `start(build, province=…)` picks another."""
    return Settings(
        kafka_bootstrap_servers="no-broker:9092",
        topic_prefix="",
        state_dir=tmp_path / "state",
        province="binh-thuan",
    )


@pytest.fixture
def start(settings: Settings) -> Iterator[Callable[..., FakeRuntime]]:
    """`start(build)`: the service of that wiring function on the fake runtime, at `NOW` unless told."""
    started: list[FakeRuntime] = []

    def _start(build: Callable[..., Service], *, now: dt.datetime = NOW, **options: Any) -> FakeRuntime:
        chosen = settings.model_copy(update=options) if options else settings
        runtime = FakeRuntime(build, chosen, now=now)
        started.append(runtime)
        return runtime

    yield _start
    for runtime in started:
        runtime.close()
