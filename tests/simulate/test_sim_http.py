"""HTTP targets against a real aiohttp server on 127.0.0.1: headers, signature, retries."""

from __future__ import annotations

import hashlib
import socket

import pytest

from batchrelay.simulate import Counts, RetryPolicy, deliver
from batchrelay.simulate.targets import (
    HttpOptions,
    HttpTarget,
    eventbridge_target,
    http_problem,
    ice_signature,
    ice_target,
)

from .conftest import FakeClock, Recorder

pytestmark = pytest.mark.timeout(10)

BODY = b'{"specversion":"1.0","id":"x"}'


def options(clock: FakeClock, attempts: int = 5) -> HttpOptions:
    return HttpOptions(RetryPolicy(attempts=attempts), clock.sleep, timeout=5.0)


async def send(target: HttpTarget, bodies: list[bytes]) -> Counts:
    try:
        return await deliver(bodies, target, concurrency=2)
    finally:
        await target.aclose()


async def test_eventbridge_posts_cloudevents_with_the_token(
    recorder: Recorder, clock: FakeClock
) -> None:
    target = eventbridge_target(recorder.url, token="s3cret", options=options(clock))
    assert await send(target, [BODY, BODY + b" "]) == Counts(sent=2)
    first = recorder.requests[0]
    assert first.path == "/ingest/eventbridge"
    assert first.headers["Content-Type"] == "application/cloudevents+json"
    assert first.headers["x-eventbridge-signature-token"] == "s3cret"
    assert sorted(r.body for r in recorder.requests) == [BODY, BODY + b" "]


async def test_eventbridge_without_token_sends_no_token_header(
    recorder: Recorder, clock: FakeClock
) -> None:
    await send(eventbridge_target(recorder.url, options=options(clock)), [BODY])
    assert "x-eventbridge-signature-token" not in recorder.requests[0].headers


async def test_ice_callback_is_signed_as_ice_signs(recorder: Recorder, clock: FakeClock) -> None:
    target = ice_target(
        recorder.url, auth_key="Test123", wall_clock=lambda: 1795140000.7, options=options(clock)
    )
    await send(target, [b'{"EventType":"ProduceMediaComplete"}'])
    (request,) = recorder.requests
    url = f"{recorder.url}/ingest/ice"
    assert request.path == "/ingest/ice"
    assert request.headers["X-ICE-TIMESTAMP"] == "1795140000"
    expected = hashlib.md5(f"{url}|1795140000|Test123".encode()).hexdigest()
    assert request.headers["X-ICE-SIGNATURE"] == expected


async def test_ice_signature_passes_batchrelays_verifier(
    recorder: Recorder, clock: FakeClock
) -> None:
    from batchrelay.sources import ice_auth

    callback = "https://relay.example.com/ingest/ice"  # as configured behind a proxy
    target = ice_target(
        recorder.url,
        auth_key="Key42",
        callback_url=callback,
        wall_clock=lambda: 1795140000.0,
        options=options(clock),
    )
    await send(target, [b"{}"])
    config = ice_auth.IceAuthConfig(auth_key="Key42", callback_url=callback)
    ice_auth.verify_callback(recorder.requests[0].headers, now=1795140001.0, config=config)


async def test_ice_without_auth_key_sends_no_signature(
    recorder: Recorder, clock: FakeClock
) -> None:
    await send(ice_target(recorder.url, options=options(clock)), [b"{}"])
    assert "X-ICE-SIGNATURE" not in recorder.requests[0].headers


async def test_503_is_retried_with_backoff_and_retry_after(
    recorder: Recorder, clock: FakeClock
) -> None:
    recorder.script = [503, (503, {"Retry-After": "3"}), 200]
    counts = await send(eventbridge_target(recorder.url, options=options(clock)), [BODY])
    assert counts == Counts(sent=1, retried=2)
    assert len(recorder.requests) == 3 and {r.body for r in recorder.requests} == {BODY}
    assert clock.sleeps == [0.2, 3.0]  # exponential first, then what the server asked for


async def test_retries_are_bounded_and_counted(recorder: Recorder, clock: FakeClock) -> None:
    recorder.script = [500] * 10
    counts = await send(
        eventbridge_target(recorder.url, options=options(clock, attempts=3)), [BODY]
    )
    assert counts == Counts(sent=0, retried=2, failed=1, errors={"http_500": 1})
    assert len(recorder.requests) == 3


async def test_client_errors_are_not_retried(recorder: Recorder, clock: FakeClock) -> None:
    recorder.script = [400]
    counts = await send(ice_target(recorder.url, options=options(clock)), [b"{}", b"[]"])
    assert counts == Counts(sent=1, failed=1, errors={"http_400": 1})
    assert len(recorder.requests) == 2 and clock.sleeps == []


async def test_connection_errors_are_retried_then_counted(clock: FakeClock) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = eventbridge_target(f"http://127.0.0.1:{port}", options=options(clock, attempts=2))
    counts = await send(target, [BODY])
    assert counts == Counts(sent=0, retried=1, failed=1, errors={"connection": 1})


def test_http_status_classes() -> None:
    assert http_problem(204, None) is None
    assert http_problem(429, "7") is not None and http_problem(429, "7").after == 7.0  # type: ignore[union-attr]
    assert http_problem(404, None).retryable is False  # type: ignore[union-attr]
    assert http_problem(502, "soon").after is None  # type: ignore[union-attr]


def test_ice_signature_formula() -> None:
    # protocols.md §5.2: the documented example digest does not reproduce; this one does.
    digest = ice_signature("https://www.example.com/your/callback", "1519375990", "Test123")
    assert digest == "c587b80d2d0ede300e8967937da7219b"
