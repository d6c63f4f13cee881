import os

from egov.tools.localkafka import LocalBroker, kafka_cluster_id


def test_cluster_ids_are_22_url_safe_characters() -> None:
    cluster_id = kafka_cluster_id()
    assert len(cluster_id) == 22 and "=" not in cluster_id and "/" not in cluster_id


def test_the_config_is_rendered_for_the_chosen_ports(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = LocalBroker(home=tmp_path, port=19192, controller_port=19193, security="plaintext")
    broker._render_config()
    text = broker.config_file.read_text()
    assert "listeners=PLAINTEXT://127.0.0.1:19192,CONTROLLER://127.0.0.1:19193" in text
    assert f"log.dirs={tmp_path / 'data'}" in text
    assert "auto.create.topics.enable=false" in text


def test_a_stale_pid_file_means_not_running(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = LocalBroker(home=tmp_path)
    broker.pid_file.write_text(str(os.getpid()))  # alive, but not a Kafka broker
    assert broker.pid() is None
    assert not broker.pid_file.exists()


def test_the_secure_profile_authenticates_every_listener_and_denies_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = LocalBroker(home=tmp_path / "kafka", port=19192, controller_port=19193)
    assert broker.security == "sasl"  # the default
    broker.home.mkdir()
    broker._render_config()
    text = broker.config_file.read_text()
    assert "listeners=SASL_PLAINTEXT://127.0.0.1:19192,CONTROLLER://127.0.0.1:19193" in text
    assert "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT" in text
    assert "PLAINTEXT:PLAINTEXT" not in text  # no listener lets an anonymous client in
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in text
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in text
    assert "allow.everyone.if.no.acl.found=false" in text
    # the passwords are the installation's, generated into its secrets file, and only its owner reads either
    passwords = broker.secrets.read()
    assert set(passwords) == {"broker", "controller", "admin"}
    assert f'password="{passwords["broker"]}"' in text
    for path in (broker.config_file, broker.secrets.path):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert broker.secrets.path.parent.stat().st_mode & 0o777 == 0o700
    assert broker.admin_options()["sasl_plain_username"] == "admin"


def test_data_formatted_for_one_profile_is_refused_by_the_other(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from egov.tools.localkafka import BrokerError

    broker = LocalBroker(home=tmp_path / "kafka")
    broker.data_dir.mkdir(parents=True)
    (broker.data_dir / "meta.properties").write_text("version=1\n")  # formatted before profiles existed
    with pytest.raises(BrokerError, match="formatted for the plaintext profile, not sasl"):
        broker._format_storage()
