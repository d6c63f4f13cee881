"""A real identity provider without Docker: Keycloak's official distribution from Maven Central, run by the
project's own commands like the Kafka broker (docs/adr/0012-people-identities.md).

`fetch` unpacks the pinned distribution (infra/keycloak/pom.xml) into infra/keycloak/dist/ and builds it once
for an embedded H2 file database with health checks (`kc.sh build`; a checksum notices a build that a new
unpack undid). An instance runs straight on `java` (so the child process is the JVM and SIGTERM reaches it)
with a home folder of its own under the state folder: the distribution's read-only parts linked in, its own
`data/` (the database, and the realm files it imports at each start: infra/keycloak/realms/*.json) and `tmp/`.
`start` waits until the management interface says it is ready; `stop` sends SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx

from egov.runtime.settings import Settings
from egov.tools.identity.realms import CITIZENS, KEYCLOAK_DIR, OFFICIALS, REALMS_DIR
from egov.tools.processes import OwnedProcess, ProcessError, java_executable

QUARKUS_MAIN = "io.quarkus.bootstrap.runner.QuarkusEntryPoint"
#: Build-time options of the distribution; every start must pass the same (else Keycloak refuses).
BUILD_OPTIONS = ("--db=dev-file", "--health-enabled=true")
#: Measured on 2 cores: 64m is the floor, 128m is comfortable for the demo and the tests.
HEAP = "128m"


class IdentityProviderError(ProcessError):
    """The local identity provider could not be fetched, started or stopped; the message says why."""


def _version(infra_dir: Path = KEYCLOAK_DIR) -> str:
    found = re.search(r"<keycloak.version>([^<]+)</keycloak.version>", (infra_dir / "pom.xml").read_text())
    if not found:
        raise IdentityProviderError(f"{infra_dir / 'pom.xml'} names no keycloak.version")
    return found.group(1)


@dataclass
class LocalIdentityProvider(OwnedProcess):
    """One local Keycloak instance, owned through the files in `home`."""

    what: ClassVar[str] = "The identity provider"
    error: ClassVar[type[ProcessError]] = IdentityProviderError
    stop_timeout: ClassVar[float] = 20.0

    home: Path
    host: str = "127.0.0.1"
    port: int = 8180
    management_port: int | None = None
    heap: str = HEAP
    infra_dir: Path = KEYCLOAK_DIR
    realms_dir: Path = REALMS_DIR

    # -- files -----------------------------------------------------------------------------------------
    @property
    def dist(self) -> Path:
        return self.infra_dir / "dist" / f"keycloak-{_version(self.infra_dir)}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def issuer(self, realm: str) -> str:
        return f"{self.url}/realms/{realm}"

    @property
    def citizen_issuer(self) -> str:
        return self.issuer(CITIZENS)

    @property
    def official_issuer(self) -> str:
        return self.issuer(OFFICIALS)

    @property
    def pid_file(self) -> Path:
        return self.home / "keycloak.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "keycloak.log"

    def _management_port(self) -> int:
        return self.management_port or self.port + 1

    # -- fetch and build ------------------------------------------------------------------------------
    def _build_stamp(self) -> Path:
        return self.dist / ".egov-build"

    def _build_digest(self) -> str:
        generated = self.dist / "lib" / "quarkus" / "generated-bytecode.jar"
        content = generated.read_bytes() if generated.exists() else b""
        return hashlib.sha256(content + " ".join(BUILD_OPTIONS).encode()).hexdigest()

    def built(self) -> bool:
        stamp = self._build_stamp()
        return stamp.exists() and stamp.read_text().strip() == self._build_digest()

    def fetch(self, *, quiet: bool = True) -> None:
        """Unpack the pinned distribution with Maven and build it once (no-ops when done already)."""
        if not (self.dist / "bin" / "kc.sh").exists():
            mvn = shutil.which("mvn")
            if mvn is None:
                raise IdentityProviderError("`mvn` was not found on PATH; the identity provider needs Maven")
            cmd = [mvn, "-B", "-f", str(self.infra_dir / "pom.xml"), "package"]
            if quiet:
                cmd.insert(1, "-q")
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise IdentityProviderError(
                    "Maven could not fetch Keycloak (is Maven Central reachable?):\n"
                    + (result.stdout + result.stderr)[-3000:]
                )
        if self.built():
            return
        result = subprocess.run(
            [str(self.dist / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "JAVA_OPTS_APPEND": "-XX:TieredStopAtLevel=1"},
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-3000:]
            raise IdentityProviderError(f"Building Keycloak failed:\n{output}")
        self._build_stamp().write_text(self._build_digest())

    # -- state ----------------------------------------------------------------------------------------
    def _signature(self) -> tuple[str, ...]:
        return (QUARKUS_MAIN, str(self.home))

    def _logs(self) -> tuple[Path, ...]:
        return (self.log_file,)

    def ready(self) -> bool:
        try:
            url = f"http://{self.host}:{self._management_port()}/health/ready"
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def status(self) -> dict[str, object]:
        pid = self.pid()
        return {
            "url": self.url,
            "running": pid is not None,
            "pid": pid,
            "ready": self.ready() if pid else False,
            "issuers": [self.citizen_issuer, self.official_issuer],
            "log": str(self.log_file),
        }

    # -- lifecycle ------------------------------------------------------------------------------------
    def _prepare_home(self) -> None:
        """A home of its own: the distribution's read-only parts linked, fresh data with the realm files."""
        for part in ("data", "tmp"):
            shutil.rmtree(self.home / part, ignore_errors=True)
        (self.home / "data" / "import").mkdir(parents=True)
        (self.home / "tmp").mkdir()
        for realm_file in sorted(self.realms_dir.glob("*-realm.json")):
            shutil.copy(realm_file, self.home / "data" / "import" / realm_file.name)
        for part in ("lib", "providers", "themes", "conf"):
            link = self.home / part
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(self.dist / part)

    def _command(self) -> list[str]:
        try:
            java = java_executable("the identity provider")
        except ProcessError as exc:
            raise IdentityProviderError(str(exc)) from None
        return [
            java,
            "-Xms64m",
            f"-Xmx{self.heap}",
            "-XX:MetaspaceSize=96M",
            "-XX:MaxMetaspaceSize=256m",
            "-XX:+ExitOnOutOfMemoryError",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            "-Dfile.encoding=UTF-8",
            "-Djava.security.egd=file:/dev/urandom",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.security=ALL-UNNAMED",
            "-Djava.util.concurrent.ForkJoinPool.common.threadFactory="
            "io.quarkus.bootstrap.forkjoin.QuarkusForkJoinWorkerThreadFactory",
            "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
            "-Dpicocli.disable.closures=true",
            f"-Djava.io.tmpdir={self.home / 'tmp'}",
            f"-Dkc.home.dir={self.home}",
            f"-Djboss.server.config.dir={self.dist / 'conf'}",
            "-cp",
            str(self.dist / "lib" / "quarkus-run.jar"),
            QUARKUS_MAIN,
            "start",
            "--optimized",
            "--http-enabled=true",
            f"--http-host={self.host}",
            f"--http-port={self.port}",
            f"--http-management-port={self._management_port()}",
            # The issuer in every token, whatever Host header a client sends.
            f"--hostname=http://{self.host}:{self.port}",
            "--cache=local",
            "--import-realm",
            # A failed sign-in logs the user name, which is an ID number in the citizens' realm.
            "--log-level=INFO,org.keycloak.events:error,org.keycloak.services:warn",
        ]

    def start(self, timeout: float = 240.0) -> bool:
        """Start the instance and wait until it is ready; False when ours was already running."""
        if self.pid() is not None:
            if self.wait_until_ready(timeout):
                return False
            raise IdentityProviderError(f"Our identity provider (pid {self.pid()}) runs but is not ready.")
        self._check_ports(self.host, (self.port, self._management_port()), "set EGOV_IDP_PORT")
        self.fetch()
        self.home.mkdir(parents=True, exist_ok=True)
        self._prepare_home()
        self._launch(self._command(), self.log_file, timeout, cwd=self.home)
        return True


def local_provider(settings: Settings) -> LocalIdentityProvider:
    """The local stack's identity provider: `<state dir>/keycloak`, on `EGOV_IDP_PORT` (and the next port)."""
    return LocalIdentityProvider(home=settings.state_dir / "keycloak", port=settings.idp_port)


def provider_env(settings: Settings) -> tuple[dict[str, str], LocalIdentityProvider | None]:
    """The environment that tells the services which issuers to trust, and the local provider to start when
    none is configured: the settings' issuers (VNeID and the province's SSO in a deployment), nothing with
    EGOV_AUTH=off, else the local Keycloak."""
    if settings.auth == "off":
        return {"EGOV_AUTH": "off"}, None
    if settings.oidc_citizen_issuer and settings.oidc_official_issuer:
        return {
            "EGOV_OIDC_CITIZEN_ISSUER": settings.oidc_citizen_issuer,
            "EGOV_OIDC_OFFICIAL_ISSUER": settings.oidc_official_issuer,
        }, None
    provider = local_provider(settings)
    return {
        "EGOV_OIDC_CITIZEN_ISSUER": provider.citizen_issuer,
        "EGOV_OIDC_OFFICIAL_ISSUER": provider.official_issuer,
    }, provider
