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


def test_the_nodes_of_a_local_cluster_vote_together_and_replicate_three_times(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from egov.tools.localkafka import LocalCluster

    cluster = LocalCluster.of(
        tmp_path,
        ["127.0.0.1:19192", "127.0.0.1:19194", "127.0.0.1:19196"],
        controller_ports=[19193, 19195, 19197],
        security="plaintext",
    )
    voters = "1@127.0.0.1:19193,2@127.0.0.1:19195,3@127.0.0.1:19197"
    for node_id, node in enumerate(cluster.nodes, start=1):
        node.home.mkdir(parents=True)
        node._render_config()
        text = node.config_file.read_text()
        assert f"node.id={node_id}\n" in text and f"controller.quorum.voters={voters}\n" in text
        assert "offsets.topic.replication.factor=3\n" in text and "min.insync.replicas=2\n" in text
        assert "unclean.leader.election.enable=false\n" in text
        assert node.home == tmp_path / f"node-{node_id}"
    # the nodes share one cluster id
    ids = {node._cluster_id() for node in cluster.nodes}
    assert len(ids) == 1 and (tmp_path / "cluster-id").read_text().strip() in ids
    assert cluster.bootstrap == "127.0.0.1:19192,127.0.0.1:19194,127.0.0.1:19196"


def test_one_node_stays_the_default_with_one_replica(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from egov.runtime.settings import Settings
    from egov.tools.localkafka import local_broker

    one = "127.0.0.1:9092"
    broker = local_broker(
        Settings(kafka_bootstrap_servers=one, state_dir=tmp_path, kafka_security="plaintext")
    )
    assert isinstance(broker, LocalBroker)
    broker.home.mkdir(parents=True)
    broker._render_config()
    text = broker.config_file.read_text()
    assert "node.id=1\n" in text and "controller.quorum.voters=1@127.0.0.1:9093\n" in text
    assert "offsets.topic.replication.factor=1\n" in text and "min.insync.replicas=1\n" in text
    three = local_broker(Settings(kafka_bootstrap_servers=one, state_dir=tmp_path, kafka_brokers=3))
    assert [n.port for n in three.nodes] == [9092, 9094, 9096]  # type: ignore[union-attr]


def test_a_cluster_id_never_reads_as_an_option(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from egov.tools.localkafka import kafka_cluster_id

    draws = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(bytes=bytes(16))])  # "-w…", then "AAA…"
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    assert kafka_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
