"""Every service as several workers (docs/adr/0016): the portal's look-ups and the reporting service's
indicators answered right whichever worker receives them, and still after one worker dies.

Each worker is asked directly (no load balancer in between): a worker that does not hold a key's partition
must hand the request to the one that does, and the indicators must count every partition once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from egov.platform.province import get_province
from egov.runtime.placement import partition_of
from egov.runtime.settings import Settings
from egov.tools.identity.signin import PortalAuth
from egov.tools.samples import submission
from services.population.domain import get_register
from tests.integration.conftest import Stack, run_stack, wait_until

pytestmark = pytest.mark.integration

PROVINCE = get_province("binh-thuan")
CODES = [p.code for p in PROVINCE.procedures]
DOSSIERS = 8


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tests.integration.conftest import new_settings

    settings = new_settings(kafka_bootstrap, tmp_path_factory.mktemp("scale-out") / "state")
    with run_stack(settings, ("portal", "onestop", "reporting"), workers=2) as running:
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
    for name in ("portal", "onestop", "reporting"):
        held = [set(health(w.url)["partitions"]) for w in stack.workers[name]]
        assert all(held), f"{name}: a worker holds no partition: {held}"
        assert held[0].isdisjoint(held[1]) and held[0] | held[1] == set(range(stack.settings.partitions))
        assert {health(w.url)["workers"] for w in stack.workers[name]} == {2}


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
        assert view["dossier_code"] == dossier["code"] and view["status"] == "NEWLY_REGISTERED"
        assert public["status_code"] == 1


def test_the_indicators_are_whole_from_every_reporting_worker(stack: Stack, submitted: list) -> None:  # type: ignore[type-arg]
    def received(url: str) -> int | None:
        answer = httpx.get(f"{url}/api/v1/indicators", timeout=10.0)
        return int(answer.json()["totals"]["counts"]["received"]) if answer.status_code == 200 else None

    for worker in stack.workers["reporting"]:
        wait_until(
            lambda w=worker: received(w.url) == DOSSIERS, "not every dossier counted", 60, logs=stack.logs
        )


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
