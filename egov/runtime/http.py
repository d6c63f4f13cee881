"""The services' HTTP APIs, independent of the web framework: a route is an async function from an
`HttpRequest` to an `HttpResponse` (or a JSON body), and a refusal is an `HttpError` carrying the same error
body every API answers with (`egov.contracts.errors`).

The Faust engine serves the routes with its web server; the fake runtime of the handler tests calls them
directly. What every API does the same way lives here once: reading a JSON body (400 naming the body when it
is not JSON, nested deeper than `MAX_JSON_DEPTH` or holding an unpaired surrogate), refusing a body larger
than the route takes (413), answering a refusal, and an unexpected failure as a 500 that is logged, never a
stack trace.

A route declares what it takes and answers as an `Operation` (its body's model, its parameters, the statuses
it answers with their models and examples): the OpenAPI documents are generated from these declarations
(egov.runtime.openapi), and the body model is the one the route validates with, so the description and the
checks cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from egov.contracts.errors import FieldError, error_body
from egov.runtime.auth import Person

#: How deep a JSON body may nest objects and arrays: the deepest contract (a dossier's attachment in its
#: list, a contact's address) needs 4; a deeper body is refused before anything walks it.
MAX_JSON_DEPTH = 32
#: The largest body a route takes unless it says otherwise: a dossier's metadata (its files travel apart,
#: by their hash) with the most files and form fields the rules allow fits well within it.
DEFAULT_MAX_BODY_BYTES = 256 * 1024


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
        """The body as JSON, or a 400 naming the body (not JSON, too deep, not encodable text)."""
        try:
            value = json.loads(self.body.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HttpError.one(400, "(body)", "json", f"is not valid JSON: {exc}") from None
        except RecursionError:
            value = None
            depth = MAX_JSON_DEPTH + 1
        else:
            depth = _check_json(value)
        if depth > MAX_JSON_DEPTH:
            message = f"nests objects and arrays deeper than {MAX_JSON_DEPTH} levels"
            raise HttpError.one(400, "(body)", "depth", message)
        return value


def _check_json(value: Any) -> int:
    """The nesting depth of a parsed JSON value (without recursion); a 400 for a string with an unpaired
    surrogate (`"\\ud800"` is valid JSON but no text: it cannot be encoded as UTF-8)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Sequence[Any] = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, str):
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    message = "holds a string with an unpaired surrogate (\\uD800–\\uDFFF): not text"
                    raise HttpError.one(400, "(body)", "unicode", message) from None
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest


JSON = "application/json"


@dataclass(frozen=True)
class HttpResponse:
    """A JSON body (or text of another media type: an HTML page, metrics) with its status."""

    body: Any
    status: int = 200
    media_type: str = JSON

    @property
    def html(self) -> bool:
        return self.media_type == "text/html"


Route = Callable[[HttpRequest], Awaitable["HttpResponse | dict[str, Any]"]]


# -- what a route declares -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """One status a route answers: what it means, the body's model (None: the error body for a refusal, no
    model for an HTML page) and an example of it."""

    description: str
    model: type[BaseModel] | None = None
    example: Any = None
    #: The media type of a body that is not JSON (HTML, the Prometheus text format).
    media_type: str = "text/html"


def refusal(description: str, field: str, rule: str, message: str) -> Reply:
    """A refusal the route answers, with an example of its error body."""
    return Reply(description, example=error_body([FieldError(field, rule, message)]))


@dataclass(frozen=True)
class Parameter:
    """A path, query or header parameter of a route, with its JSON Schema."""

    name: str
    where: Literal["path", "query", "header"]
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    example: str | None = None


@dataclass(frozen=True)
class Operation:
    """What a route takes and answers, as its OpenAPI operation shows it. The runtime adds what it does for
    every route: 401, 403 and 503 for a route that needs a token, 400 and 413 for one with a JSON body, and
    503 and 413 for one that records its request on a topic (`publishes`)."""

    summary: str
    replies: Mapping[int, Reply]
    description: str = ""
    #: The model of the JSON body: the one the route validates the body with.
    body: type[BaseModel] | None = None
    body_example: Any = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    parameters: tuple[Parameter, ...] = ()
    #: The request is recorded as an event (503 while the broker is away, 413 for a record it refuses).
    publishes: bool = False


def limit_body(route: Route, max_bytes: int) -> Route:
    """The route, refusing a body larger than `max_bytes` with a 413 before it runs."""

    async def limited(request: HttpRequest) -> HttpResponse | dict[str, Any]:
        if len(request.body) > max_bytes:
            message = f"is {len(request.body)} bytes; this API takes at most {max_bytes}"
            raise HttpError.one(413, "(body)", "size", message)
        return await route(request)

    return limited


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
