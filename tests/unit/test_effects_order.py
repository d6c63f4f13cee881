"""The effects of handling an event become durable in order: its table writes, then its outputs, then the
memory that it was handled; a refusal on the way is retried from where it happened, never by running the
handler again (its state is already written)."""

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
from egov.runtime.writes import TableWrites, Write, note

MEMORY_KEY = "h:urn:test:event-1"


class Changelog:
    """A table's changelog whose acknowledgements the test gives, and which records what was sent again."""

    def __init__(self) -> None:
        self.resent: list[tuple[int, Any]] = []
        self.pending: list[asyncio.Future[None]] = []

    def send(self, partition: int, key: Any) -> Write:
        return Write(self, partition, key, self._future())

    def send_current(self, partition: int, key: Any) -> asyncio.Future[None]:
        self.resent.append((partition, key))
        return self._future()

    def _future(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        return future


class Scenario:
    """A service on the fake engine whose handler writes a table entry and publishes one record; the test
    answers the write and the output itself."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
        monkeypatch.setattr(retries, "RETRY_INITIAL_DELAY", 0.001)
        clock = Clock(anchor=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
        self.service = Service(
            "onestop", default_port=18097, settings=Settings(state_dir=tmp_path), engine=FakeEngine(clock)
        )
        self.service.writes(Topics.DOSSIERS)
        self.changelog = Changelog()
        self.order: list[str] = []
        self.runs = 0
        self.outputs: list[asyncio.Future[None]] = []
        monkeypatch.setattr(self.service.engine, "hand_over", self._hand_over)
        monkeypatch.setattr(self.service, "_handle", self._handle)

    async def _hand_over(self, records: Any) -> asyncio.Future[None]:
        self.order.append(f"handed over {len(records)}")
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.outputs.append(ack)
        return ack

    async def _handler(self, event: Any) -> None:
        self.runs += 1
        note(self.changelog.send(3, "dossier-1"))
        await self.service.send_raw(Topics.DOSSIERS, key=b"dossier-1", value=b"v", headers=[])
        self.order.append("handler returned")

    async def _handle(self, spec, name, message, handler, takes, handled_at) -> None:  # type: ignore[no-untyped-def]
        await self.service._handle_once(MEMORY_KEY, message, SimpleNamespace(raw_headers=[]), self._handler)

    def start(self) -> asyncio.Task[None]:
        message = SimpleNamespace(topic="t", partition=3, offset=7, key=b"dossier-1")
        return asyncio.create_task(
            self.service._handle_with_retries(Topics.DOSSIERS, "h", message, handler=None)
        )  # type: ignore[arg-type]

    @property
    def remembered(self) -> bool:
        return self.service._processed.get(MEMORY_KEY) is not None


async def until(condition: Any) -> None:
    """Let the loop run until `condition()` holds (each turn a yield of the loop, bounded)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition did not come about")


def test_outputs_are_handed_over_only_once_the_writes_are_acknowledged(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(monkeypatch, tmp_path)

    async def play() -> None:
        handling = s.start()
        await until(lambda: s.order == ["handler returned"])
        assert not s.outputs  # the output waits for the write
        s.changelog.pending[0].set_result(None)
        await until(lambda: s.outputs)
        assert not s.remembered  # the memory waits for the output
        s.outputs[0].set_result(None)
        await handling

    asyncio.run(play())
    assert s.order == ["handler returned", "handed over 1"]
    assert s.remembered and s.runs == 1


def test_a_refused_write_is_sent_again_with_the_keys_value_and_the_handler_is_not_run_again(
    monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(monkeypatch, tmp_path)

    async def play() -> None:
        handling = s.start()
        await until(lambda: s.changelog.pending)
        s.changelog.pending[0].set_exception(KafkaConnectionError("leader gone"))
        await until(lambda: s.changelog.resent)
        assert s.changelog.resent == [(3, "dossier-1")]
        assert not s.outputs
        s.changelog.pending[1].set_result(None)
        await until(lambda: s.outputs)
        s.outputs[0].set_result(None)
        await handling

    asyncio.run(play())
    assert s.runs == 1 and s.remembered


def test_a_refused_output_is_handed_over_again_as_it_was_built(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Scenario(monkeypatch, tmp_path)

    async def play() -> None:
        handling = s.start()
        await until(lambda: s.changelog.pending)
        s.changelog.pending[0].set_result(None)
        await until(lambda: s.outputs)
        s.outputs[0].set_exception(KafkaConnectionError("broker away"))
        await until(lambda: len(s.outputs) == 2)
        assert not s.remembered
        s.outputs[1].set_result(None)
        await handling

    asyncio.run(play())
    assert s.order == ["handler returned", "handed over 1", "handed over 1"]
    assert s.runs == 1 and s.remembered
    assert s.changelog.resent == []  # the acknowledged write is not sent again


def test_a_write_made_outside_a_handling_is_not_waited_for() -> None:
    async def play() -> None:
        changelog = Changelog()
        writes = TableWrites()
        note(changelog.send(0, "k"))  # no handling records it
        with writes.recording():
            note(changelog.send(0, "k2"))
        assert len(writes) == 1
        changelog.pending[1].set_result(None)
        await writes.acknowledged()
        assert len(writes) == 0

    asyncio.run(play())
