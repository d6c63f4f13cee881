"""Who a process is on the broker: principals' names, passwords per installation, client settings."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError, UnknownTopicOrPartitionError
from faust.exceptions import ProducerSendError

from egov.runtime.credentials import CredentialsMissing, KafkaCredentials, SecretStore, service_principal
from egov.runtime.retries import is_retryable
from egov.runtime.settings import Settings


def test_a_service_is_the_principal_of_its_app_id() -> None:
    assert service_principal("", "lgsp") == "egov-lgsp"
    assert service_principal("t1.", "lgsp") == "t1.egov-lgsp"


def test_passwords_are_generated_once_and_kept_in_a_file_only_its_owner_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SecretStore(tmp_path / "secrets" / "kafka.json")
    first = store.ensure(["egov-lgsp", "operator"])
    again = SecretStore(store.path).ensure(["operator", "egov-lgsp", "egov-notify"])
    assert again["egov-lgsp"] == first["egov-lgsp"] and again["operator"] == first["operator"]
    assert len(set(again.values())) == 3 and all(len(p) >= 32 for p in again.values())
    assert store.path.stat().st_mode & 0o777 == 0o600


def test_a_process_finds_its_password_or_is_told_how_to_get_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(state_dir=tmp_path, topic_prefix="t1.")
    with pytest.raises(CredentialsMissing, match="egov kafka provision"):
        settings.kafka_credentials()
    passwords = SecretStore(settings.secrets_path).ensure(["t1.operator", "t1.egov-lgsp"])
    # the tools are the operator of their prefix, unless told otherwise
    assert settings.kafka_credentials() == KafkaCredentials("t1.operator", passwords["t1.operator"])
    options = settings.kafka_options("t1.egov-lgsp")
    assert options["security_protocol"] == "SASL_PLAINTEXT" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "t1.egov-lgsp"
    assert options["sasl_plain_password"] == passwords["t1.egov-lgsp"]
    # a container given its own password needs no secrets file
    given = Settings(state_dir=tmp_path / "other", kafka_password="s3cret-of-its-own")
    assert given.kafka_options("egov-notify")["sasl_plain_password"] == "s3cret-of-its-own"
    # the plaintext profile has no credentials
    assert Settings(state_dir=tmp_path, kafka_security="plaintext").kafka_options() == {}


def test_credentials_never_show_their_password_and_give_each_clients_settings() -> None:
    credentials = KafkaCredentials("vendor-agency", "pw-1234")
    assert "pw-1234" not in repr(credentials)
    java = credentials.java_properties("broker:9092")
    assert "bootstrap.servers=broker:9092" in java
    assert "security.protocol=SASL_PLAINTEXT" in java and "sasl.mechanism=SCRAM-SHA-512" in java
    assert 'username="vendor-agency" password="pw-1234";' in java
    quoted = KafkaCredentials("x", 'a"b').java_properties("broker:9092")
    assert 'password="a\\"b";' in quoted  # a quote in a password stays inside the JAAS string
    rdkafka = credentials.librdkafka("broker:9092")
    assert (rdkafka["sasl.username"], rdkafka["sasl.password"]) == ("vendor-agency", "pw-1234")


def test_an_error_faust_wraps_is_judged_by_its_cause() -> None:
    def wrapped(cause: Exception) -> ProducerSendError:
        try:
            raise ProducerSendError(f"Error while sending: {cause!r}") from cause
        except ProducerSendError as exc:
            return exc

    assert is_retryable(wrapped(UnknownTopicOrPartitionError()))  # the metadata wait timed out: it may pass
    assert is_retryable(wrapped(KafkaConnectionError("broker away")))
    assert not is_retryable(wrapped(TopicAuthorizationFailedError()))  # refused by the ACLs: it will not pass
    assert not is_retryable(TopicAuthorizationFailedError())


def test_an_empty_variable_is_no_password(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`EGOV_KAFKA_PASSWORD: ${EGOV_KAFKA_PASSWORD:-}` in a compose file sets no empty password."""
    monkeypatch.setenv("EGOV_KAFKA_PASSWORD", "")
    settings = Settings(state_dir=tmp_path)
    assert settings.kafka_password is None
    password = SecretStore(settings.secrets_path).ensure(["egov-lgsp"])["egov-lgsp"]
    assert settings.kafka_options("egov-lgsp")["sasl_plain_password"] == password
