"""Every service as two workers (docs/adr/0016): the citizen journey, the document exchange and the indicators
answered right whichever worker receives a request, and still after one worker dies.

One stack of every service but the audit, each as two workers. The portal's look-ups are asked of each worker
directly (no load balancer in between): a worker that does not hold a key's partition must hand the request
to the one that does. The journey and the document exchange go through clients that send each request to the
next worker in turn (`Stack.portal`, `Stack.documents`), as a load balancer would; the indicators must count
every partition once, whichever worker adds them up.
"""

from __future__ import annotations

import base64
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from egov.contracts.topics import Topics
from egov.platform.province import get_province
from egov.runtime.placement import partition_of
from egov.runtime.settings import Settings
from egov.tools.identity.realms import official
from egov.tools.identity.signin import PortalAuth
from egov.tools.samples import submission
from services import SERVICES
from services.population.domain import get_register
from tests.integration.conftest import (
    Stack,
    approve_when_recorded,
    fast_clock_env,
    new_settings,
    run_stack,
    wait_until,
)
from tests.integration.kafka_helpers import collect

pytestmark = pytest.mark.integration

PROVINCE = get_province("binh-thuan")
CODES = [p.code for p in PROVINCE.procedures]
DOSSIERS = 8
#: Every service but the audit (its chain per partition with several workers: tests/unit/test_audit.py).
NAMES = tuple(name for name in SERVICES if name != "audit")
#: Every department decides the day a dossier is assigned; every agency completes a document the day it
#: arrives: each dossier reaches RESULT_RETURNED and each document COMPLETED within seconds.
AGENCY_PROFILE = {"default": {"duration_days": 0, "supplement_chance": 0.0, "reject_chance": 0.0}}
DOCUMENTS_PROFILE = {"default_days": 0, "agencies": {}}
SENDER, RECIPIENT = "000.00.04.H11", "000.00.16.H11"
THROUGH_06 = ["ARRIVED", "ACCEPTED", "ASSIGNED", "IN_PROGRESS", "COMPLETED"]


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("scale-out")
    settings = new_settings(kafka_bootstrap, folder / "state")
    (folder / "agency.yaml").write_text(yaml.safe_dump(AGENCY_PROFILE), encoding="utf-8")
    (folder / "documents.yaml").write_text(yaml.safe_dump(DOCUMENTS_PROFILE), encoding="utf-8")
    env = {
        **fast_clock_env(5.0),
        "EGOV_AGENCY_PROFILE": str(folder / "agency.yaml"),
        "EGOV_DOCUMENTS_PROFILE": str(folder / "documents.yaml"),
    }
    with run_stack(settings, NAMES, env=env, workers=2) as running:
        yield running


def health(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/health", timeout=5.0).json())


def worker_client(stack: Stack, worker: int, auth: httpx.Auth | None = None) -> httpx.Client:
    return httpx.Client(base_url=stack.workers["portal"][worker].url, timeout=10.0, auth=auth)


@pytest.fixture(scope="module")
def submitted(stack: Stack) -> list[dict[str, Any]]:
    """Dossiers submitted to both portal workers in turn, each with its submission id and dossier code."""
    rng = random.Random(16)
    people = get_register().answering()
    auth = PortalAuth(stack.sign_in, stack.settings.province)
    found = []
    for i in range(DOSSIERS):
        body = submission(rng, CODES)
        body["applicant"] = people[i].as_citizen()
        headers = {"Idempotency-Key": f"scale-out-{i}"} if i % 2 else {}
        with worker_client(stack, i % 2, auth) as client:
            answer = client.post("/api/v1/dossiers", json=body, headers=headers)
        assert answer.status_code == 202, answer.text
        found.append({"body": body, "submission_id": answer.json()["submission_id"]})
    with worker_client(stack, 0, auth) as client:
        for dossier in found:

            def code(dossier: dict[str, Any] = dossier) -> str | None:
                answer = client.get(f"/api/v1/submissions/{dossier['submission_id']}")
                assert answer.status_code == 200, answer.text
                return answer.json().get("dossier_code")

            dossier["code"] = wait_until(code, "no dossier code", 60, logs=stack.logs)
    return found


def test_each_worker_holds_its_own_share_of_the_partitions(stack: Stack) -> None:
    for name in NAMES:
        held = [set(health(w.url)["partitions"]) for w in stack.workers[name]]
        assert all(held), f"{name}: a worker holds no partition: {held}"
        assert held[0].isdisjoint(held[1]) and held[0] | held[1] == set(range(stack.settings.partitions))
        assert {health(w.url)["workers"] for w in stack.workers[name]} == {2}


def test_every_dossier_completes_and_each_notice_is_sent_once(stack: Stack, submitted: list) -> None:  # type: ignore[type-arg]
    # Given the dossiers submitted to both portal workers, followed through either worker in turn
    with stack.portal as client:
        for dossier in submitted:

            def returned(code: str = dossier["code"]) -> dict[str, Any] | None:
                view = client.get(f"/api/v1/dossiers/{code}").json()
                return view if view.get("status") == "RESULT_RETURNED" else None

            view = wait_until(returned, f"{dossier['code']} not returned", 180, logs=stack.logs)
            # Then each went the whole way once: received, accepted, in progress, …, result returned
            codes = [step["status_code"] for step in view["history"]]
            assert codes[0] == 1 and codes[-1] == 10 and len(codes) == len(set(codes)), codes
    # and each citizen was told each thing once, whichever notify worker held the dossier's partition
    wanted = {d["code"] for d in submitted}

    def told(records: list[Any]) -> bool:
        ready = {r.key.decode() for r in records if r.decoded()["template"] == "result_ready"}
        return wanted <= ready

    records = collect(
        stack.settings.kafka_bootstrap_servers, stack.topic(Topics.NOTIFICATIONS), until=told, timeout=60
    )
    notices = [r.decoded() for r in records if r.key.decode() in wanted]
    twice = [n for n, count in Counter(n["notification_id"] for n in notices).items() if count > 1]
    assert not twice, f"notices sent twice: {twice}"
    per_dossier = Counter(
        (n["dossier_code"], n["template"]) for n in notices if n["template"] in ("received", "result_ready")
    )
    assert sorted(per_dossier.values()) == [1] * 2 * DOSSIERS, per_dossier


def test_every_look_up_is_answered_alike_by_every_portal_worker(stack: Stack, submitted: list) -> None:  # type: ignore[type-arg]
    # Given dossiers whose codes and submissions sit on partitions of both workers
    partitions = stack.settings.partitions
    held = [set(health(w.url)["partitions"]) for w in stack.workers["portal"]]
    owners = {
        next(i for i, mine in enumerate(held) if partition_of(d["code"], partitions) in mine)
        for d in submitted
    }
    assert owners == {0, 1}, "the sample should have dossiers on both workers' partitions"
    auth = PortalAuth(stack.sign_in, stack.settings.province)
    for dossier in submitted:
        applicant = auth.of_applicant(dossier["body"])
        answers = []
        for worker in (0, 1):
            with worker_client(stack, worker, applicant) as client:
                answers.append(
                    (
                        client.get(f"/api/v1/submissions/{dossier['submission_id']}").json(),
                        client.get(f"/api/v1/dossiers/{dossier['code']}").json(),
                        client.get(f"/api/v1/public/dossiers/{dossier['code']}").json(),
                    )
                )
        # Then both workers give the same answers: the code, the applicant's view, the public status
        assert answers[0] == answers[1]
        status, view, public = answers[0]
        assert status["dossier_code"] == dossier["code"]
        assert view["dossier_code"] == dossier["code"] and view["status"] == "RESULT_RETURNED"
        assert public["status_code"] == 10


def test_a_document_reaches_another_agency_through_both_workers(stack: Stack) -> None:
    # Given a clerk of the sender whose requests go to the document system's workers in turn
    signer = {k: v for k, v in official(SENDER, "leader").as_official().items() if k != "agency"}
    body = {
        "issuing_agency": SENDER,
        "recipients": [RECIPIENT],
        "document_type": "Công văn",
        "symbol": "SKHĐT-KT",
        "summary": "Về việc phối hợp (hai tiến trình mỗi dịch vụ)",
        "signer": signer,
        "file_name": "cong-van.txt",
        "media_type": "text/plain; charset=utf-8",
        "content_base64": base64.b64encode("Công văn phối hợp.".encode()).decode(),
    }
    with stack.documents(SENDER) as client:
        answer = client.post("/api/v1/documents", json=body)
        assert answer.status_code == 202, answer.text
        draft = answer.json()["draft_id"]
        # When its register numbers it (the draft's status answered by the worker holding the agency's key)
        document = wait_until(
            lambda: client.get(f"/api/v1/drafts/{draft}").json()["document_id"],
            "the draft not registered",
            60,
            logs=stack.logs,
        )
        # and its signer approves it (the document's key may sit on the other worker)
        approved = approve_when_recorded(client, document, logs=stack.logs)
        assert approved.status_code == 202, approved.text

        def completed() -> dict[str, Any] | None:
            view = client.get("/api/v1/documents/by-id", params={"id": document}).json()
            statuses = (view.get("outgoing") or {}).get("statuses", {})
            history = [s["status"] for s in statuses.get(RECIPIENT, [])]
            return view if history[-1:] == ["COMPLETED"] else None

        view = wait_until(completed, "the document not completed by its recipient", 90, logs=stack.logs)
    statuses = [s["status"] for s in view["outgoing"]["statuses"][RECIPIENT]]
    assert statuses == THROUGH_06
    # Then every worker of the document system answers the same view of it
    views = [
        httpx.get(f"{w.url}/api/v1/documents/by-id", params={"id": document}, headers=headers, timeout=10)
        for w in stack.workers["documents"]
        for headers in [{"Authorization": f"Bearer {stack.sign_in.official(f'{SENDER}/van-thu-01')}"}]
    ]
    assert [v.status_code for v in views] == [200, 200] and views[0].json() == views[1].json()


def test_the_indicators_are_whole_from_every_reporting_worker(stack: Stack, submitted: list) -> None:  # type: ignore[type-arg]
    def counts(url: str) -> dict[str, int] | None:
        answer = httpx.get(f"{url}/api/v1/indicators", params={"by": ""}, timeout=10.0)
        if answer.status_code != 200:
            return None
        found = {k: int(v) for k, v in answer.json()["totals"]["counts"].items()}
        return found if found["received"] == DOSSIERS and found["results"] == DOSSIERS else None

    # Then each reporting worker adds up every worker's part: every dossier received and returned, once
    wholes = [
        wait_until(lambda w=worker: counts(w.url), "not every dossier counted", 120, logs=stack.logs)
        for worker in stack.workers["reporting"]
    ]
    assert wholes[0] == wholes[1]


def test_when_a_worker_dies_the_other_answers_for_all_its_keys(stack: Stack, submitted: list) -> None:  # type: ignore[type-arg]
    # Given the second worker of the portal and of reporting killed at once, as a crash would
    for name in ("portal", "reporting"):
        stack.workers[name][1].kill()
    survivor = stack.workers["portal"][0]
    # Then, once the group's session of the dead worker runs out, the survivor holds every partition
    everything = list(range(stack.settings.partitions))
    timeout = Settings().kafka_session_timeout * 3 + 30

    def holds_everything(url: str) -> bool:
        answer = health(url)
        return answer["status"] == "ok" and answer["partitions"] == everything

    for name in ("portal", "reporting"):
        url = stack.workers[name][0].url
        wait_until(lambda u=url: holds_everything(u), f"{name}'s survivor holding every partition", timeout)
    # and answers every look-up, with the state of the dead worker's partitions read back
    auth = PortalAuth(stack.sign_in, stack.settings.province)
    with httpx.Client(base_url=survivor.url, timeout=10.0, auth=auth) as client:
        for dossier in submitted:
            public = client.get(f"/api/v1/public/dossiers/{dossier['code']}")
            assert public.status_code == 200 and public.json()["dossier_code"] == dossier["code"]
    answer = httpx.get(f"{stack.workers['reporting'][0].url}/api/v1/indicators", timeout=10.0)
    assert answer.status_code == 200 and answer.json()["totals"]["counts"]["received"] == DOSSIERS
