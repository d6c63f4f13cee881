"""A private slice of the stack per test: its own topic prefix, state folder and ports."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from egov.paths import default_state_dir
from egov.runtime.settings import Settings
from egov.tools.identity.keycloak import IdentityProviderError, LocalIdentityProvider
from egov.tools.identity.signin import DocumentsAuth, PortalAuth, SignIn
from egov.tools.processes import free_port
from egov.tools.provision import provision
from egov.tools.stack import ServiceProcess, running, worker_label
from services import SERVICES

pytestmark = pytest.mark.integration
T = TypeVar("T")


@pytest.fixture(scope="session", autouse=True)
def identity_provider() -> Iterator[SignIn]:
    """The real identity provider of the test session (Keycloak, the realms of infra/keycloak/realms),
    started once on free ports; every service process of the session trusts its issuers. Tests sign the
    fictional people in with the `SignIn` it yields. `EGOV_OIDC_*_ISSUER` given: that provider is used."""
    given = os.environ.get("EGOV_OIDC_CITIZEN_ISSUER"), os.environ.get("EGOV_OIDC_OFFICIAL_ISSUER")
    if all(given):
        yield SignIn(str(given[0]), str(given[1]))
        return
    provider = LocalIdentityProvider(
        home=default_state_dir() / f"test-keycloak-{os.getpid()}",
        port=free_port(),
        management_port=free_port(),
    )
    try:
        provider.start(timeout=300)
    except IdentityProviderError as exc:
        provider.destroy()
        pytest.fail(f"the identity provider did not start: {exc}")
    before = {
        name: os.environ.get(name) for name in ("EGOV_OIDC_CITIZEN_ISSUER", "EGOV_OIDC_OFFICIAL_ISSUER")
    }
    os.environ["EGOV_OIDC_CITIZEN_ISSUER"] = provider.citizen_issuer
    os.environ["EGOV_OIDC_OFFICIAL_ISSUER"] = provider.official_issuer
    try:
        yield SignIn(provider.citizen_issuer, provider.official_issuer)
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        provider.destroy()


#: Workers per service of the test stacks (`EGOV_TEST_WORKERS`, default 1): with 2, every test runs against
#: a stack in which each look-up may land on a worker that does not hold its key.
TEST_WORKERS = int(os.environ.get("EGOV_TEST_WORKERS") or 1)


class RoundRobin(httpx.BaseTransport):
    """Sends each request to the next worker of a service in turn, as a load balancer in front of it would."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = [httpx.URL(url) for url in urls]
        self.turn = itertools.count()
        self.transport = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self.urls[next(self.turn) % len(self.urls)]
        request.url = request.url.copy_with(host=target.host, port=target.port)
        request.headers["host"] = f"{target.host}:{target.port}"
        return self.transport.handle_request(request)

    def close(self) -> None:
        self.transport.close()


@dataclass
class Stack:
    settings: Settings
    #: Each service's first worker.
    services: dict[str, ServiceProcess]
    sign_in: SignIn
    #: Every worker of each service.
    workers: dict[str, list[ServiceProcess]] = field(default_factory=dict)

    def client(self, name: str, auth: httpx.Auth | None = None) -> httpx.Client:
        """A client of the service's API whose requests go to its workers in turn."""
        urls = [w.url for w in self.workers.get(name) or [self.services[name]]]
        return httpx.Client(base_url=urls[0], timeout=10.0, auth=auth, transport=RoundRobin(urls))

    @property
    def portal(self) -> httpx.Client:
        """The portal, as its users call it: the applicant online, a counter officer for the rest."""
        return self.client("portal", PortalAuth(self.sign_in, self.settings.province))

    def documents(self, agency_code: str) -> httpx.Client:
        """The document system, as an agency's clerk (and its leader, to approve and recall) calls it."""
        return self.client("documents", DocumentsAuth(self.sign_in, agency_code))

    def topic(self, spec) -> str:  # type: ignore[no-untyped-def]
        return spec.full_name(self.settings.topic_prefix)

    @property
    def logs(self) -> Path:
        return self.settings.state_dir / "logs"


def wait_until(check: Callable[[], T], failure: str, timeout: float, *, logs: Path | None = None) -> T:
    """`check()` until it returns something true, which is returned; after `timeout` seconds an AssertionError
    saying `failure` (and where the services' logs are)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    where = f"; logs in {logs}" if logs is not None else ""
    raise AssertionError(f"{failure} within {timeout}s{where}")


def approve_when_recorded(client: httpx.Client, document: str, *, logs: Path | None = None) -> httpx.Response:
    """The signer's approval of a document just registered: its record follows the draft's registration by
    a hop (another partition, maybe another worker), so a 404 is asked again, as a department system does."""

    def answered() -> httpx.Response | None:
        approved = client.post("/api/v1/documents/approve", params={"id": document})
        return approved if approved.status_code != 404 else None

    return wait_until(answered, f"no record of {document} to approve", 30, logs=logs)


def new_settings(kafka_bootstrap: str, state_dir: Path) -> Settings:
    """Settings of a private slice of the stack: its own topic prefix and state folder, provisioned as `egov
    up` does (its principals, topics, changelogs and ACLs, under the session broker's security profile)."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        state_dir=state_dir,
    )
    provision(settings)
    return settings


@contextmanager
def run_stack(
    settings: Settings,
    names: Iterable[str] = tuple(SERVICES),
    env: Mapping[str, str] | None = None,
    *,
    workers: int = TEST_WORKERS,
) -> Iterator[Stack]:
    """The named services running against the real broker, each as `workers` workers, stopped on the way out
    whatever happens."""
    full_env = {
        "EGOV_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "EGOV_TOPIC_PREFIX": settings.topic_prefix,
        "EGOV_STATE_DIR": str(settings.state_dir),
        "EGOV_KAFKA_SECURITY": settings.kafka_security,
        "EGOV_KAFKA_SECRETS_FILE": str(settings.secrets_path),
        # A killed worker's partitions move to its successor within seconds (the crash test).
        "EGOV_KAFKA_SESSION_TIMEOUT": "10",
        # Lets `tests/cleanup.py` find this worker if the run is killed before the fixture stops it.
        "EGOV_TEST_SESSION": str(os.getpid()),
        **(env or {}),
    }
    ports = {(name, n): free_port() for n in range(1, workers + 1) for name in names}
    if "documents" in names:  # the department stand-in issues its decisions there, as with Docker
        full_env.setdefault("EGOV_DOCUMENTS_URL", f"http://127.0.0.1:{ports['documents', 1]}")
    processes = [
        ServiceProcess(
            name,
            port,
            settings.state_dir / "logs" / f"{worker_label(name, n)}.log",
            env=full_env,
            worker=n,
        )
        for (name, n), port in ports.items()
    ]
    with running(processes, timeout=120 * workers):
        yield Stack(
            settings,
            {p.name: p for p in processes if p.worker == 1},
            SignIn.from_settings(Settings()),
            {name: [p for p in processes if p.name == name] for name in names},
        )


def fast_clock_env(day_seconds: float) -> dict[str, str]:
    """Business time running so that one day lasts `day_seconds` real seconds, from now on."""
    return {
        "EGOV_CLOCK_SPEED": str(86400 / day_seconds),
        "EGOV_CLOCK_ANCHOR": dt.datetime.now(dt.UTC).isoformat(),
        "EGOV_TIMER_INTERVAL": "0.1",
    }


@pytest.fixture
def isolated_settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    return new_settings(kafka_bootstrap, tmp_path / "state")


@pytest.fixture
def stack(isolated_settings: Settings) -> Iterator[Stack]:
    """The intake slice (portal and onestop) running against the real broker."""
    with run_stack(isolated_settings, ("portal", "onestop")) as running_stack:
        yield running_stack
