"""Settings from the environment (prefix `EGOV_`), one object for every service and command."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from egov.paths import default_state_dir


class Settings(BaseSettings):
    """Everything a service or the CLI reads from its environment.

    Each field can be set as `EGOV_<FIELD>`; the broker address also as the conventional
    `KAFKA_BOOTSTRAP_SERVERS`.
    """

    model_config = SettingsConfigDict(env_prefix="EGOV_", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("EGOV_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port…] of the Kafka broker(s).",
    )
    kafka_controller_port: int | None = Field(
        default=None, description="KRaft controller port of the local jar broker (default: broker port + 1)."
    )
    kafka_session_timeout: float = Field(
        default=30.0, gt=0, description="Seconds before the broker gives a silent consumer's partitions away."
    )
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name and consumer group: isolates test runs and tenants.",
    )
    partitions: int = Field(default=3, ge=1, description="Partitions of every topic the project creates.")
    replication_factor: int = Field(default=1, ge=1)
    state_dir: Path = Field(default_factory=default_state_dir)
    log_level: str = "INFO"
    web_host: str = Field(default="127.0.0.1", description="Address the services' HTTP servers bind to.")
    web_port: int | None = Field(
        default=None, description="HTTP port of this service process (default: the service's own default)."
    )
    province: str = Field(default="binh-thuan", description="Province data file in architecture/provinces/.")

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
