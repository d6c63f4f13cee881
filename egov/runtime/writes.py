"""The table writes of one event's handling, so its effects become durable in a safe order.

A table is kept in memory and recorded in its changelog topic: a write is sent to the changelog and the
handler goes on without waiting. Were the handler's outputs published before its writes were acknowledged, a
worker that crashes in between would leave the outputs visible and the state behind them lost: the answer to
a request would reach the worker that takes over before the request is recorded there again, a timer would
fire for a case file that is not there. So the runtime waits for the writes of a handling before it hands
its outputs over, and remembers the event as handled only after both (docs/adr/0002).

`TableWrites.recording()` makes the tables note the changelog sends made in its context (each event is
handled in its own task, so in its own context); `acknowledged()` waits for them, and sends the key's value
again when the broker refused a write (the table in memory holds the value to record).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol


class Resendable(Protocol):
    """A table that can send the changelog record of a key's value now again."""

    def send_current(self, partition: int, key: Any) -> Awaitable[Any]: ...


@dataclass(frozen=True)
class Write:
    """One changelog send of a table write: which table, partition and key, and its acknowledgement."""

    table: Resendable
    partition: int
    key: Any
    sent: Awaitable[Any]


_RECORDING: ContextVar[list[Write] | None] = ContextVar("egov_table_writes", default=None)


def note(write: Write) -> None:
    """Called by a table for each changelog send: kept when a handling is recording its writes."""
    writes = _RECORDING.get()
    if writes is not None:
        writes.append(write)


class TableWrites:
    """The changelog sends of the table writes made while `recording()`."""

    def __init__(self) -> None:
        self._writes: list[Write] = []

    def __len__(self) -> int:
        return len(self._writes)

    @contextmanager
    def recording(self) -> Iterator[None]:
        token = _RECORDING.set(self._writes)
        try:
            yield
        finally:
            _RECORDING.reset(token)

    async def acknowledged(self) -> None:
        """Wait until the broker has acknowledged every write. When it refused some (or did not answer in
        time), the current value of each key concerned is sent again (not the refused value: the last
        value of a key written twice must stay last) and the first error is raised: the caller backs off
        and waits again."""
        writes, self._writes = self._writes, []
        results = await asyncio.gather(*(w.sent for w in writes), return_exceptions=True)
        failed = [(w, r) for w, r in zip(writes, results, strict=True) if isinstance(r, BaseException)]
        if not failed:
            return
        again: dict[tuple[int, int, Any], Write] = {}
        for w, _ in failed:
            again.setdefault((id(w.table), w.partition, w.key), w)
        self._writes = [
            Write(w.table, w.partition, w.key, w.table.send_current(w.partition, w.key))
            for w in again.values()
        ]
        raise failed[0][1]
