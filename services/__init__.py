"""The services of the architecture, one package each, all of the same shape:

- `domain.py`: the rules as pure functions and small state machines (no Kafka, no I/O, no clock reads);
- `app.py`: wiring only (topics, agents, tables, web views), translating events to domain calls.

`SERVICES` lists them with their default HTTP port; the stack, the Docker compose file and the tests take
the list from here.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from egov.runtime.service import Service

#: Every service, with the default port of its HTTP server (health endpoint, and the portal's API).
SERVICES: dict[str, int] = {
    "portal": 8080,
    "onestop": 8081,
    "lgsp": 8082,
    "population": 8083,
    "agency": 8084,
    "payment": 8085,
    "notify": 8086,
    "documents": 8087,
    "signing": 8088,
    "audit": 8089,
    "reporting": 8090,
}


def service_port(name: str) -> int:
    """The port a service listens on in the local stack: `EGOV_<NAME>_PORT`, else its default."""
    return int(os.environ.get(f"EGOV_{name.upper()}_PORT") or SERVICES[name])


def load_services() -> dict[str, Service]:
    """Every service's `Service`, by name in `SERVICES` order: its wiring as the code declares it
    (importing an app builds its Faust app and connects to nothing)."""
    return {name: importlib.import_module(f"services.{name}.app").service for name in SERVICES}
