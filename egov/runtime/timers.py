"""Durable timers: "when business time reaches T, do this for key K", surviving restarts.

Faust tables can only be changed while an event of the right partition is being handled, and a timer
callback has no event. So a timer is kept in a changelog-backed table by its key; a periodic check (which
only reads) publishes a `TimerFired` event keyed by the same key on the service's internal timers topic;
the service reads it back on the partition that owns the key, and the handler runs there like any other
event handler: it may change tables and publish.

Rules for callers:
- `set` and `cancel` are called from a handler of an event keyed by the timer's key (all topics of the
  project have the same partition count and partitioner, so the key lands on the same partition).
- A key holds at most one timer per purpose; setting it again moves it. A purpose may carry a suffix after
  a colon (`deadline:<correlation id>`): the handler registered for `deadline` runs for all of them.
- The fired event's id is derived from key, purpose, due time and when the timer was set: a timer fired
  twice (the check ran again before the first was read back, or after a restart) is handled once.
- A check that cannot publish (broker away) logs it and tries again at the next check.
- A timer is fired only once the handling that set it is durable (egov.runtime.writes): fired from a table
  write a crash then lost, its event would be handled as stale by the worker that takes over, and the
  same timer, set again when that handling is redone, would carry the same event id and be dropped.
- A handler that fails with an infrastructure error is retried like any handler; the timer is removed only
  once its handler has run, unless the handler set it again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from egov.contracts.topics import EventTypes, timers
from egov.runtime.clock import to_millis
from egov.runtime.events import IncomingEvent, RejectedEvent
from egov.runtime.retries import is_retryable
from egov.runtime.service import Service

#: Called with the timer's key and the TimerFired event (as the cause of whatever the handler publishes; its
#: record holds the full purpose).
TimerHandler = Callable[[str, IncomingEvent], Awaitable[None]]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:timers")


def _due(entry: str) -> dt.datetime:
    return dt.datetime.fromisoformat(entry.split("|", 1)[0])


def _kind(purpose: str) -> str:
    return purpose.split(":", 1)[0]


class Timers:
    """The durable timers of one service."""

    def __init__(self, service: Service, *, interval: float | None = None) -> None:
        self.service = service
        self.spec = timers(service.name)
        service.writes(self.spec)
        self.table = service.table("timers", help="Key → {purpose: due time}: timers not yet handled.")
        self._handlers: dict[str, TimerHandler] = {}
        #: Fired by this process and not yet read back: not fired again meanwhile.
        self._in_flight: set[tuple[str, str, str]] = set()
        #: Set by a handling whose writes are not acknowledged yet: not fired until they are.
        self._not_durable: set[tuple[str, str, str]] = set()
        service.consume(self.spec, self._on_fired, name="timers")
        every = interval or service.settings.timer_interval
        service.every(every, self.fire_due, name="timers-check")

    def on(self, purpose: str, handler: TimerHandler) -> None:
        """Run `handler` when a timer of `purpose` comes due."""
        self._handlers[purpose] = handler

    def set(self, key: str, purpose: str, due: dt.datetime) -> None:
        """Start (or move) the `purpose` timer of `key`; call it from a handler of an event keyed by `key`."""
        if _kind(purpose) not in self._handlers:
            raise KeyError(f"no handler for timers of purpose {purpose!r}")
        if due.tzinfo is None:
            raise ValueError("a timer's due time must be timezone-aware")
        entries = dict(self.table.get(key) or {})
        # The due time as the TimerFired event can carry it back, and when it was set: a timer set again
        # to the same due time after it fired is a new timer, with a new event id.
        entry = f"{to_millis(due).isoformat()}|{self.service.clock.now().isoformat()}"
        entries[purpose] = entry
        self.table[key] = entries
        token = (key, purpose, entry)
        self._not_durable.add(token)
        self.service.when_durable(lambda: self._not_durable.discard(token))

    def cancel(self, key: str, purpose: str) -> None:
        entries = dict(self.table.get(key) or {})
        if entries.pop(purpose, None) is None:
            return
        if entries:
            self.table[key] = entries
        else:
            del self.table[key]

    async def fire_due(self) -> None:
        """Publish a TimerFired for every timer that came due (reads the table, never writes it)."""
        if not self.service.is_ready():
            return
        now = self.service.clock.now()
        for key, entries in list(self.table.items()):
            for purpose, entry in dict(entries or {}).items():
                token = (key, purpose, entry)
                due = _due(entry)
                if due > now or token in self._in_flight or token in self._not_durable:
                    continue
                self._in_flight.add(token)
                try:
                    await self._publish(key, purpose, entry, now)
                except Exception as exc:
                    # A failed check must not stop the worker (Faust ends the app when a timer raises).
                    if is_retryable(exc):
                        self._in_flight.discard(token)  # the next check tries again
                        self.service.log.warning(
                            "timer.not_fired_yet", timer_key=key, purpose=purpose, error=repr(exc)
                        )
                    else:
                        self.service.log.exception("timer.cannot_fire", timer_key=key, purpose=purpose)

    async def _publish(self, key: str, purpose: str, entry: str, now: dt.datetime) -> None:
        event_id = str(uuid.uuid5(_NAMESPACE, f"{self.service.name}/{key}/{purpose}/{entry}"))
        due = _due(entry)
        envelope = self.service.new_envelope(EventTypes.TIMER_FIRED, subject=key, time=now, id=event_id)
        record: dict[str, Any] = {"key": key, "purpose": purpose, "due_at": due, "fired_at": now}
        await self.service.publish(self.spec, record, key=key, envelope=envelope)

    async def _on_fired(self, event: IncomingEvent) -> None:
        record = event.record
        key, purpose = record["key"], record["purpose"]
        current = (self.table.get(key) or {}).get(purpose)
        self._in_flight.discard((key, purpose, current))
        if current is None or _due(current) != to_millis(record["due_at"]):
            self.service.log.info("timer.stale", timer_key=key, purpose=purpose)  # cancelled or moved
            return
        handler = self._handlers.get(_kind(purpose))
        if handler is None:
            raise RejectedEvent(f"no handler for timers of purpose {purpose!r}")
        await handler(key, event)
        if (self.table.get(key) or {}).get(purpose) == current:
            self.cancel(key, purpose)
