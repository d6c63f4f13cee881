"""Which worker holds a key: the partition Kafka's default partitioner gives it, and the group's assignment;
the settings of a local cluster and of its topics' replication."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from egov.runtime.placement import Placement, partition_of
from egov.runtime.settings import Settings

KEYS = ["000.00.04.H11-261125-0001", "6f1c2a3e-8d4b-4c1e-9a57-2b8e0c9d4f10", "x", "Hồ sơ"]


@pytest.mark.parametrize("partitions", [1, 3, 6])
def test_a_key_lands_where_the_producers_put_it(partitions: int) -> None:
    every = list(range(partitions))
    for key in KEYS:
        assert partition_of(key, partitions) == DefaultPartitioner()(key.encode(), every, every)


def test_the_placement_names_each_keys_worker_and_what_each_holds() -> None:
    placement = Placement(
        "http://a", 6, {0: "http://a", 1: "http://b", 2: "http://a", 3: "http://b", 4: "http://a"}
    )
    assert placement.mine == {0, 2, 4}
    assert placement.workers == {"http://a": {0, 2, 4}, "http://b": {1, 3}}
    assert not placement.complete  # partition 5 is moving
    for key in KEYS:
        expected = {0: "http://a", 1: "http://b", 2: "http://a", 3: "http://b", 4: "http://a"}.get(
            partition_of(key, 6)
        )
        assert placement.owner(key) == expected
        assert placement.holds(key) == (expected == "http://a")
    assert placement.holds(placement.new_key(iter(KEYS * 20).__next__))
    assert Placement.alone("http://a", 3).complete


def test_three_local_brokers_from_one_address_and_their_replication() -> None:
    cluster = Settings(kafka_bootstrap_servers="127.0.0.1:9092", kafka_brokers=3)
    assert cluster.bootstrap_list == ["127.0.0.1:9092", "127.0.0.1:9094", "127.0.0.1:9096"]
    assert (cluster.replicas, cluster.insync_replicas) == (3, 2)
    laptop = Settings(kafka_bootstrap_servers="127.0.0.1:9092")
    assert (laptop.replicas, laptop.insync_replicas) == (1, 1)
    given = Settings(kafka_bootstrap_servers="a:1,b:1,c:1,d:1", replication_factor=2)
    assert (given.replicas, given.insync_replicas) == (2, 1)
    with pytest.raises(ValueError, match="give one address"):
        Settings(kafka_bootstrap_servers="a:1,b:1", kafka_brokers=3)
