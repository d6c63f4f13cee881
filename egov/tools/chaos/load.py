"""Citizens submitting dossiers through the portal: at a steady rate, or as fast as the portal takes them.

Each citizen signs in at the identity provider (the VNeID stand-in) and submits online in their own name, with
an `Idempotency-Key`: a request that fails (a worker killed, a 503 while partitions move, a time-out) is sent
again with the same key, to the next portal worker, until the portal takes it, and is recorded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from egov.platform.people import FictionalUsers
from egov.runtime.auth import password_grant
from egov.tools.identity.realms import CLI_CLIENT, citizens_with_accounts
from egov.tools.samples import submission

#: Seconds a citizen's token is reused (the realm's tokens live 300 s).
TOKEN_REUSE = 120.0
#: Seconds a submission is tried for before it counts as refused.
SUBMIT_DEADLINE = 180.0
#: Seconds between two tries of one submission.
RETRY_DELAY = 0.5


@dataclass
class Submitted:
    """One submission as the load sent it."""

    index: int
    key: str
    procedure_code: str
    first_try: float
    accepted_at: float | None = None
    submission_id: str | None = None
    attempts: int = 0
    #: What the failed tries got (status codes or errors), for the report.
    failures: list[str] = field(default_factory=list)


class Citizens:
    """Fictional citizens with an account at the VNeID stand-in, signed in when needed."""

    def __init__(self, issuer: str, *, count: int = 40, seed: int = 2017) -> None:
        people = [p for p in citizens_with_accounts() if p.answers]
        self.people = random.Random(seed).sample(people, min(count, len(people)))
        self.issuer = issuer
        self.password = FictionalUsers.load().citizen_password
        self._tokens: dict[str, tuple[float, str]] = {}

    async def token(self, id_number: str) -> str:
        cached = self._tokens.get(id_number)
        if cached and time.monotonic() - cached[0] < TOKEN_REUSE:
            return cached[1]
        token = await password_grant(
            self.issuer,
            client_id=CLI_CLIENT,
            username=id_number,
            password=self.password,
            audiences=("portal",),
        )
        self._tokens[id_number] = (time.monotonic(), token)
        return token


class Load:
    """Submits dossiers to the portal's workers in turn."""

    def __init__(
        self, portal_urls: Sequence[str], citizens: Citizens, procedures: Sequence[str], *, run: str
    ) -> None:
        self.urls = list(portal_urls)
        self.citizens = citizens
        self.procedures = list(procedures)
        self.run = run
        self.rng = random.Random(run)
        self.sent: list[Submitted] = []
        self._turn = 0

    def _body(self, index: int) -> dict[str, Any]:
        body = submission(self.rng, self.procedures)
        body["channel"] = "ONLINE"  # the citizen submits in their own name, signed in
        body["applicant"] = self.citizens.people[index % len(self.citizens.people)].as_citizen()
        return body

    async def submit(self, client: httpx.AsyncClient, index: int) -> Submitted:
        body = self._body(index)
        entry = Submitted(index, f"{self.run}-{index}", body["procedure_code"], time.monotonic())
        self.sent.append(entry)
        while time.monotonic() - entry.first_try < SUBMIT_DEADLINE:
            url = self.urls[self._turn % len(self.urls)]
            self._turn += 1
            entry.attempts += 1
            try:
                token = await self.citizens.token(body["applicant"]["id_number"])
                answer = await client.post(
                    f"{url}/api/v1/dossiers",
                    json=body,
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": entry.key},
                )
            except (httpx.HTTPError, OSError) as exc:
                entry.failures.append(type(exc).__name__)
            else:
                if answer.status_code == 202:
                    entry.accepted_at = time.monotonic()
                    entry.submission_id = str(answer.json()["submission_id"])
                    return entry
                entry.failures.append(str(answer.status_code))
                if answer.status_code < 500 and answer.status_code not in (401, 408, 429):
                    return entry  # refused for good (a 4xx naming a field): not a fault to ride out
            await asyncio.sleep(RETRY_DELAY)  # back-off before the same submission is sent again
        return entry

    async def steady(self, rate: float, stop: asyncio.Event) -> list[Submitted]:
        """`rate` submissions a second until `stop` is set, each tried until the portal takes it."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            tasks: list[asyncio.Task[Submitted]] = []
            first = len(self.sent)
            start = time.monotonic()
            while not stop.is_set():
                tasks.append(asyncio.create_task(self.submit(client, first + len(tasks))))
                # the next submission's time on the steady schedule
                delay = max(0.0, start + len(tasks) / rate - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            return list(await asyncio.gather(*tasks))

    async def flood(self, count: int, concurrency: int) -> list[Submitted]:
        """`count` submissions, `concurrency` at a time, as fast as the portal takes them."""
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=30.0) as client:

            async def one(index: int) -> Submitted:
                async with gate:
                    return await self.submit(client, index)

            return list(await asyncio.gather(*(one(i) for i in range(count))))
