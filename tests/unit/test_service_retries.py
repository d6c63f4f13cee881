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
