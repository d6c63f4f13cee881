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
- The fired event's id is derived from key, purpose and due time: a timer fired twice (the check ran again
  before the first was read back, or after a restart) is handled once.
- A handler that fails with an infrastructure error is retried like any handler; the timer is removed only
  once its handler has run, unless the handler set it again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from egov.runtime.topics import EventTypes, timers

if TYPE_CHECKING:
    from egov.runtime.service import IncomingEvent, Service

#: Called with the timer's key and the TimerFired event (as the cause of whatever the handler publishes; its
#: record holds the full purpose).
TimerHandler = Callable[[str, "IncomingEvent"], Awaitable[None]]

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:timers")


def _millis(instant: dt.datetime) -> dt.datetime:
    """`instant` in UTC at the millisecond precision of Avro's timestamp-millis."""
    instant = instant.astimezone(dt.UTC)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


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
        service.consume(self.spec, self._on_fired, name="timers")
        every = interval or service.settings.timer_interval
        service.app.timer(every, name=f"{service.name}.timers-check")(self.fire_due)

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
        entries[purpose] = _millis(due).isoformat()  # what the TimerFired event can carry back
        self.table[key] = entries

    def cancel(self, key: str, purpose: str) -> None:
        entries = dict(self.table.get(key) or {})
        if entries.pop(purpose, None) is None:
            return
        if entries:
            self.table[key] = entries
        else:
            del self.table[key]

    def due(self, key: str, purpose: str) -> dt.datetime | None:
        value = (self.table.get(key) or {}).get(purpose)
        return dt.datetime.fromisoformat(value) if value else None

    async def fire_due(self) -> None:
        """Publish a TimerFired for every timer that came due (reads the table, never writes it)."""
        if not self.service.is_ready():
            return
        now = self.service.clock.now()
        for key, entries in list(self.table.items()):
            for purpose, due_text in dict(entries or {}).items():
                token = (key, purpose, due_text)
                due = dt.datetime.fromisoformat(due_text)
                if due > now or token in self._in_flight:
                    continue
                await self._publish(key, purpose, due, now)
                self._in_flight.add(token)

    async def _publish(self, key: str, purpose: str, due: dt.datetime, now: dt.datetime) -> None:
        event_id = str(uuid.uuid5(_NAMESPACE, f"{self.service.name}/{key}/{purpose}/{due.isoformat()}"))
        envelope = self.service.new_envelope(EventTypes.TIMER_FIRED, subject=key, time=now, id=event_id)
        record: dict[str, Any] = {"key": key, "purpose": purpose, "due_at": due, "fired_at": now}
        await self.service.publish(self.spec, record, key=key, envelope=envelope)

    async def _on_fired(self, event: IncomingEvent) -> None:
        record = event.record
        key, purpose = record["key"], record["purpose"]
        due_text = _millis(record["due_at"]).isoformat()
        self._in_flight.discard((key, purpose, due_text))
        current = (self.table.get(key) or {}).get(purpose)
        if current != due_text:
            self.service.log.info("timer.stale", timer_key=key, purpose=purpose)  # cancelled or moved
            return
        handler = self._handlers.get(_kind(purpose))
        if handler is None:
            from egov.runtime.service import RejectedEvent

            raise RejectedEvent(f"no handler for timers of purpose {purpose!r}")
        await handler(key, event)
        if (self.table.get(key) or {}).get(purpose) == current:
            self.cancel(key, purpose)
