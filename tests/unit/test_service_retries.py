"""An infrastructure error makes the service try the same event again; it is never skipped."""

import asyncio
from types import SimpleNamespace

from aiokafka.errors import KafkaConnectionError

from egov.contracts.topics import Topics
from egov.runtime import retries
from egov.runtime.service import Service
from egov.runtime.settings import Settings


def test_the_same_event_is_retried_until_the_broker_is_back(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(retries, "RETRY_INITIAL_DELAY", 0.001)
    svc = Service("onestop", default_port=18099, settings=Settings(state_dir=tmp_path))
    attempts: list[object] = []
    order: list[str] = []

    times: list[object] = []

    async def flaky(spec, name, message, handler, takes, handled_at):  # type: ignore[no-untyped-def]
        attempts.append(message)
        times.append(handled_at)
        order.append(f"attempt {len(attempts)}")
        if len(attempts) < 3:
            raise KafkaConnectionError("broker away")

    async def reply_for_the_same_key() -> None:
        async with svc._key_locks.hold(b"d-1"):
            order.append("reply")

    async def scenario() -> None:
        event = SimpleNamespace(topic="t", partition=0, offset=7, key=b"d-1")
        handling = asyncio.create_task(svc._handle_with_retries(Topics.DOSSIERS, "h", event, handler=None))  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the first attempt starts and fails; the back-off begins
        reply = asyncio.create_task(reply_for_the_same_key())
        await asyncio.gather(handling, reply)
        assert attempts == [event, event, event]

    monkeypatch.setattr(svc, "_handle", flaky)
    asyncio.run(scenario())
    # The key stays held through the back-off: a reply its output caused waits for the retried event.
    assert order == ["attempt 1", "attempt 2", "attempt 3", "reply"]
    assert len(set(times)) == 1  # a retried step decides at the same business time as its first attempt


def test_events_of_one_key_are_handled_one_at_a_time_and_other_keys_go_on() -> None:
    import asyncio

    from egov.runtime.retries import KeyLocks

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

    from egov.runtime.retries import is_retryable

    assert is_retryable(PartitionsMismatch("the changelog topic has 0 partitions"))
    assert not is_retryable(ValueError("a bug"))


def test_an_event_under_another_key_than_its_dossier_code_is_refused() -> None:
    import pytest

    from egov.contracts.serde import ContractError
    from egov.runtime.events import require_key as _require_key

    record = {"dossier_code": "000.00.04.H11-261125-0001"}
    _require_key(Topics.DOSSIERS, b"000.00.04.H11-261125-0001", record)
    with pytest.raises(ContractError, match="keyed by dossier_code, but this event has key 'other'"):
        _require_key(Topics.DOSSIERS, b"other", record)
    with pytest.raises(ContractError, match="has no key"):
        _require_key(Topics.DOSSIERS, None, record)
    _require_key(Topics.ONESTOP_INTAKE, b"000.00.04.H11", {"submission_id": "s"})  # keyed by no field


def test_an_event_without_the_field_its_topic_is_keyed_by_is_refused() -> None:
    import pytest

    from egov.contracts.serde import ContractError
    from egov.runtime.events import require_key

    with pytest.raises(ContractError, match="keyed by dossier_code, which this event does not carry"):
        require_key(Topics.DOSSIERS, b"000.00.04.H11-261125-0001", {"submission_id": "s"})
    # a nested key field: drafts are keyed by their issuing agency's code
    drafted = {"issuing_agency": {"code": "000.00.04.H11", "name": "Sở"}}
    require_key(Topics.DOCUMENT_DRAFTS, b"000.00.04.H11", drafted)
    with pytest.raises(ContractError, match=r"keyed by issuing_agency\.code"):
        require_key(Topics.DOCUMENT_DRAFTS, b"000.00.15.H11", drafted)


def test_a_consumer_that_frees_its_key_early_is_done_only_once_its_outputs_are_acknowledged(
    monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """release_key_before_acks: the next event of the key starts while the acknowledgements are awaited; the
    event itself returns (its offset may go) only after them, and a refused one makes it try again."""
    monkeypatch.setattr(retries, "RETRY_INITIAL_DELAY", 0.001)
    svc = Service("onestop", default_port=18098, settings=Settings(state_dir=tmp_path))
    order: list[str] = []
    acks: list[asyncio.Future[None]] = []

    async def hand_over(records):  # type: ignore[no-untyped-def]
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acks.append(ack)
        return ack

    async def handle(spec, name, message, handler, takes, handled_at):  # type: ignore[no-untyped-def]
        order.append(f"attempt {len(acks) + 1}")
        await svc._send([])

    async def next_event_of_the_key() -> None:
        async with svc._key_locks.hold(b"agency"):
            order.append("next event")

    async def scenario() -> None:
        event = SimpleNamespace(topic="t", partition=0, offset=7, key=b"agency")
        handling = asyncio.create_task(
            svc._handle_with_retries(Topics.DOSSIERS, "h", event, handler=None, release_key_before_acks=True)  # type: ignore[arg-type]
        )
        while not acks:
            await asyncio.sleep(0)
        await next_event_of_the_key()  # not held up by the acknowledgement
        assert not handling.done()
        acks[0].set_exception(KafkaConnectionError("broker away"))
        while len(acks) < 2:
            await asyncio.sleep(0)
        assert not handling.done()  # tried again, and waiting for the second acknowledgement
        acks[1].set_result(None)
        await handling

    monkeypatch.setattr(svc.engine, "hand_over", hand_over)
    monkeypatch.setattr(svc, "_handle", handle)
    asyncio.run(scenario())
    assert order == ["attempt 1", "next event", "attempt 2"]
