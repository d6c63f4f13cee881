"""What may pass and is tried again, and the one-event-per-key discipline that retries keep.

A broker away or a time-out passes: the same event is handled again after a back-off, never dead-lettered and
never skipped (its offset is not committed meanwhile). A Kafka error that cannot pass (a record too large, no
authorisation) is not retried: the event goes to the dead letters with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from faust.exceptions import PartitionsMismatch, ProducerSendError

#: Back-off before the first retry of an event, doubled at each attempt up to the maximum (seconds).
RETRY_INITIAL_DELAY = 0.5
RETRY_MAX_DELAY = 30.0


class TryLater(Exception):
    """A handler cannot act on an event yet, for a reason that will pass (a trust store not yet published, a
    system it calls not answering): the same event is tried again after a back-off, never dead-lettered."""


def is_retryable(exc: BaseException) -> bool:
    """An error of the infrastructure that may pass (broker away, time-out): the event is tried again,
    never dead-lettered. A Kafka error that cannot pass (a record too large, no authorisation) is not."""
    if isinstance(
        exc, TryLater | KafkaConnectionError | KafkaTimeoutError | asyncio.TimeoutError | ConnectionError
    ):
        return True
    if isinstance(exc, ProducerSendError) and exc.__cause__ is not None:
        # Faust wraps what the client raised before a record left (a metadata wait that timed out, a broker
        # away): judge the cause, so an outage is waited out and an authorisation failure is not.
        return is_retryable(exc.__cause__)
    if isinstance(exc, PartitionsMismatch):
        # A table's changelog not yet in the client's metadata (just created) looks like 0 partitions, and
        # that passes. A real mismatch (a changelog made by hand) does not: the partition then waits, with a
        # warning at each attempt, until an operator fixes the topic (dead-lettering would drop every event).
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


class KeyLocks:
    """An asyncio lock per key, dropped when nobody holds or waits for it. Records without a key share one."""

    def __init__(self) -> None:
        self._locks: dict[str | bytes | None, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str | bytes | None) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
