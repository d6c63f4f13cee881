"""The services of the architecture, one package each, all of the same shape:

- `domain.py`: the rules as pure functions and small state machines (no Kafka, no I/O, no clock reads);
- `app.py`: wiring only: `build(settings)` returns the service's `Service` with its topics, handlers,
  tables, timers and HTTP routes (on Faust, or on the fake runtime of the handler tests).

`SERVICES` is the one list of them, with what the stack and the topic registry need to know before any
wiring is loaded; the stack, the Docker compose file, the topic registry's per-service topics and the tests
take it from here.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from egov.contracts.topics import Topics, TopicSpec, dead_letters, timers

if TYPE_CHECKING:
    from egov.runtime.engine import Engine
    from egov.runtime.service import Service
    from egov.runtime.settings import Settings


@dataclass(frozen=True)
class ServiceEntry:
    """One service as the stack knows it before loading its wiring."""

    #: Default port of its HTTP server (health endpoint, and its API where it has one).
    port: int
    #: Keeps durable timers (egov.runtime.timers) on its own internal topic.
    timers: bool = False


#: Every service, in the order the stack starts them.
SERVICES: dict[str, ServiceEntry] = {
    "portal": ServiceEntry(8080),
    "onestop": ServiceEntry(8081, timers=True),
    "lgsp": ServiceEntry(8082, timers=True),
    "population": ServiceEntry(8083),
    "agency": ServiceEntry(8084, timers=True),
    "payment": ServiceEntry(8085),
    "notify": ServiceEntry(8086),
    "documents": ServiceEntry(8087, timers=True),
    "signing": ServiceEntry(8088),
    "audit": ServiceEntry(8089),
    "reporting": ServiceEntry(8090),
}


def service_port(name: str) -> int:
    """The port a service listens on in the local stack: `EGOV_<NAME>_PORT`, else its default."""
    return int(os.environ.get(f"EGOV_{name.upper()}_PORT") or SERVICES[name].port)


def all_topics() -> list[TopicSpec]:
    """Every topic of the architecture: the registry's, and each service's dead letters and timers."""
    return [
        *Topics.all(),
        *(dead_letters(name) for name in SERVICES),
        *(timers(name) for name, entry in SERVICES.items() if entry.timers),
    ]


def build_service(name: str, settings: Settings, engine: Engine | None = None) -> Service:
    """One service's `Service`, built by its wiring function (building connects to nothing)."""
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    app = importlib.import_module(f"services.{name}.app")
    service: Service = app.build(settings, engine=engine)
    return service


def load_services(settings: Settings | None = None) -> dict[str, Service]:
    """Every service's `Service`, by name in `SERVICES` order: its wiring as the code declares it."""
    from egov.runtime.settings import get_settings

    chosen = settings or get_settings()
    return {name: build_service(name, chosen) for name in SERVICES}
