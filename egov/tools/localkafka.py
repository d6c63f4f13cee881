"""A real Apache Kafka broker without Docker: the official jars from Maven Central, KRaft, one node by default
or a local cluster of several (`LocalCluster`, `egov kafka start --brokers 3`, docs/adr/0016).

The jars are fetched by Maven from the pinned `infra/kafka/pom.xml`; the broker runs as a background `java`
process whose pid, data and logs live in a git-ignored state directory. `start` is a no-op when our broker
is already up, waits until the broker answers a metadata request, and on failure raises with the tail of
the broker log; `stop` sends SIGTERM, waits, then SIGKILL.

Its security profile is the settings' (`EGOV_KAFKA_SECURITY`): `sasl`, the default, authenticates every
client with SCRAM-SHA-512 and authorises with ACLs (infra/kafka/security-sasl.properties.template); the
passwords of the broker, its controller and the `admin` super user are generated into the installation's
secrets file on first start, and the SCRAM credentials of `broker` and `admin` are written when the storage is
formatted. `plaintext` is for debugging only. A data folder formatted for one profile refuses the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import string
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from egov.paths import KAFKA_INFRA_DIR
from egov.runtime.credentials import ADMIN, BROKER, CONTROLLER, MECHANISM, KafkaCredentials, SecretStore
from egov.runtime.settings import replicas_for
from egov.tools.processes import OwnedProcess, ProcessError, port_is_free

if TYPE_CHECKING:
    from egov.runtime.settings import Settings

#: The main classes of the official broker jars.
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


class BrokerError(ProcessError):
    """The local broker could not be fetched, started or stopped; the message says why and what to do."""


def _which(tool: str, env_home: str | None = None) -> str:
    if env_home:
        candidate = Path(env_home) / "bin" / tool
        if candidate.exists():
            return str(candidate)
    found = shutil.which(tool)
    if not found:
        raise BrokerError(f"`{tool}` was not found on PATH; the local Kafka broker needs Java 17+ and Maven.")
    return found


async def _metadata_once(bootstrap: str, timeout: float, options: Mapping[str, Any]) -> int:
    from aiokafka import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **options)
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
        return len(metadata.brokers())
    finally:
        await client.close()


def broker_answers(bootstrap: str, timeout: float = 3.0, options: Mapping[str, Any] | None = None) -> bool:
    """True when a broker at `bootstrap` answers a metadata request naming at least one broker, to a client
    connecting with `options` (aiokafka's security keywords: a secure broker answers no anonymous client)."""
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # a refused connection is the expected answer while waiting
    try:
        return asyncio.run(_metadata_once(bootstrap, timeout, options or {})) > 0
    except Exception:
        return False
    finally:
        client_log.setLevel(level)


@dataclass
class LocalBroker(OwnedProcess):
    """One local single-node KRaft broker, owned through the files in `home`."""

    what: ClassVar[str] = "The Kafka broker"
    error: ClassVar[type[ProcessError]] = BrokerError
    poll_interval: ClassVar[float] = 0.3

    home: Path
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int | None = None
    heap: str = "1g"
    infra_dir: Path = KAFKA_INFRA_DIR
    #: `sasl` (SCRAM-SHA-512 and ACLs, the default) or `plaintext` (debugging only).
    security: str = "sasl"
    #: The installation's broker passwords (default: `<home>/../secrets/kafka.json`).
    secrets_file: Path | None = None
    #: This node's id, and the controller quorum it votes in (`id@host:port,…`; default: itself alone).
    node_id: int = 1
    voters: str | None = None
    #: Replicas of the broker's internal topics, and the replicas a write needs (3 and 2 on a cluster).
    replicas: int = 1
    min_insync: int = 1
    #: Where the id of the cluster this node belongs to is kept (the nodes of a cluster share it).
    cluster_id_file: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBroker:
        """The one-node broker at the first address of EGOV_KAFKA_BOOTSTRAP_SERVERS (`local_broker` for what
        the settings name: a cluster when they list several)."""
        host, _, port = settings.bootstrap_list[0].rpartition(":")
        return cls(
            home=Path(settings.state_dir) / "kafka",
            host=host or "127.0.0.1",
            port=int(port),
            controller_port=settings.kafka_controller_port,
            security=settings.kafka_security,
            secrets_file=settings.secrets_path,
        )

    # -- files -------------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def libs_dir(self) -> Path:
        return self.infra_dir / "libs"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def console_file(self) -> Path:
        return self.home / "logs" / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    def _controller_port(self) -> int:
        return self.controller_port or self.port + 1

    @property
    def secrets(self) -> SecretStore:
        return SecretStore(self.secrets_file or self.home.parent / "secrets" / "kafka.json")

    @property
    def profile_file(self) -> Path:
        """Which security profile the data folder was formatted for."""
        return self.home / "security-profile"

    def admin_options(self) -> dict[str, Any]:
        """aiokafka's keywords for the super user, under the secure profile (nothing under plaintext)."""
        if self.security == "plaintext":
            return {}
        password = self.secrets.ensure([ADMIN])[ADMIN]
        return KafkaCredentials(ADMIN, password).aiokafka()

    # -- jars ---------------------------------------------------------------------------------------
    def _pom_digest(self) -> str:
        return hashlib.sha256((self.infra_dir / "pom.xml").read_bytes()).hexdigest()

    def jars_present(self) -> bool:
        marker = self.libs_dir / ".pom.sha256"
        return marker.exists() and marker.read_text().strip() == self._pom_digest()

    def fetch_jars(self, *, quiet: bool = True) -> None:
        """Fetch the pinned broker jars with Maven unless the ones in `libs/` match the pom already."""
        if self.jars_present():
            return
        mvn = _which("mvn", os.environ.get("MAVEN_HOME"))
        if self.libs_dir.exists():
            shutil.rmtree(self.libs_dir)
        cmd = [
            mvn,
            "-B",
            "-f",
            str(self.infra_dir / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={self.libs_dir}",
        ]
        if quiet:
            cmd.insert(1, "-q")
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(
                "Maven could not fetch the Kafka jars (is Maven Central reachable?):\n"
                + (result.stdout + result.stderr)[-3000:]
            )
        (self.libs_dir / ".pom.sha256").write_text(self._pom_digest())

    def _java(self) -> list[str]:
        java = _which("java", os.environ.get("JAVA_HOME"))
        return [java, f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC", "-cp", f"{self.libs_dir}/*"]

    # -- state --------------------------------------------------------------------------------------
    def _signature(self) -> tuple[str, ...]:
        # Ours: a Kafka broker started with this very configuration file.
        return (BROKER_MAIN, str(self.config_file))

    def _logs(self) -> tuple[Path, ...]:
        return (self.console_file, self.log_file)

    def ready(self) -> bool:
        return broker_answers(self.bootstrap, timeout=2.0, options=self.admin_options())

    def status(self) -> dict[str, object]:
        pid = self.pid()
        return {
            "bootstrap": self.bootstrap,
            "running": pid is not None,
            "pid": pid,
            "security": self.security,
            "answers": broker_answers(self.bootstrap, options=self.admin_options()) if pid else False,
            "home": str(self.home),
            "log": str(self.log_file),
        }

    def _passwords(self) -> dict[str, str]:
        return self.secrets.ensure([BROKER, CONTROLLER, ADMIN]) if self.security == "sasl" else {}

    def _render_config(self) -> None:
        if self.security not in ("sasl", "plaintext"):
            raise BrokerError(f"unknown security profile {self.security!r}: sasl (the default) or plaintext")
        fields = {
            "host": self.host,
            "port": self.port,
            "controller_port": self._controller_port(),
            "data_dir": self.data_dir,
        }
        cluster = {
            "node_id": self.node_id,
            "voters": self.voters or f"{self.node_id}@{self.host}:{self._controller_port()}",
            "replicas": self.replicas,
            "min_insync": self.min_insync,
        }
        passwords = self._passwords()
        security = string.Template(
            (self.infra_dir / f"security-{self.security}.properties.template").read_text()
        ).substitute(
            **fields,
            broker_password=passwords.get(BROKER, ""),
            controller_password=passwords.get(CONTROLLER, ""),
        )
        template = string.Template((self.infra_dir / "server.properties.template").read_text())
        text = template.substitute(**fields, **cluster, security=security.strip())
        # The secure profile's passwords are in it: only its owner may read it.
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(self.config_file, 0o600)

    def _format_storage(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            formatted = self.profile_file.read_text().strip() if self.profile_file.exists() else "plaintext"
            if formatted != self.security:
                raise BrokerError(
                    f"The broker's data in {self.data_dir} was formatted for the {formatted} profile, not "
                    f"{self.security}: set EGOV_KAFKA_SECURITY={formatted}, or remove {self.home} (`make "
                    "clean`; the topics' records go with it) to start over with the other profile."
                )
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self._cluster_id()
        # SCRAM credentials of the broker itself and of the super user; every other principal is created by
        # the admin step. The format command prints the salted credentials: never shown, not even on failure.
        scram = [
            arg
            for name, password in self._passwords().items()
            if name != CONTROLLER
            for arg in ("--add-scram", f"{MECHANISM}=[name={name},password={password}]")
        ]
        result = subprocess.run(
            [*self._java(), STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(self.config_file), *scram],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            shown = "\n".join(
                line
                for line in (result.stdout + result.stderr).splitlines()
                if "Scram" not in line and "password" not in line
            )
            raise BrokerError(f"Formatting the broker storage failed:\n{shown}")
        self.profile_file.write_text(self.security + "\n")

    def _cluster_id(self) -> str:
        """The id of this node's cluster: a new one for a node of its own, else the one its nodes share."""
        if self.cluster_id_file is None:
            return kafka_cluster_id()
        if not self.cluster_id_file.exists():
            self.cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            self.cluster_id_file.write_text(kafka_cluster_id() + "\n")
        return self.cluster_id_file.read_text().strip()

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> bool:
        """Start the broker and wait until it answers; False when ours was already running."""
        if not self.launch():
            if self.wait_until_ready(timeout):
                return False
            raise BrokerError(f"Our broker (pid {self.pid()}) runs but does not answer.\n{self.log_tail()}")
        try:
            if not self.wait_until_ready(timeout, self._process):
                raise BrokerError(f"{self.what} was not ready within {timeout:.0f}s.\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        return True

    def launch(self) -> bool:
        """Start the broker's process without waiting for it to answer (a node of a cluster answers only once
        a majority of the controllers runs); False when ours was already running."""
        if self.pid() is not None:
            return False
        self._check_ports(
            self.host,
            (self.port, self._controller_port()),
            "point EGOV_KAFKA_BOOTSTRAP_SERVERS (and EGOV_KAFKA_CONTROLLER_PORT) at free ports",
        )
        self.fetch_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._render_config()
        self._format_storage()
        cmd = [
            *self._java(),
            f"-Dlog4j2.configurationFile={self.infra_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.file={self.log_file}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            BROKER_MAIN,
            str(self.config_file),
        ]
        self._process = self._spawn(cmd, self.console_file)
        return True

    def kill(self, ports_timeout: float = 120.0) -> bool:
        """SIGKILL the broker at once, as a crash would (failover tests), and return once its ports can be
        listened on again; False when it was not running. The kernel closes the dead broker's connections
        itself, and each keeps the port taken until its client has closed its end (FIN_WAIT): clients busy
        reconnecting take a few seconds, up to the kernel's FIN time-out."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        self.wait_until_gone(pid)
        self.pid_file.unlink(missing_ok=True)
        ports = (self.port, self._controller_port())
        deadline = time.monotonic() + ports_timeout
        while not all(port_is_free(self.host, port) for port in ports):
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"the killed broker's ports {ports} were not free within {ports_timeout:.0f}s"
                )
            time.sleep(0.2)  # polling interval of the condition above, bounded by the deadline
        return True


def local_broker(settings: Settings) -> LocalBroker | LocalCluster:
    """The local broker the settings name: one node, or a cluster of one node per address of
    EGOV_KAFKA_BOOTSTRAP_SERVERS (EGOV_KAFKA_BROKERS=3 lists three)."""
    addresses = settings.bootstrap_list
    if len(addresses) == 1:
        return LocalBroker.from_settings(settings)
    return LocalCluster.of(
        Path(settings.state_dir) / "kafka-cluster",
        addresses,
        security=settings.kafka_security,
        secrets_file=settings.secrets_path,
    )


def kafka_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding, as `random-uuid` prints; never
    one that starts with "-" (Kafka's Uuid.randomUuid draws again too), which the storage tool would read as
    an option."""
    import base64

    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


@dataclass
class LocalCluster:
    """A local KRaft cluster of several nodes on one machine, each both broker and controller, owned through
    the files of its home (`node-<id>/` per node, the cluster id they share): the production shape of
    docs/adr/0016 (replication factor 3, min.insync.replicas 2) for the failover tests and the chaos runs.
    One node may be killed and restarted while the others go on."""

    home: Path
    nodes: list[LocalBroker]

    what: ClassVar[str] = "The Kafka cluster"

    @classmethod
    def of(
        cls,
        home: Path,
        addresses: list[str],
        *,
        controller_ports: list[int] | None = None,
        security: str = "sasl",
        secrets_file: Path | None = None,
        heap: str = "512m",
    ) -> LocalCluster:
        """One node per `host:port` address, node i's controller on `controller_ports[i]` (default: its
        port + 1)."""
        hosts = [address.rpartition(":") for address in addresses]
        controllers = controller_ports or [int(port) + 1 for _, _, port in hosts]
        voters = ",".join(
            f"{i + 1}@{host}:{c}" for i, ((host, _, _), c) in enumerate(zip(hosts, controllers, strict=True))
        )
        replicas = replicas_for(len(addresses))
        nodes = [
            LocalBroker(
                home=home / f"node-{i + 1}",
                host=host,
                port=int(port),
                controller_port=controller,
                heap=heap,
                security=security,
                secrets_file=secrets_file or home / "secrets" / "kafka.json",
                node_id=i + 1,
                voters=voters,
                replicas=replicas,
                min_insync=max(1, replicas - 1),
                cluster_id_file=home / "cluster-id",
            )
            for i, ((host, _, port), controller) in enumerate(zip(hosts, controllers, strict=True))
        ]
        return cls(home, nodes)

    # -- what the commands ask of a local broker ------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def secrets(self) -> SecretStore:
        return self.nodes[0].secrets

    @property
    def libs_dir(self) -> Path:
        return self.nodes[0].libs_dir

    @property
    def log_file(self) -> Path:
        return self.nodes[0].log_file

    def admin_options(self) -> dict[str, Any]:
        return self.nodes[0].admin_options()

    def fetch_jars(self, *, quiet: bool = True) -> None:
        self.nodes[0].fetch_jars(quiet=quiet)

    def pid(self) -> int | None:
        """The first node's pid while every node runs, else None."""
        pids = [node.pid() for node in self.nodes]
        return pids[0] if all(pids) else None

    def node(self, node_id: int) -> LocalBroker:
        return self.nodes[node_id - 1]

    def ready(self) -> bool:
        """The cluster answers (a node that runs answers for all) and every node is among its brokers."""
        return _brokers_of(self.bootstrap, self.admin_options()) == len(self.nodes)

    def status(self) -> dict[str, object]:
        nodes = [node.status() for node in self.nodes]
        return {
            "bootstrap": self.bootstrap,
            "running": all(n["running"] for n in nodes),
            "answers": any(n["answers"] for n in nodes),
            "security": self.nodes[0].security,
            "home": str(self.home),
            "nodes": nodes,
        }

    def start(self, timeout: float = 120.0) -> bool:
        """Start every node that does not run, and wait until each is a broker of the cluster; False when all
        ran already. A start that fails stops the nodes it started."""
        self.fetch_jars()
        launched = []
        try:
            for node in self.nodes:
                node.fetch_jars()
                if node.launch():
                    launched.append(node)
            deadline = time.monotonic() + timeout
            while not self.ready():
                for node in launched:
                    if node._process is not None and node._process.poll() is not None:
                        raise BrokerError(
                            f"Node {node.node_id} exited with code {node._process.returncode} while "
                            f"starting.\n{node.log_tail()}"
                        )
                if time.monotonic() > deadline:
                    tails = "\n".join(node.log_tail(15) for node in self.nodes)
                    raise BrokerError(f"{self.what} was not ready within {timeout:.0f}s.\n{tails}")
                time.sleep(0.5)  # polling interval of the condition above, bounded by the deadline
        except BaseException:
            for node in launched:
                node.stop()
            raise
        return bool(launched)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop every node (SIGTERM at once, then SIGKILL after `timeout`); False when none ran."""
        running = [node for node in self.nodes if node.pid() is not None]
        for node in running:
            pid = node.pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        for node in running:
            node.stop(timeout)
        return bool(running)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def _brokers_of(bootstrap: str, options: Mapping[str, Any], timeout: float = 10.0) -> int:
    """How many brokers the cluster at `bootstrap` names in its metadata (0 when none answers)."""
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_metadata_once(bootstrap, timeout, options))
    except Exception:
        return 0
    finally:
        client_log.setLevel(level)
