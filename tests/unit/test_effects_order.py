"""A handling that writes to tables writes ahead: its memory entry records its writes and outputs, then the
writes are sent, then the outputs, then the entry is marked done. A refusal on the way is retried from where
it happened, never by running the handler again; an event delivered again after a crash midway has its
effects redone from the entry."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from egov.contracts.topics import Topics
from egov.runtime import retries
from egov.runtime.clock import Clock
from egov.runtime.service import Service
from egov.runtime.settings import Settings
from egov.runtime.testing import FakeEngine
from egov.runtime.writes import ABSENT, TableWrites, Write, mode, note

MEMORY_KEY = "h:urn:test:event-1"
CASE = {"next": "decide"}


class Table(dict[str, Any]):
    """A table whose changelog sends are held while a handling holds them, and acknowledged by the test."""

    name = "cases"

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order
        self.acks: list[asyncio.Future[None]] = []
        self.resent: list[tuple[int, Any]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        before = self.get(key, ABSENT)
        super().__setitem__(key, value)
        if mode() == "hold":
            note(Write(self, 3, key, value, False, message=(key, value), held=True, before=before))

    def release(self, message: Any) -> asyncio.Future[None]:
        self.order.append("write sent")
        return self._ack()

    def send_current(self, partition: int, key: Any) -> asyncio.Future[None]:
        self.resent.append((partition, key))
        return self._ack()

    def _ack(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(future)
        return future


class Scenario:
    """A service on the fake engine whose handler writes a case file and publishes one record; the test
    answers the write and the output itself."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
        monkeypatch.setattr(retries, "RETRY_INITIAL_DELAY", 0.001)
        clock = Clock(anchor=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
        self.service = Service(
            "onestop", default_port=18097, settings=Settings(state_dir=tmp_path), engine=FakeEngine(clock)
        )
        self.service.writes(Topics.DOSSIERS)
        self.order: list[str] = []
        self.cases = Table(self.order)
        self.service._tables["cases"] = self.cases
        self.runs = 0
        self.outputs: list[asyncio.Future[None]] = []
        self.handed: list[Any] = []
        self.entry_when_written: Any = None
        monkeypatch.setattr(self.service.engine, "hand_over", self._hand_over)
        monkeypatch.setattr(self.service, "_handle", self._handle)

    async def _hand_over(self, records: Any) -> asyncio.Future[None]:
        self.order.append(f"handed over {len(records)}")
        self.handed.append(list(records))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.outputs.append(ack)
        return ack

    async def _handler(self, event: Any) -> None:
        self.runs += 1
        self.cases["dossier-1"] = CASE
        await self.service.send_raw(Topics.DOSSIERS, key=b"dossier-1", value=b"v", headers=[("h", b"1")])
        self.order.append("handler returned")

    async def _handle(self, spec, name, message, handler, takes, handled_at) -> None:  # type: ignore[no-untyped-def]
        incoming = SimpleNamespace(raw_headers=[])
        await self.service._handle_once(MEMORY_KEY, message, incoming, self._handler)  # type: ignore[arg-type]

    def start(self) -> asyncio.Task[None]:
        message = SimpleNamespace(topic="t", partition=3, offset=7, key=b"dossier-1")
        handling = self.service._handle_with_retries(Topics.DOSSIERS, "h", message, handler=None)  # type: ignore[arg-type]
        return asyncio.create_task(handling)

    @property
    def entry(self) -> Any:
        return self.service._processed.get(MEMORY_KEY)


async def until(condition: Any) -> None:
    """Let the loop run until `condition()` holds (each turn a yield of the loop, bounded)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition did not come about")


def taken_over(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> tuple[Scenario, Scenario]:
    """A worker that dies once its handling's entry is written ahead, before anything else, and the worker
    that takes over: the memory entry recovered, the case file not."""
    first = Scenario(monkeypatch, tmp_path)

    async def crash() -> Any:
        handling = first.start()
        await until(lambda: first.cases.acks)
        handling.cancel()
        return first.entry

    entry = asyncio.run(crash())
    second = Scenario(monkeypatch, tmp_path)
    second.service._processed[MEMORY_KEY] = entry
    return first, second


def test_the_writes_and_outputs_are_recorded_ahead_then_the_writes_sent_then_the_outputs(
    monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(monkeypatch, tmp_path)

    async def play() -> None:
        handling = s.start()
        await until(lambda: s.cases.acks)
        # the memory entry records what the handling is about to make durable, before anything is sent
        offset, _, partition, ahead = s.entry
        assert (offset, partition) == (7, 3)
        assert ahead["writes"] == [["cases", "dossier-1", CASE, ABSENT]]  # the value after, and before
        [[topic, _, _, headers]] = ahead["outputs"]
        assert topic.endswith("egov.onestop.dossiers.v1") and ["h", "MQ=="] in headers
        assert not s.outputs  # the output waits for the write
        s.cases.acks[0].set_result(None)
        await until(lambda: s.outputs)
        assert len(s.entry) == 4  # not done until the output is acknowledged
        s.outputs[0].set_result(None)
        await handling

    asyncio.run(play())
    assert s.order == ["handler returned", "write sent", "handed over 1"]
    assert len(s.entry) == 3 and s.runs == 1  # done


def test_a_refused_write_is_sent_again_with_the_keys_value_and_the_handler_is_not_run_again(
    monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(monkeypatch, tmp_path)

    async def play() -> None:
        handling = s.start()
        await until(lambda: s.cases.acks)
        s.cases.acks[0].set_exception(KafkaConnectionError("leader gone"))
        await until(lambda: s.cases.resent)
        assert s.cases.resent == [(3, "dossier-1")]
        assert not s.outputs
        s.cases.acks[1].set_result(None)
        await until(lambda: s.outputs)
        s.outputs[0].set_result(None)
        await handling

    asyncio.run(play())
    assert s.runs == 1 and len(s.entry) == 3


def test_a_refused_output_is_handed_over_again_as_it_was_built(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(monkeypatch, tmp_path)

    async def play() -> None:
        handling = s.start()
        await until(lambda: s.cases.acks)
        s.cases.acks[0].set_result(None)
        await until(lambda: s.outputs)
        s.outputs[0].set_exception(KafkaConnectionError("broker away"))
        await until(lambda: len(s.outputs) == 2)
        assert len(s.entry) == 4
        s.outputs[1].set_result(None)
        await handling

    asyncio.run(play())
    assert s.order == ["handler returned", "write sent", "handed over 1", "handed over 1"]
    assert s.handed[0] == s.handed[1]
    assert s.runs == 1 and len(s.entry) == 3
    assert s.cases.resent == []  # the acknowledged write is not sent again


def test_an_event_delivered_again_after_a_crash_midway_has_its_effects_redone_without_its_handler(
    monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    first, second = taken_over(monkeypatch, tmp_path)

    async def again() -> None:
        handling = second.start()
        await until(lambda: second.cases.acks)
        second.cases.acks[0].set_result(None)
        await until(lambda: second.outputs)
        second.outputs[0].set_result(None)
        await handling

    asyncio.run(again())
    assert second.runs == 0  # the handler is not run again: it would find the state moved on
    assert second.cases == {"dossier-1": CASE}
    assert first.handed == []  # the first worker never handed its output over
    [[redone]] = second.handed
    assert (redone.key, redone.value) == (b"dossier-1", b"v") and ("h", b"1") in redone.headers
    assert len(second.entry) == 3


def test_a_write_made_outside_a_handling_is_neither_held_nor_noted() -> None:
    writes = TableWrites()
    order: list[str] = []

    async def play() -> None:
        table = Table(order)
        table["k"] = 1  # no handling holds it
        with writes.holding():
            table["k2"] = 2
        assert len(writes) == 1 and order == []
        acknowledged = asyncio.create_task(writes.acknowledged())
        await until(lambda: table.acks)
        table.acks[0].set_result(None)
        await acknowledged
        assert order == ["write sent"] and len(writes) == 0

    asyncio.run(play())


def test_a_timer_is_fired_only_once_the_handling_that_set_it_is_durable(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from egov.runtime.timers import Timers

    s = Scenario(monkeypatch, tmp_path)
    timers = Timers(s.service)

    async def act(key: str, event: Any) -> None:
        """Nothing to do: only whether the timer fires matters here."""

    timers.on("act", act)
    handler = s._handler

    async def setting_a_timer(event: Any) -> None:
        await handler(event)
        timers.set("dossier-1", "act", s.service.clock.now() - dt.timedelta(hours=1))  # due already

    monkeypatch.setattr(s, "_handler", setting_a_timer)

    async def play() -> None:
        handling = s.start()
        await until(lambda: s.cases.acks)
        await timers.fire_due()
        assert s.handed == []  # not fired while the handling's writes are not acknowledged
        s.cases.acks[0].set_result(None)
        await until(lambda: s.outputs)
        s.outputs[0].set_result(None)
        await handling
        fired = asyncio.create_task(timers.fire_due())
        await until(lambda: len(s.outputs) == 2)
        s.outputs[1].set_result(None)
        await fired

    asyncio.run(play())
    assert [len(batch) for batch in s.handed] == [1, 1]  # the handling's output, then the timer's event
    assert s.handed[1][0].topic.endswith("egov.onestop.timers.v1")


def test_what_a_failed_attempt_wrote_reaches_the_changelog_before_the_next_one(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(monkeypatch, tmp_path)
    handler = s._handler

    async def flaky(event: Any) -> None:
        if s.runs == 0:
            s.runs += 1
            s.cases["dossier-0"] = CASE  # written in memory, then the broker goes away
            raise KafkaConnectionError("broker away")
        await handler(event)

    monkeypatch.setattr(s, "_handler", flaky)

    async def play() -> None:
        handling = s.start()
        await until(lambda: len(s.cases.acks) == 2)
        assert s.order[0] == "write sent"  # the failed attempt's write, released at once
        for ack in s.cases.acks:
            ack.set_result(None)
        await until(lambda: s.outputs)
        s.outputs[0].set_result(None)
        await handling

    asyncio.run(play())
    assert s.runs == 2 and s.order == ["write sent", "handler returned", "write sent", "handed over 1"]


def test_a_redo_leaves_a_key_a_later_handling_wrote_since(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The request's worker crashed before its entry was done; the answer its output caused was handled
    first by the worker that took over, and closed the request: the redo must not open it again."""
    _, second = taken_over(monkeypatch, tmp_path)
    dict.__setitem__(second.cases, "dossier-1", {"next": "done"})  # recovered: the answer's write

    async def again() -> None:
        handling = second.start()
        await until(lambda: second.outputs)
        second.outputs[0].set_result(None)
        await handling

    asyncio.run(again())
    assert second.cases == {"dossier-1": {"next": "done"}}
    assert second.cases.acks == []  # nothing written again
    assert len(second.handed) == 1  # the output is sent again all the same (its readers drop a copy)
