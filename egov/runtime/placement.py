"""Which worker of a service holds a key: the partition of the key, and the worker its consumer group gave it.

A service runs as several workers that share its partitions (Kafka's consumer group). Every topic of the
project has the same partition count and every producer the default (murmur2) partitioner, so a key's events,
and the table entries they write, all sit on one partition number, held by one worker at a time. A look-up
by key is answered by that worker (egov.runtime.routing hands it the request); a question about everything
(the indicators) is asked of every worker, each answering for the partitions it holds (docs/adr/0016).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiokafka.partitioner import murmur2


def partition_of(key: str | bytes, partitions: int) -> int:
    """The partition of `key` among `partitions`, as Kafka's default partitioner (the Java client's, and
    aiokafka's) chooses it for a record with that key."""
    data = key.encode("utf-8") if isinstance(key, str) else key
    return (murmur2(data) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class Placement:
    """The partitions of a service's consumer group, as one worker sees the current assignment.

    `owners` maps each partition to the URL of the worker holding it; a partition missing from it is being
    moved (a rebalance, a worker that died and whose session has not run out yet)."""

    #: This worker's URL, as the other workers reach it.
    me: str
    partitions: int
    owners: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def alone(cls, me: str, partitions: int) -> Placement:
        """A worker that holds every partition (one worker, or the fake runtime of the handler tests)."""
        return cls(me, partitions, {p: me for p in range(partitions)})

    def partition(self, key: str | bytes) -> int:
        return partition_of(key, self.partitions)

    def owner(self, key: str | bytes) -> str | None:
        """The URL of the worker holding `key`'s partition, or None while it is being moved."""
        return self.owners.get(self.partition(key))

    def holds(self, key: str | bytes) -> bool:
        return self.owner(key) == self.me

    def new_key(self, make: Callable[[], str], attempts: int = 64) -> str:
        """A new random key (from `make`) on a partition this worker holds, so that what it records under
        the key is answered here too; any key when it holds none."""
        key = make()
        for _ in range(attempts - 1):
            if self.holds(key):
                break
            key = make()
        return key

    @property
    def mine(self) -> frozenset[int]:
        """The partitions this worker holds."""
        return frozenset(p for p, url in self.owners.items() if url == self.me)

    @property
    def workers(self) -> dict[str, frozenset[int]]:
        """Each worker's URL → the partitions it holds."""
        found: dict[str, set[int]] = {}
        for partition, url in self.owners.items():
            found.setdefault(url, set()).add(partition)
        return {url: frozenset(held) for url, held in sorted(found.items())}

    @property
    def complete(self) -> bool:
        """Every partition has a worker."""
        return set(self.owners) == set(range(self.partitions))
