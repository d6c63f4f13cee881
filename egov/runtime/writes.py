"""The table writes of one event's handling, held back so its effects become durable in a safe order.

A table is kept in memory and recorded in its changelog topic. Were a handler's outputs published before its
table writes were acknowledged, a worker that crashes in between would leave the outputs visible and the
state behind them lost: the answer to a request would reach the worker that takes over before the request is
recorded there again. Were the writes acknowledged first, a crash before the outputs would leave the state
moved on and the outputs never sent: the event, delivered again, finds the new state and cannot build them
again. So the runtime writes ahead (docs/adr/0002): the handler's writes are held (the table in memory has
them, the changelog not yet), then the event's memory entry records the writes and the outputs and is
acknowledged, then the held writes are sent and acknowledged, then the outputs; last the entry is marked done.
An event delivered again whose entry is not done has its writes and outputs redone from the entry, and its
handler is not run again. A write is redone only where the key still holds the value from before it (lost
with the worker); where it holds the value written, it landed; where it holds another, a later handling
wrote it (an event its outputs caused, handled first by the worker that took over) and it stays.

`TableWrites.holding()` makes the tables hold the changelog sends made in its context (each event is handled
in its own task, so in its own context); `recording()` makes them note the sends they make at once (the
memory entry's own), so they can be awaited.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol


class DurableTable(Protocol):
    """What the runtime needs of a table whose changelog sends it holds (egov.runtime.kafkaclients)."""

    @property
    def name(self) -> str: ...

    def release(self, message: Any) -> Awaitable[Any]:
        """Send a held changelog record; what is returned settles once the broker acknowledged it."""
        ...

    def send_current(self, partition: int, key: Any) -> Awaitable[Any]:
        """Send the changelog record of the key's value now (a tombstone when it has none)."""
        ...


#: A key's value in an image of a table: absent (no entry) rather than any JSON value.
ABSENT: Any = {"egov:absent": True}


@dataclass(frozen=True)
class Write:
    """One changelog record of a table write: the table, partition and key, the value written (None and
    `deleted` for a removal), the key's value before (`ABSENT` when it had none), and the record itself:
    `held` (to be released), or sent (awaitable)."""

    table: DurableTable
    partition: int
    key: Any
    value: Any
    deleted: bool
    message: Any
    held: bool = False
    before: Any = field(default_factory=lambda: dict(ABSENT))


def same(a: Any, b: Any) -> bool:
    """Whether two images of a value are the same once both are JSON (a value read back from a changelog
    or a memory entry has its dates as text)."""
    return bool(json.dumps(a, sort_keys=True, default=_text) == json.dumps(b, sort_keys=True, default=_text))


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date | dt.time) else str(value)


_MODE: ContextVar[tuple[Literal["hold", "record"], list[Write]] | None] = ContextVar(
    "egov_table_writes", default=None
)


def mode() -> Literal["hold", "record"] | None:
    """How a table must treat a changelog send now: hold it, send and note it, or (None) just send it."""
    current = _MODE.get()
    return current[0] if current is not None else None


def note(write: Write) -> None:
    """Called by a table for each changelog send it held or noted."""
    current = _MODE.get()
    if current is not None:
        current[1].append(write)


class TableWrites:
    """The changelog records of the table writes made while `holding()` or `recording()`."""

    def __init__(self) -> None:
        self._writes: list[Write] = []

    def __len__(self) -> int:
        return len(self._writes)

    @contextmanager
    def holding(self) -> Iterator[None]:
        with self._in("hold"):
            yield

    @contextmanager
    def recording(self) -> Iterator[None]:
        with self._in("record"):
            yield

    @contextmanager
    def _in(self, how: Literal["hold", "record"]) -> Iterator[None]:
        token = _MODE.set((how, self._writes))
        try:
            yield
        finally:
            _MODE.reset(token)

    def entries(self) -> list[list[Any]]:
        """The writes as the memory entry keeps them, one per key: `[table, key, value after, value before]`
        (`ABSENT` for none), the value after from the key's last write, before from its first."""
        found: dict[tuple[str, Any], list[Any]] = {}
        for w in self._writes:
            first = found.pop((w.table.name, w.key), None)  # keeps the order of the last writes
            before = first[3] if first is not None else w.before
            found[(w.table.name, w.key)] = [w.table.name, w.key, ABSENT if w.deleted else w.value, before]
        return list(found.values())

    def release(self) -> None:
        """Send what is held, without waiting (for writes that must reach the changelog whatever happens
        next: those of an attempt that failed, whose values the tables in memory keep)."""
        self._writes = [
            Write(w.table, w.partition, w.key, w.value, w.deleted, w.table.release(w.message))
            if w.held
            else w
            for w in self._writes
        ]

    async def acknowledged(self) -> None:
        """Send what is held, and wait until the broker has acknowledged every write. When it refused some (or
        did not answer in time), the current value of each key concerned is sent again (not the refused
        value: the last value of a key written twice must stay last) and the first error is raised: the
        caller backs off and waits again."""
        writes, self._writes = self._writes, []
        pending = [w.table.release(w.message) if w.held else w.message for w in writes]
        results = await asyncio.gather(*pending, return_exceptions=True)
        failed = [(w, r) for w, r in zip(writes, results, strict=True) if isinstance(r, BaseException)]
        if not failed:
            return
        again: dict[tuple[int, int, Any], Write] = {}
        for w, _ in failed:
            again.setdefault((id(w.table), w.partition, w.key), w)
        self._writes = [
            replace(w, message=w.table.send_current(w.partition, w.key), held=False) for w in again.values()
        ]
        raise failed[0][1]
