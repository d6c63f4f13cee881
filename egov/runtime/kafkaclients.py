"""The Faust app of a service, with the producer settings every service needs on a replicated cluster.

Faust passes `producer_acks` through but turns aiokafka's idempotence on only inside its exactly-once
transactions, which this project does not use (docs/adr/0002). An idempotent producer numbers its batches, so
a batch the broker wrote but whose acknowledgement was lost (a leader that died mid-request) is not written a
second time when the producer sends it again: with `acks=all` and `min.insync.replicas=2`, an acknowledged
record is on two brokers and is on the partition once (docs/adr/0016). Kafka ≥ 2.8 lets a principal with
WRITE on a topic produce idempotently (KIP-679), so the ACLs of the model are enough.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers.aiokafka import Producer
from faust.types import ProducerT


class IdempotentProducer(Producer):
    """Faust's aiokafka producer with `enable_idempotence` (which requires `acks=all`)."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class ServiceApp(faust.App):
    """A service's Faust app: its producer is idempotent."""

    def _new_producer(self) -> ProducerT:
        return IdempotentProducer(self.transport, loop=self.loop, beacon=self.beacon)
