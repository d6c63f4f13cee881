"""An infrastructure error makes the service try the same event again; it is never skipped."""

import asyncio
from types import SimpleNamespace

from aiokafka.errors import KafkaConnectionError

from egov.runtime import service as service_module
from egov.runtime.service import Service
from egov.runtime.settings import Settings
from egov.runtime.topics import Topics


def test_the_same_event_is_retried_until_the_broker_is_back(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(service_module, "RETRY_INITIAL_DELAY", 0.001)
    svc = Service("onestop", default_port=18099, settings=Settings(state_dir=tmp_path))
    attempts: list[object] = []

    async def flaky(spec, name, event, handler):  # type: ignore[no-untyped-def]
        attempts.append(event)
        if len(attempts) < 3:
            raise KafkaConnectionError("broker away")

    monkeypatch.setattr(svc, "_handle", flaky)
    event = SimpleNamespace(message=SimpleNamespace(topic="t", partition=0, offset=7))
    asyncio.run(svc._handle_with_retries(Topics.DOSSIERS, "h", event, handler=None))  # type: ignore[arg-type]
    assert attempts == [event, event, event]


def test_events_of_one_key_are_handled_one_at_a_time_and_other_keys_go_on() -> None:
    import asyncio

    from egov.runtime.service import KeyLocks

    locks = KeyLocks()
    order: list[str] = []

    async def handle(key: str, name: str, gate: asyncio.Event | None = None) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            if gate is not None:
                await gate.wait()
            order.append(f"{name} out")

    async def scenario() -> None:
        gate = asyncio.Event()
        first = asyncio.create_task(handle("d1", "decision", gate))
        await asyncio.sleep(0)  # let the decision take the lock (a yield of the loop, not a wait for time)
        settlement = asyncio.create_task(handle("d1", "settlement"))
        other = asyncio.create_task(handle("d2", "other"))
        await other  # another dossier is not held up
        assert order == ["decision in", "other in", "other out"]
        gate.set()
        await asyncio.gather(first, settlement)

    asyncio.run(scenario())
    assert order[3:] == ["decision out", "settlement in", "settlement out"]
    assert len(locks) == 0  # nothing kept once nobody holds a key


def test_a_changelog_missing_from_the_metadata_is_waited_for_not_dead_lettered() -> None:
    from faust.exceptions import PartitionsMismatch

    from egov.runtime.service import is_retryable

    assert is_retryable(PartitionsMismatch("the changelog topic has 0 partitions"))
    assert not is_retryable(ValueError("a bug"))
