"""Where simulated traffic goes: the Target contract, bounded retries, and the HTTP targets.

:func:`deliver` drives any :class:`Target` with bounded concurrency, paced by a token bucket
or by each body's due time.
Every target retries what is worth retrying (connection errors, timeouts, 5xx, 429, MNS
server-side errors) a bounded number of times and *counts* the rest, so a run always ends
with a :class:`Counts` that accounts for every body: nothing is lost silently.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import structlog

from batchrelay.simulate.pacing import Clock, SystemClock, TokenBucket

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Counts:
    """Bodies sent, resends made, bodies given up on, and why (reason -> bodies), and bodies
    lost on purpose (``--lose``)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)
    lost: int = 0

    def __add__(self, other: Counts) -> Counts:
        errors = Counter(self.errors) + Counter(other.errors)
        return Counts(
            self.sent + other.sent,
            self.retried + other.retried,
            self.failed + other.failed,
            dict(sorted(errors.items())),
            self.lost + other.lost,
        )


class Target(Protocol):
    """Sends bodies to one destination.

    :func:`deliver` calls ``send`` with up to ``chunk_size`` bodies, from several tasks at
    once (bounded by its ``concurrency``). ``send`` retries and counts failures itself and
    raises only on a bug. ``aclose`` is called once, after the last ``send``.
    """

    name: str
    chunk_size: int

    async def send(self, bodies: Sequence[bytes]) -> Counts: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one attempt to send one body failed."""

    reason: str  # "connection", "timeout", "http_503", or an MNS error code
    retryable: bool
    after: float | None = None  # the server's Retry-After, in seconds


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5  # per body, the first try included
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int, hint: float | None) -> float:
        """Exponential from ``base_delay``; a Retry-After hint wins, both capped."""
        wanted = hint if hint is not None else self.base_delay * 2 ** (attempt - 1)
        return min(self.max_delay, max(0.0, wanted))


Attempt = Callable[[Sequence[bytes]], Awaitable[list[tuple[int, Problem]]]]
"""Try to send ``bodies`` once; return ``(index, problem)`` for each one that failed."""


async def with_retries(
    bodies: Sequence[bytes], attempt: Attempt, policy: RetryPolicy, sleep: Sleep
) -> Counts:
    """Send, then resend only the bodies that failed retryably, up to ``policy.attempts``."""
    pending, sent, retried, given_up = list(bodies), 0, 0, Counter[str]()
    for number in range(1, policy.attempts + 1):
        failures = await attempt(pending)
        sent += len(pending) - len(failures)
        last = number == policy.attempts
        again = [(i, p) for i, p in failures if p.retryable and not last]
        given_up.update(p.reason for i, p in failures if not p.retryable or last)
        if not again:
            break
        retried += len(again)
        hints = [p.after for _, p in again if p.after is not None]
        await sleep(policy.delay(number, max(hints) if hints else None))
        pending = [pending[i] for i, _ in again]
    for reason, count in given_up.items():
        log.warning("simulate.send_failed", reason=reason, bodies=count)
    return Counts(sent, retried, given_up.total(), dict(sorted(given_up.items())))


async def deliver(
    bodies: Sequence[bytes],
    target: Target,
    *,
    rate: float = 0.0,
    concurrency: int = 4,
    clock: Clock | None = None,
    due: Sequence[float] | None = None,
) -> Counts:
    """Send every body through ``target``: at most ``concurrency`` sends in flight, paced
    to ``rate`` bodies per second (0 = as fast as possible), or with ``due`` (seconds after
    the start, one per body, never decreasing) each body when its time comes."""
    clock = clock or SystemClock()
    bucket = TokenBucket(rate, clock=clock)
    slots = asyncio.Semaphore(concurrency)
    results: list[Counts] = []

    async def send(chunk: Sequence[bytes]) -> None:
        try:
            results.append(await target.send(chunk))
        finally:
            slots.release()

    if due is None:
        pending: AsyncIterator[Sequence[bytes]] = _all_at_once(bodies, target.chunk_size)
    else:
        pending = on_time(bodies, due, target.chunk_size, clock)
    async with asyncio.TaskGroup() as group:
        async for chunk in pending:
            await slots.acquire()  # backpressure: no task is created before a slot is free
            await bucket.acquire(len(chunk))
            group.create_task(send(chunk))
    return sum(results, Counts())


async def _all_at_once(bodies: Sequence[bytes], size: int) -> AsyncIterator[Sequence[bytes]]:
    for chunk in chunks(bodies, size):
        yield chunk


async def on_time(
    bodies: Sequence[bytes], due: Sequence[float], size: int, clock: Clock
) -> AsyncIterator[Sequence[bytes]]:
    """Chunks of up to ``size`` bodies whose due time has come, each as soon as it has."""
    started = clock.monotonic()
    index = 0
    while index < len(bodies):
        wait = started + due[index] - clock.monotonic()
        if wait > 0:
            await clock.sleep(wait)
        now = clock.monotonic() - started
        end = index + 1
        while end < len(bodies) and end - index < size and due[end] <= now:
            end += 1
        yield bodies[index:end]
        index = end


def chunks(bodies: Sequence[bytes], size: int) -> Iterator[Sequence[bytes]]:
    for start in range(0, len(bodies), size):
        yield bodies[start : start + size]


@dataclass(frozen=True, slots=True)
class HttpOptions:
    policy: RetryPolicy = RetryPolicy()
    sleep: Sleep | None = None  # None = asyncio.sleep
    timeout: float = 10.0  # seconds per attempt


class HttpTarget:
    """POST each body to one URL; ``headers`` is called per attempt (signatures are fresh)."""

    chunk_size = 1

    def __init__(
        self,
        name: str,
        url: str,
        headers: Callable[[], dict[str, str]],
        options: HttpOptions,
    ) -> None:
        self.name, self.url, self._headers = name, url, headers
        self._policy = options.policy
        self._sleep = options.sleep or SystemClock().sleep
        self._timeout = aiohttp.ClientTimeout(total=options.timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, bodies: Sequence[bytes]) -> Counts:
        return await with_retries(bodies, self._attempt, self._policy, self._sleep)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _attempt(self, bodies: Sequence[bytes]) -> list[tuple[int, Problem]]:
        failures = []
        for index, body in enumerate(bodies):
            problem = await self._post(body)
            if problem is not None:
                failures.append((index, problem))
        return failures

    async def _post(self, body: bytes) -> Problem | None:
        if self._session is None:  # created here: a session belongs to the running loop
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self.url, data=body, headers=self._headers()) as resp:
                await resp.read()  # drain, so the connection goes back to the pool
                return http_problem(resp.status, resp.headers.get("Retry-After"))
        except TimeoutError:
            return Problem("timeout", retryable=True)
        except aiohttp.ClientConnectionError:
            return Problem("connection", retryable=True)
        except aiohttp.ClientError as exc:
            return Problem(f"client_{type(exc).__name__}", retryable=False)


def http_problem(status: int, retry_after: str | None) -> Problem | None:
    """None for 2xx; 5xx and 429 are worth another try, any other status is final."""
    if 200 <= status < 300:
        return None
    retryable = status >= 500 or status == 429
    after = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
    return Problem(f"http_{status}", retryable, after)


def eventbridge_target(
    base_url: str, *, token: str | None = None, options: HttpOptions = HttpOptions()
) -> HttpTarget:
    """``POST /ingest/eventbridge``: a structured CloudEvent, with the target's token."""
    headers = {"Content-Type": "application/cloudevents+json"}
    if token:
        headers["x-eventbridge-signature-token"] = token
    url = f"{base_url.rstrip('/')}/ingest/eventbridge"
    return HttpTarget("eventbridge", url, lambda: dict(headers), options)


def ice_target(
    base_url: str,
    *,
    auth_key: str | None = None,
    callback_url: str | None = None,
    wall_clock: Callable[[], float] = time.time,
    options: HttpOptions = HttpOptions(),
) -> HttpTarget:
    """``POST /ingest/ice``, signed as ICE signs callbacks when an auth key is set.

    ``callback_url`` is the URL ICE was configured with; it defaults to the URL posted to
    and must differ only when batchrelay sits behind a proxy that rewrites it.
    """
    url = f"{base_url.rstrip('/')}/ingest/ice"
    signed_url = callback_url or url

    def headers() -> dict[str, str]:
        values = {"Content-Type": "application/json"}
        if auth_key:
            timestamp = str(int(wall_clock()))
            values["X-ICE-TIMESTAMP"] = timestamp
            values["X-ICE-SIGNATURE"] = ice_signature(signed_url, timestamp, auth_key)
        return values

    return HttpTarget("ice", url, headers, options)


def ice_signature(callback_url: str, timestamp: str, auth_key: str) -> str:
    """``md5_hex("{callback URL}|{timestamp}|{AuthKey}")`` (protocols.md §5.2)."""
    return hashlib.md5(f"{callback_url}|{timestamp}|{auth_key}".encode()).hexdigest()
