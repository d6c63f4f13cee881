import datetime as dt

import pytest

from egov.contracts.envelope import Envelope, EnvelopeError, trace_id_of

T = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


def test_headers_round_trip_in_binary_mode() -> None:
    env = Envelope.new(source="/egov/portal", type="vn.egov.dossier.DossierSubmitted", subject="s-1", time=T)
    headers = dict(env.to_headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_time"] == b"2026-11-24T03:00:00Z"
    assert headers["content-type"] == b"application/avro"
    assert Envelope.from_headers(env.to_headers()) == env


def test_missing_headers_are_named() -> None:
    with pytest.raises(EnvelopeError, match="ce_source, ce_type"):
        Envelope.from_headers([("ce_specversion", b"1.0"), ("ce_id", b"x")])


def test_naive_times_are_refused() -> None:
    with pytest.raises(EnvelopeError, match="timezone-aware"):
        Envelope(id="x", source="/s", type="t", time=dt.datetime(2026, 1, 1))


def test_a_caused_event_continues_the_trace_with_a_deterministic_id() -> None:
    cause = Envelope.new(source="/egov/portal", type="a", subject="s", time=T)
    effect = Envelope.new(
        source="/egov/onestop", type="b", subject="c", time=T, caused_by=cause, id=cause.derived_id("b")
    )
    assert trace_id_of(effect.traceparent) == trace_id_of(cause.traceparent)
    assert effect.traceparent != cause.traceparent
    assert cause.derived_id("b") == effect.id != cause.derived_id("c")
