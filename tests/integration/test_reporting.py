"""The indicators on the real broker: a stack plays a small scenario (citizens' dossiers over the catalogue
and a few letters between departments), then the reporting service's JSON is checked against what the test
submitted and what the events say, and the dashboard, in headless Chromium, against the JSON.

The reference figures are computed here from the events by QĐ 766's formulas (as services/reporting/domain.py
describes them), written again independently: every dossier in the on-time rate, the citizen's waits
subtracted from the end, the average time in working days, the electronic result by result file, online
payment over every dossier of a procedure with a fee.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from egov.contracts.topics import EventTypes, Topics
from egov.platform.province import get_province
from egov.regulations.workdays import WorkingCalendar
from egov.tools.samples import official_document, submission
from services.population.domain import get_register
from tests.integration.conftest import (
    Stack,
    approve_when_recorded,
    fast_clock_env,
    new_settings,
    run_stack,
    wait_until,
)
from tests.integration.kafka_helpers import read_all

pytestmark = pytest.mark.integration

PROVINCE = get_province("binh-thuan")
NAMES = ("portal", "onestop", "lgsp", "population", "agency", "payment", "documents", "signing", "reporting")
FEE = "1.001612.000.00.00.H11"  # 3 working days: the department takes 5, so these results are late
REFUSED = "2.000488.000.00.00.H11"
PROFILE = {
    "default": {"duration_days": 1, "supplement_chance": 0.0, "reject_chance": 0.0},
    "procedures": {FEE: {"duration_days": 5}, REFUSED: {"duration_days": 1, "reject_chance": 1.0}},
}
FINAL = ("RESULT_RETURNED", "STOPPED", "NOT_ACCEPTED")
DOSSIERS = 14
LETTERS = 3
#: How Debian's Chromium is started headless on a machine with no network but loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Scenario:
    stack: Stack
    bodies: list[dict[str, Any]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    @property
    def reporting(self) -> httpx.Client:
        return self.stack.client("reporting")

    def indicators(self, **params: str) -> dict[str, Any]:
        with self.reporting as client:
            answer = client.get("/api/v1/indicators", params=params)
            answer.raise_for_status()
            return dict(answer.json())

    def poll(self, check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
        return wait_until(check, what, timeout, logs=self.stack.logs)

    def events(self, spec: Any) -> list[tuple[str, dict[str, Any]]]:
        records = read_all(self.stack.settings.kafka_bootstrap_servers, self.stack.topic(spec))
        return [(r.headers["ce_type"], r.decoded()) for r in records]


@pytest.fixture(scope="module")
def scenario(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    folder = tmp_path_factory.mktemp("reporting")
    settings = new_settings(kafka_bootstrap, folder / "state")
    profile = folder / "agency-profile.yaml"
    profile.write_text(yaml.safe_dump(PROFILE), encoding="utf-8")
    env = {**fast_clock_env(1.0), "EGOV_AGENCY_PROFILE": str(profile)}
    with run_stack(settings, NAMES, env=env) as stack:
        played = Scenario(stack)
        rng = random.Random(766)
        people = get_register().answering()
        catalogue = [p.code for p in PROVINCE.procedures]
        with stack.portal as portal:
            for i in range(DOSSIERS):
                body = submission(rng, [FEE, REFUSED] if i < 4 else catalogue)
                # Everyone is in the register but the last, whose dossier is refused at intake (not found): a
                # counter officer receives that one in person (nobody signs in with a number nobody has).
                if i < DOSSIERS - 1:
                    body["applicant"] = people[20 + i].as_citizen()
                else:
                    body["applicant"] = get_register().stranger(rng)
                    body["channel"] = "IN_PERSON"
                answer = portal.post("/api/v1/dossiers", json=body)
                assert answer.status_code == 202, answer.text
                played.bodies.append(body | {"submission_id": answer.json()["submission_id"]})
            for body in played.bodies:
                played.codes.append(
                    played.poll(
                        lambda b=body: (
                            portal.get(f"/api/v1/submissions/{b['submission_id']}").json().get("dossier_code")
                        ),
                        "a dossier code",
                    )
                )
        for _ in range(LETTERS):
            letter = official_document(rng, PROVINCE)
            # its agency's clerk submits it and its leader, the signer, approves it
            with stack.documents(letter["issuing_agency"]) as documents:
                answer = documents.post("/api/v1/documents", json=letter)
                assert answer.status_code == 202, answer.text
                draft = answer.json()["draft_id"]
                document = played.poll(
                    lambda d=draft: documents.get(f"/api/v1/drafts/{d}").json()["document_id"], "registered"
                )
                approved = approve_when_recorded(documents, document, logs=stack.logs)
                assert approved.status_code == 202, approved.text
                played.documents.append(document)
        yield played


def at_rest(scenario: Scenario) -> None:
    """Every dossier at its final status and every letter issued."""
    with scenario.stack.portal as portal:
        for code in scenario.codes:
            scenario.poll(
                lambda c=code: portal.get(f"/api/v1/dossiers/{c}").json()["status"] in FINAL, f"{code} final"
            )
    for document in scenario.documents:
        with scenario.stack.documents(document.split(",")[0]) as documents:
            scenario.poll(
                lambda d=document, documents=documents: (
                    documents.get("/api/v1/documents/by-id", params={"id": d})
                    .json()
                    .get("outgoing", {})
                    .get("status")
                    == "issued"
                ),
                f"{document} issued",
            )


def expected_by_procedure(scenario: Scenario) -> dict[str, dict[str, tuple[float, int]]]:
    """(numerator, denominator) of each dossier indicator per procedure: the channels from what the test
    submitted, the rest from the events the one-stop system and payment published, by QĐ 766's formulas
    (every dossier is at rest: each has ended)."""
    procedure_of = {
        code: body["procedure_code"] for code, body in zip(scenario.codes, scenario.bodies, strict=True)
    }
    return reference(procedure_of, scenario.events(Topics.DOSSIERS), scenario.events(Topics.SETTLEMENTS))


def reference(
    procedure_of: dict[str, str],
    events: list[tuple[str, dict[str, Any]]],
    settlements: list[tuple[str, dict[str, Any]]],
) -> dict[str, dict[str, tuple[float, int]]]:
    """The figures per procedure from the dossiers' and the settlements' events (decoded)."""
    expected: dict[str, dict[str, list[float]]] = {}

    def add(code: str, indicator: str, numerator: float) -> None:
        figures = expected.setdefault(procedure_of[code], {}).setdefault(indicator, [0.0, 0])
        figures[0] += numerator
        figures[1] += 1

    zone = ZoneInfo(PROVINCE.timezone)
    calendar = WorkingCalendar()
    received: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    changes: dict[str, list[tuple[str | None, str, Any]]] = {}
    for event_type, record in events:
        code = record["dossier_code"]
        if event_type == EventTypes.DOSSIER_RECEIVED:
            received[code] = record
        elif event_type == EventTypes.RESULT_RETURNED:
            results[code] = record
        elif event_type == EventTypes.DOSSIER_STATUS_CHANGED:
            changes.setdefault(code, []).append(
                (record["from_status"], record["to_status"], record["changed_at"])
            )
    paid_online = {r["dossier_code"] for _, r in settlements if r["paid_online"]}
    for code, record in received.items():
        procedure = PROVINCE.procedure(record["procedure_code"])
        assert procedure is not None and procedure.processing_unit == "working_days"
        steps = sorted(changes.get(code, []), key=lambda c: c[2])
        refused = any(to == "NOT_ACCEPTED" for _, to, _ in steps)
        result_file = bool(results.get(code, {}).get("document_id"))
        if not refused:  # the DTI's share: refused at intake, received but not in it
            add(code, "online_share", record["channel"] == "ONLINE")
        add(code, "online_dossier_share", record["channel"] == "ONLINE" and result_file)
        add(code, "electronic_result_share", result_file)  # every procedure here has a paper result
        if procedure.fee_vnd > 0:
            add(code, "online_payment_share", code in paid_online)
        # 2.1: the end of processing (processed first), the citizen's waits subtracted
        ends = [at for _, to, at in steps if to == "PROCESSED"] or [
            at for _, to, at in steps if to in ("NOT_ACCEPTED", "STOPPED", "WITHDRAWN")
        ]
        end = ends[0]
        waited = sum(
            (
                next(at2 for frm2, _, at2 in steps if frm2 == to and at2 >= at) - at
                for _, to, at in steps
                if to in ("SUPPLEMENT_REQUESTED", "PAYMENT_REQUESTED")
            ),
            dt.timedelta(),
        )
        requests = sum(1 for _, to, _ in steps if to == "SUPPLEMENT_REQUESTED")
        effective = (end - waited).astimezone(zone).date()
        add(code, "on_time_rate", requests <= 1 and effective <= record["appointment_date"])
        if any(to == "PROCESSED" for _, to, _ in steps):
            days = calendar.working_days_between(record["received_at"].astimezone(zone).date(), effective)
            add(code, "average_processing_time", days)
    return {p: {i: (f[0], int(f[1])) for i, f in by.items()} for p, by in expected.items()}


@dataclass
class Counted:
    """The reporting service's answers once they count everything the scenario did, and the reference."""

    by_procedure: dict[str, Any]
    by_agency: dict[str, Any]
    expected: dict[str, dict[str, tuple[float, int]]]
    issued: list[dict[str, Any]]


def counted(scenario: Scenario) -> Counted:
    """Wait until every dossier is final and every document issued, and the indicators per procedure match
    the reference from the events, and every registered document is counted as issued and signed."""
    at_rest(scenario)
    expected = expected_by_procedure(scenario)

    differences: list[str] = []

    def matches() -> dict[str, Any] | None:
        report = scenario.indicators(by="procedure")
        got = {g["procedure"]["code"]: g for g in report["groups"] if g["procedure"] is not None}
        differences[:] = (
            [f"procedures {sorted(got)} instead of {sorted(expected)}"] if set(got) != set(expected) else []
        )
        for procedure, indicators in expected.items():
            for indicator, (numerator, denominator) in indicators.items():
                found = got.get(procedure, {}).get("indicators", {}).get(indicator)
                if (
                    found is None
                    or found["denominator"] != denominator
                    or abs(found["numerator"] - numerator) > 0.01
                ):
                    differences.append(
                        f"{procedure} {indicator}: {found} instead of {numerator}/{denominator}"
                    )
        return None if differences else report

    try:
        by_procedure = scenario.poll(matches, "the indicators per procedure matching the events", timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: " + "; ".join(differences[:10])) from None

    def documents_counted() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        events = scenario.events(Topics.OUTGOING_DOCUMENTS)
        registered = [r for t, r in events if t == EventTypes.DOCUMENT_REGISTERED]
        issued = [r for t, r in events if t == EventTypes.DOCUMENT_ISSUED]
        report = scenario.indicators(by="agency")
        signed = report["totals"]["indicators"]["signed_document_share"]
        done = len(issued) == len(registered) == signed["denominator"] == signed["numerator"]
        return (report, issued) if done else None

    by_agency, issued = scenario.poll(
        documents_counted, "every outgoing document issued and counted", timeout=60
    )
    return Counted(by_procedure, by_agency, expected, issued)


def test_the_indicators_count_the_journey(scenario: Scenario) -> None:
    found = counted(scenario)
    expected = found.expected
    accepted = scenario.bodies[: DOSSIERS - 1]  # the last applicant is refused at intake
    channels = Counter(body["procedure_code"] for body in accepted if body["channel"] == "ONLINE")
    online = {p: int(e["online_share"][0]) for p, e in expected.items() if "online_share" in e}
    assert {p: n for p, n in online.items() if n} == dict(channels)
    late = sum(e["on_time_rate"][1] - e["on_time_rate"][0] for e in expected.values() if "on_time_rate" in e)
    assert late >= 1 and any("online_payment_share" in e for e in expected.values())

    totals = found.by_procedure["totals"]
    assert totals["counts"]["received"] == DOSSIERS
    assert totals["counts"]["not_accepted"] == 1
    assert totals["indicators"]["online_share"]["denominator"] == DOSSIERS - 1
    assert totals["counts"]["stopped"] == sum(1 for b in accepted if b["procedure_code"] == REFUSED)
    assert totals["counts"]["results"] == DOSSIERS - 1 - totals["counts"]["stopped"]
    # QĐ 766 2.1: every dossier received is in the on-time rate, refused and stopped ones too
    assert totals["indicators"]["on_time_rate"]["denominator"] == DOSSIERS
    assert totals["indicators"]["on_time_rate"]["value"] == round((DOSSIERS - late) / DOSSIERS, 4)

    # Outgoing documents: the letters and the departments' signed decisions, each issued with a signature.
    assert set(scenario.documents) <= {r["document_id"] for r in found.issued}
    assert found.by_agency["totals"]["indicators"]["signed_document_share"]["value"] == 1.0
    issuers = Counter(r["issuing_agency"]["code"] for r in found.issued)
    documents = {
        g["agency"]["code"]: g["counts"]["documents"]
        for g in found.by_agency["groups"]
        if g["counts"]["documents"]
    }
    assert documents == dict(issuers) and len(issuers) >= 2

    # The months add up to the totals, and a filter keeps its group only.
    by_month = scenario.indicators(by="month")
    assert sum(g["counts"]["received"] for g in by_month["groups"]) == DOSSIERS
    month = by_month["groups"][0]["month"]
    only = scenario.indicators(by="month", month=month)
    assert [g["month"] for g in only["groups"]] == [month]
    assert only["totals"] == {k: by_month["groups"][0][k] for k in ("indicators", "counts")}


def test_a_wrong_query_is_refused_naming_the_parameter(scenario: Scenario) -> None:
    with scenario.reporting as client:
        answer = client.get("/api/v1/indicators", params={"by": "district", "month": "11/2026"})
    assert answer.status_code == 400
    assert {e["field"] for e in answer.json()["errors"]} == {"by", "month"}


def chromium() -> str:
    path = os.environ.get("EGOV_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = (
            "no Chromium: install the OS package (Debian: apt-get install chromium) or set EGOV_CHROMIUM"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def shown(text: str) -> float | None:
    """The number a figure shows: '83.3 %' → 0.833, '4.52 ngày làm việc' → 4.52, '—' → None."""
    if text.strip() == "—":
        return None
    number = float(re.match(r"[\d.]+", text.strip()).group())  # type: ignore[union-attr]
    return number / 100 if text.strip().endswith("%") else number


def test_the_dashboard_shows_the_figures_of_the_json(scenario: Scenario, tmp_path: Any) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    counted(scenario)  # the figures have stopped moving: they count everything the scenario did
    reports = {by: scenario.indicators(by=by) for by in ("agency", "month", "procedure")}
    definitions = {d["id"]: d for d in reports["agency"]["definitions"]}

    def in_json(group: str, indicator: str) -> dict[str, Any]:
        if group == "total":
            return dict(reports["agency"]["totals"]["indicators"][indicator])
        dimension, _, value = group.partition("=")
        for g in reports[dimension]["groups"]:
            key = g[dimension] if dimension == "month" else (g[dimension] or {}).get("code", "")
            if (key or "") == value:
                return dict(g["indicators"][indicator])
        raise AssertionError(f"the page shows group {group}, which the JSON does not have")

    def check(figures: list[dict[str, str]]) -> None:
        for figure in figures:
            expected = in_json(figure["group"], figure["indicator"])
            where = f"{figure['group']} / {figure['indicator']}: page {figure['text']!r}, JSON {expected}"
            numerator = "null" if expected["numerator"] is None else str(expected["numerator"])
            assert figure["numerator"] == numerator.removesuffix(".0"), where
            assert figure["denominator"] == str(expected["denominator"]), where
            value = shown(figure["text"])
            if expected["value"] is None:
                assert value is None, where
            else:
                # Shown to 0.1 % or 0.01 of a time unit: at most half of that away from the exact quotient.
                exact = expected["numerator"] / expected["denominator"]
                half_step = 0.0005 if definitions[figure["indicator"]]["unit"] == "ratio" else 0.005
                assert value is not None and abs(value - exact) <= half_step + 1e-9, where

    read_figures = """els => els.map(e => ({group: e.dataset.group, indicator: e.dataset.indicator,
        numerator: e.dataset.numerator, denominator: e.dataset.denominator, text: e.textContent}))"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(scenario.stack.services["reporting"].url + "/")
            page.wait_for_selector("body[data-generated-at]", timeout=15000)
            assert page.inner_text("#error") == ""
            tiles = page.eval_on_selector_all("#totals [data-figure]", read_figures)
            assert [t["indicator"] for t in tiles] == list(definitions)
            check(tiles)
            cells = page.eval_on_selector_all("#by-procedure [data-figure]", read_figures)
            assert len(cells) == len(definitions) * len(reports["procedure"]["groups"])
            check(cells)
            for indicator in definitions:
                page.select_option("#indicator", indicator)
                page.wait_for_selector(f"body[data-indicator='{indicator}']")
                for dimension in ("agency", "month"):
                    bars = page.eval_on_selector_all(f"#by-{dimension} [data-figure]", read_figures)
                    with_data = [
                        g
                        for g in reports[dimension]["groups"]
                        if g["indicators"][indicator]["value"] is not None
                    ]
                    assert len(bars) == len(with_data), (dimension, indicator)
                    assert {b["indicator"] for b in bars} <= {indicator}
                    check(bars)
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            browser.close()
