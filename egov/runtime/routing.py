"""HTTP look-ups answered right whichever worker of a service receives them (docs/adr/0016).

A service's tables are partitioned like its topics, and each partition is held by one worker of its consumer
group (egov.runtime.placement). A route that reads a key's state says which key (`Service.route(...,
owner=...)`): the worker that receives the request answers it when it holds that key's partition, and
otherwise hands the request, as it came (method, path, query, headers with the bearer token, body), to the
worker that does, and returns that worker's answer. The owner checks the token again, like any request: no
worker takes another's word for who calls.

While a key's partition is being moved (a rebalance, a worker that died and whose group session has not run
out yet, a worker still reading its tables back), nobody can answer for it: 503 with `Retry-After`, never a
404 from a worker that simply does not hold the key. A request is handed on once at most: a worker that
receives a handed-on request for a key it no longer holds answers 503 (the assignment changed meanwhile).

A question about everything (the indicators) is asked of every worker instead (`gather`), each answering for
the partitions it holds; the caller merges the answers when together they cover every partition once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from egov.runtime.http import HttpError, HttpRequest, HttpResponse, Route
from egov.runtime.placement import Placement

#: Set on a request one worker hands to another: the URL of the worker that handed it on.
ROUTED_HEADER = "egov-routed-from"
#: Seconds a client should wait before asking again while a partition is being moved.
RETRY_AFTER = 1
#: Seconds one worker waits for another's answer.
FORWARD_TIMEOUT = 15.0

#: The key whose partition's worker must answer a request (None: any worker may answer it).
OwnerKey = Callable[[HttpRequest], "str | None"]


class Forwarder(Protocol):
    """How one worker asks another (the engine's HTTP client)."""

    def placement(self) -> Placement | None: ...

    async def forward(self, url: str, request: HttpRequest) -> HttpResponse: ...


def by_param(name: str) -> OwnerKey:
    """The owner is the worker holding the key named by the path parameter `name`."""

    def key(request: HttpRequest) -> str | None:
        return request.params.get(name)

    return key


def moving(what: str) -> HttpError:
    """503: no worker can answer for this key now; the client should ask again in a moment."""
    return HttpError.one(503, "(service)", "rebalancing", f"{what}; try again in a moment")


def routed(route: Route, owner: OwnerKey, engine: Forwarder, is_ready: Callable[[], bool]) -> Route:
    """`route`, answered by the worker that holds the key `owner` finds in the request."""

    async def answer(request: HttpRequest) -> HttpResponse | dict[str, Any]:
        key = owner(request)
        if key is None:
            return await route(request)
        placement = engine.placement()
        if placement is None:
            raise moving("this worker has not been given its partitions yet")
        url = placement.owner(key)
        if url is None:
            raise moving("the partition of this key is moving to another worker")
        if url == placement.me:
            if not is_ready():
                raise moving("this worker is still reading its tables back")
            return await route(request)
        if request.header(ROUTED_HEADER):
            raise moving("the partition of this key moved while the request was handed on")
        headers = {**request.headers, ROUTED_HEADER: placement.me}
        return await engine.forward(url, replace(request, headers=headers))

    return answer


@dataclass(frozen=True)
class Part:
    """One worker's answer for the partitions it holds."""

    url: str
    partitions: frozenset[int]
    body: Mapping[str, Any]


async def gather(
    engine: Forwarder,
    request: HttpRequest,
    path: str,
    local: Callable[[HttpRequest, frozenset[int]], Awaitable[Mapping[str, Any]]],
) -> list[Part]:
    """Ask every worker of the service for its part (this one through `local`, with the partitions it holds;
    the others at `path`, with the request's query), and return the parts when together they cover every
    partition exactly once; 503 otherwise (a partition moving, a worker not answering)."""
    placement = engine.placement()
    if placement is None or not placement.complete:
        raise moving("some partitions are moving between workers")
    others = [url for url in placement.workers if url != placement.me]
    asked = replace(request, path=path, headers={**request.headers, ROUTED_HEADER: placement.me})
    answers = await asyncio.gather(*(engine.forward(url, asked) for url in others))
    mine = placement.mine
    parts = [Part(placement.me, mine, await local(request, mine))] if mine else []
    for url, answer in zip(others, answers, strict=True):
        if answer.status != 200:
            raise moving(f"the worker at {url} answered {answer.status}")
        parts.append(Part(url, frozenset(answer.body["partitions"]), answer.body))
    covered: list[int] = sorted(p for part in parts for p in part.partitions)
    if covered != list(range(placement.partitions)):
        raise moving("the workers' answers do not cover every partition once")
    return parts


def part_body(partitions: Sequence[int] | frozenset[int], body: Mapping[str, Any]) -> dict[str, Any]:
    """A worker's part as it answers it at the `gather` path: its partitions and its figures."""
    return {"partitions": sorted(partitions), **body}
