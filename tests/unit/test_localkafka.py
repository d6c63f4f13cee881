import os

from egov.tools.localkafka import LocalBroker, _kafka_cluster_id


def test_cluster_ids_are_22_url_safe_characters() -> None:
    cluster_id = _kafka_cluster_id()
    assert len(cluster_id) == 22 and "=" not in cluster_id and "/" not in cluster_id


def test_the_config_is_rendered_for_the_chosen_ports(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = LocalBroker(home=tmp_path, port=19192, controller_port=19193)
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
