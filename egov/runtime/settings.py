"""Settings from the environment (prefix `EGOV_`), one object for every service and command."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from egov.paths import default_state_dir
from egov.runtime.clock import Clock
from egov.runtime.credentials import CredentialsMissing, KafkaCredentials, SecretStore

#: The principal of an operator's tools (trace, observe, the demo's summary): reads every modelled topic.
OPERATOR = "operator"
#: Partitions of every topic: enough for up to six workers per service, and divisible by 1, 2 and 3 so
#: that one, two or three workers share them evenly.
DEFAULT_PARTITIONS = 6
#: The replication factor of a production cluster: a topic survives the loss of two brokers' disks, and
#: with min.insync.replicas of 2 an acknowledged record is on at least two of them.
CLUSTER_REPLICAS = 3


def replicas_for(brokers: int) -> int:
    """The replication factor of the project's topics on a cluster of `brokers` nodes."""
    return min(CLUSTER_REPLICAS, brokers)


class Settings(BaseSettings):
    """Everything a service or the CLI reads from its environment.

    Each field can be set as `EGOV_<FIELD>`; the broker address also as the conventional
    `KAFKA_BOOTSTRAP_SERVERS`. A variable set to the empty string counts as not set (its default), so a
    compose file can pass `EGOV_CLOCK_ANCHOR: ${EGOV_CLOCK_ANCHOR:-}` through.
    """

    model_config = SettingsConfigDict(env_prefix="EGOV_", extra="ignore", env_ignore_empty=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("EGOV_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port…] of the Kafka broker(s).",
    )
    kafka_controller_port: int | None = Field(
        default=None, description="KRaft controller port of the local jar broker (default: broker port + 1)."
    )
    kafka_security: Literal["sasl", "plaintext"] = Field(
        default="sasl",
        description="How clients meet the broker: `sasl` (SCRAM-SHA-512, with the broker's ACLs: the "
        "default) or `plaintext` (no authentication, no authorisation: for debugging only).",
    )
    kafka_principal: str | None = Field(
        default=None,
        description="The broker principal of this process (default: a service's own, "
        "`<prefix>egov-<service>`; for the tools, the operator `<prefix>operator`).",
    )
    kafka_password: SecretStr | None = Field(
        default=None,
        description="The password of this process's principal, instead of the installation's secrets file.",
    )
    kafka_secrets_file: Path | None = Field(
        default=None,
        description="The installation's broker passwords (JSON, mode 0600); default "
        "<state dir>/secrets/kafka.json.",
    )
    auth: Literal["oidc", "off"] = Field(
        default="oidc",
        description="How the HTTP APIs know who calls them: `oidc` (bearer tokens of the issuers below: the "
        "default) or `off` (every route open: for debugging only).",
    )
    oidc_citizen_issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer of citizens' tokens (VNeID; locally the Keycloak realm `vneid`).",
    )
    oidc_official_issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer of officials' tokens (the province's single sign-on; locally the "
        "Keycloak realm `officials`).",
    )
    oidc_audience: str | None = Field(
        default=None, description="The audience an API's tokens must name (default: the service's name)."
    )
    oidc_client_id: str = Field(
        default="egov-cli",
        description="The public client with which the demo, the tests and the stand-ins sign fictional "
        "people in (password grant).",
    )
    idp_port: int = Field(
        default=8180,
        description="HTTP port of the local identity provider (`egov idp start`); its management port is the "
        "next one.",
    )
    signing_reauth_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How recent (real seconds) a signer's own authentication must be to approve a document "
        "for signature.",
    )
    kafka_brokers: int | None = Field(
        default=None,
        ge=1,
        description="Nodes of the local KRaft cluster (`egov kafka start`): with one address in "
        "EGOV_KAFKA_BOOTSTRAP_SERVERS, node i listens on its port + 2·i (and its controller on the next "
        "port); default: one node per address given.",
    )
    idempotency_retention: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Real seconds a consumer remembers an event it handled, so that the same event again "
        "changes nothing (redelivery comes within seconds of a crash; a service republishing after its "
        "own restart, within minutes).",
    )
    agent_concurrency: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="Events of different keys a consumer handles at once (one per key at a time, in "
        "partition order; an offset is committed only once every event before it is done).",
    )
    kafka_session_timeout: float = Field(
        default=10.0,
        ge=6,
        le=300,
        description="Seconds before the broker gives a silent consumer's partitions to the other workers of "
        "its group: the longest stall of a service after one of its workers dies (at least the broker's "
        "group.min.session.timeout.ms, 6 s; the heartbeat and rebalance time-outs follow from it, "
        "egov.runtime.engine.group_timings).",
    )
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name and consumer group: isolates test runs and tenants.",
    )
    partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        ge=1,
        description="Partitions of every topic the project creates: the most workers a service can use.",
    )
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="Replicas of every topic the project creates (default: 3 on a cluster of three or more "
        "brokers, else one per broker).",
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="Replicas that must have a record before a producer's `acks=all` send succeeds "
        "(default: the replication factor less one, at least 1).",
    )
    state_dir: Path = Field(default_factory=default_state_dir)
    log_level: str = "INFO"
    web_host: str = Field(default="127.0.0.1", description="Address the services' HTTP servers bind to.")
    web_port: int | None = Field(
        default=None, description="HTTP port of this service process (default: the service's own default)."
    )
    web_url: str | None = Field(
        default=None,
        description="Where the other workers of the service reach this one, to hand it the requests for the "
        "keys it holds (default: http://<web host>:<web port>, or the host's own address when the server "
        "listens on every interface, as in a container).",
    )
    kafka_group_instance_id: str | None = Field(
        default=None,
        description="Static membership of this worker in its service's consumer group: a worker restarted "
        "under the same id takes its partitions back at once, without a rebalance (`egov up` gives each "
        "worker `<service>-<n>`); unset, a worker joins as a new member.",
    )
    province: str = Field(default="binh-thuan", description="Province data file in architecture/provinces/.")
    clock_speed: float = Field(
        default=1.0,
        gt=0,
        description="How much faster than real time business time runs (demos, tests); 1 in production.",
    )
    clock_anchor: dt.datetime | None = Field(
        default=None,
        description="Real instant (ISO 8601, with offset) where business and real time agree; every process "
        "of a stack needs the same one when clock_speed is not 1.",
    )
    timer_interval: float = Field(
        default=0.5, gt=0, description="Real seconds between two checks for durable timers that came due."
    )
    lgsp_policy: Path | None = Field(
        default=None,
        description="The LGSP's access policy (YAML); default architecture/lgsp-access-policy.yaml.",
    )
    lgsp_timeout: float = Field(
        default=3.0,
        gt=0,
        description="Real seconds the LGSP waits for a national system's answer per attempt.",
    )
    lgsp_attempts: int = Field(
        default=3, ge=1, description="Attempts the LGSP makes before answering TIMEOUT to the caller."
    )
    lgsp_clock_skew: float = Field(
        default=300.0,
        ge=0,
        description="Business seconds a department's case event may be dated ahead of the LGSP's business "
        "clock (the systems' clocks differ a little); later than that it is refused, 500 DATA_INCORRECT.",
    )
    agency_profile: Path | None = Field(
        default=None,
        description="How the department stand-in behaves per procedure (YAML); default "
        "services/agency/profiles/default.yaml.",
    )
    documents_profile: Path | None = Field(
        default=None,
        description="How long each agency takes over an incoming document (YAML); default "
        "services/documents/profiles/default.yaml.",
    )
    ca_dir: Path | None = Field(
        default=None,
        description="The test CA of the signing service (default <state dir>/ca); its public/ folder is the "
        "trust store the document system verifies signatures with.",
    )
    documents_url: str | None = Field(
        default=None,
        description="Base URL of the document system's API: when set, the department stand-in issues each "
        "approval as a signed decision document there, and the decision names it.",
    )
    agency_codes: str = Field(
        default="",
        description="Comma-separated agency codes the department stand-in serves; empty: every agency of the "
        "province. Leave out a department whose real (or vendor's) case system takes its place.",
    )
    payment_online_share: float = Field(
        default=0.85,
        ge=0,
        le=1,
        description="Share of fees the payment stand-in records as paid online (the rest at the counter).",
    )
    seed: int = Field(
        default=2017, description="Seed of every random choice of the stand-ins (reproducible runs)."
    )

    @model_validator(mode="after")
    def _every_node_listed(self) -> Settings:
        """With EGOV_KAFKA_BROKERS and one address, every node of the local cluster is listed (ports two
        apart, each followed by its controller's): a client reaches the cluster while any node is down."""
        given = self.bootstrap_list
        if self.kafka_brokers is None or self.kafka_brokers == len(given):
            return self
        if len(given) != 1:
            raise ValueError(
                f"EGOV_KAFKA_BROKERS={self.kafka_brokers} but EGOV_KAFKA_BOOTSTRAP_SERVERS names "
                f"{len(given)} brokers: give one address (the first node's) or all of them"
            )
        host, _, port = given[0].rpartition(":")
        nodes = [f"{host}:{int(port) + 2 * i}" for i in range(self.kafka_brokers)]
        self.kafka_bootstrap_servers = ",".join(nodes)
        return self

    @model_validator(mode="after")
    def _clock_is_shared(self) -> Settings:
        if self.clock_speed != 1.0 and self.clock_anchor is None:
            raise ValueError(
                "EGOV_CLOCK_SPEED other than 1 needs EGOV_CLOCK_ANCHOR (an ISO 8601 instant with offset), "
                "the same for every process of the stack"
            )
        if self.clock_anchor is not None and self.clock_anchor.tzinfo is None:
            raise ValueError("EGOV_CLOCK_ANCHOR needs a UTC offset, e.g. 2026-11-24T08:00:00+00:00")
        return self

    @property
    def secrets_path(self) -> Path:
        return self.kafka_secrets_file or self.state_dir / "secrets" / "kafka.json"

    def kafka_credentials(self, principal: str | None = None) -> KafkaCredentials | None:
        """Who this process is on the broker (`principal`, else its configured one, else the operator of its
        topic prefix) and its password; None under the plaintext profile."""
        if self.kafka_security == "plaintext":
            return None
        who = principal or self.kafka_principal or f"{self.topic_prefix}{OPERATOR}"
        # EGOV_KAFKA_PASSWORD is this process's own password: for any principal but another one named apart.
        own = self.kafka_principal is None or principal is None or principal == self.kafka_principal
        if self.kafka_password is not None and own:
            return KafkaCredentials(who, self.kafka_password.get_secret_value())
        password = SecretStore(self.secrets_path).password(who)
        if password is None:
            raise CredentialsMissing(
                f"no broker password for principal {who!r} in {self.secrets_path}: `egov kafka provision` "
                "creates the principals of the architecture model (as `egov up` and `egov demo` do), or set "
                "EGOV_KAFKA_PASSWORD"
            )
        return KafkaCredentials(who, password)

    def kafka_options(self, principal: str | None = None) -> dict[str, Any]:
        """aiokafka's keyword arguments for this process's (or `principal`'s) connection to the broker."""
        credentials = self.kafka_credentials(principal)
        return credentials.aiokafka() if credentials is not None else {}

    @property
    def ca_directory(self) -> Path:
        return self.ca_dir or self.state_dir / "ca"

    @property
    def clock(self) -> Clock:
        return Clock(speed=self.clock_speed, anchor=self.clock_anchor)

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]

    @property
    def replicas(self) -> int:
        """The replication factor of the topics the project creates."""
        return self.replication_factor or replicas_for(len(self.bootstrap_list))

    @property
    def insync_replicas(self) -> int:
        """min.insync.replicas of the topics the project creates."""
        return self.min_insync_replicas or max(1, self.replicas - 1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
