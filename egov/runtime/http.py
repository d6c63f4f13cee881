"""The services' HTTP APIs, independent of the web framework: a route is an async function from an
`HttpRequest` to an `HttpResponse` (or a JSON body), and a refusal is an `HttpError` carrying the same error
body every API answers with (`egov.contracts.errors`).

The Faust engine serves the routes with its web server; the fake runtime of the handler tests calls them
directly. What every API does the same way lives here once: reading a JSON body (400 naming the body when it
is not JSON), answering a refusal, and an unexpected failure as a 500 that is logged, never a stack trace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from egov.contracts.errors import FieldError, error_body
from egov.runtime.auth import Person


class HttpError(Exception):
    """A request refused with `status` and one entry per wrong field, in the error body of every API."""

    def __init__(self, status: int, errors: Sequence[FieldError]) -> None:
        super().__init__(f"{status}: " + "; ".join(map(str, errors)))
        self.status = status
        self.errors = list(errors)

    @classmethod
    def one(cls, status: int, field: str, rule: str, message: str) -> HttpError:
        return cls(status, [FieldError(field, rule, message)])


@dataclass(frozen=True)
class HttpRequest:
    """What a route sees of a request."""

    method: str
    path: str
    #: The path's parameters (`/api/v1/dossiers/{dossier_code}` → {"dossier_code": …}).
    params: Mapping[str, str] = field(default_factory=dict)
    #: The query string's pairs in order (a parameter may repeat: routes that refuse repeats can tell).
    query: tuple[tuple[str, str], ...] = ()
    #: Header names in lower case.
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Who makes the request, as its bearer token says (None on a public route, or with EGOV_AUTH=off).
    person: Person | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_value(self, name: str, default: str = "") -> str:
        """The first value of a query parameter."""
        return next((v for k, v in self.query if k == name), default)

    def json(self) -> Any:
        """The body as JSON, or a 400 naming the body."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HttpError.one(400, "(body)", "json", f"is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class HttpResponse:
    """A JSON body (or an HTML page) with its status."""

    body: Any
    status: int = 200
    html: bool = False


Route = Callable[[HttpRequest], Awaitable["HttpResponse | dict[str, Any]"]]


def error_response(exc: HttpError) -> HttpResponse:
    return HttpResponse(error_body(exc.errors), status=exc.status)


async def answer(route: Route, request: HttpRequest, log: Any) -> HttpResponse:
    """Run a route: its response, its refusal as the error body, or a logged 500 for anything else."""
    try:
        result = await route(request)
    except HttpError as exc:
        return error_response(exc)
    except Exception:
        log.exception("http.failed", method=request.method, path=request.path)
        return error_response(HttpError.one(500, "(service)", "internal", "the service failed to answer"))
    return result if isinstance(result, HttpResponse) else HttpResponse(result)


_PARAM = re.compile(r"\{(\w+)\}")


def match(template: str, path: str) -> dict[str, str] | None:
    """The parameters of `path` under a route template such as `/api/v1/dossiers/{dossier_code}`, or None
    when it does not match (a parameter is one path segment)."""
    parts = _PARAM.split(template)  # literal, name, literal, name, ..., literal
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    found = re.fullmatch(pattern, path)
    return found.groupdict() if found else None
