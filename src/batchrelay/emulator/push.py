"""Topic -> HTTP endpoint pushes: signed like MNS signs them, retried per NotifyStrategy.

A push is ``POST`` to the endpoint URL with ``Authorization`` = base64 RSA-SHA1 signature
of the StringToSign (same shape as a request's, §3.4/§3.5) and ``x-mns-signing-cert-url``
= base64 of the certificate URL, in the shape captures of real pushes show (§3.7):
``Content-MD5`` as 32 upper-case hex characters, MNS's ``User-Agent`` and the full
``x-mns-*`` header set. Any 2xx within ``push_timeout`` is success; a timeout, connection
error or other status is retried:

- BACKOFF_RETRY: 3 retries, each after a random 10-20 s;
- EXPONENTIAL_DECAY_RETRY: 176 retries after 1, 2, 4 ... 256 s, then 167 x 512 s.

Intervals are multiplied by ``retry_scale`` so tests run them in milliseconds. Every push
is one task kept in ``_tasks``; :meth:`Pusher.close` cancels whatever is still pending.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

import aiohttp
import structlog
from yarl import URL

from batchrelay.emulator.auth import MNS_VERSION, string_to_sign
from batchrelay.emulator.ids import Ids
from batchrelay.emulator.notifications import Payload
from batchrelay.emulator.signing import Signer
from batchrelay.emulator.topics import NotifyStrategy

log = structlog.get_logger(__name__)

USER_AGENT = "Aliyun Notification Service Agent"
_BACKOFF_RETRIES = 3
_EXPONENTIAL = [2.0**step for step in range(9)] + [512.0] * 167


def retry_delays(strategy: NotifyStrategy, rng: random.Random) -> list[float]:
    """Seconds to wait before each retry, unscaled."""
    if strategy is NotifyStrategy.BACKOFF_RETRY:
        return [rng.uniform(10.0, 20.0) for _ in range(_BACKOFF_RETRIES)]
    return list(_EXPONENTIAL)


@dataclass(frozen=True, slots=True)
class PushAttempt:
    """One HTTP attempt, kept (bounded) for tests and diagnostics."""

    subscription: str
    url: str
    attempt: int
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class _Push:
    session: aiohttp.ClientSession
    subscription: str
    url: URL
    payload: Payload


@dataclass(frozen=True, slots=True)
class PushSettings:
    retry_scale: float
    timeout: float
    max_pending: int
    concurrency: int


class Pusher:
    """Sends and retries HTTP pushes in tracked background tasks."""

    def __init__(
        self,
        settings: PushSettings,
        *,
        signer: Signer,
        rng: random.Random,
        ids: Ids,
        cert_url: Callable[[], str],
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._signer = signer
        self._rng = rng
        self._ids = ids
        self._cert_url = cert_url
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(settings.concurrency)
        self.attempts: deque[PushAttempt] = deque(maxlen=10_000)

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
        self._session = aiohttp.ClientSession(timeout=timeout)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def submit(
        self, subscription: str, url: str, payload: Payload, strategy: NotifyStrategy
    ) -> bool:
        """Start delivering ``payload``; False when too many pushes are already pending."""
        session = self._session
        if session is None or len(self._tasks) >= self._settings.max_pending:
            log.warning(
                "emulator.push.dropped", subscription=subscription, pending=len(self._tasks)
            )
            return False
        push = _Push(session, subscription, URL(url), payload)
        task = asyncio.create_task(self._deliver(push, retry_delays(strategy, self._rng)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def drain(self) -> None:
        """Wait until no push is pending; bound it with ``asyncio.timeout`` (tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self) -> None:
        """Cancel every pending push, then close the HTTP session."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver(self, push: _Push, delays: list[float]) -> None:
        last_failure: tuple[int | None, str | None] | None = None
        for attempt, delay in enumerate([0.0, *delays], start=1):
            if delay:
                await asyncio.sleep(delay * self._settings.retry_scale)
            result = await self._attempt(push, attempt)
            self.attempts.append(result)
            if result.ok:
                log.debug(
                    "emulator.push.delivered", subscription=push.subscription, attempt=attempt
                )
                return
            if (result.status, result.error) != last_failure:  # log a failure once, not per retry
                last_failure = (result.status, result.error)
                log.info(
                    "emulator.push.failed",
                    subscription=push.subscription,
                    attempt=attempt,
                    status=result.status,
                    error=result.error,
                )
        log.warning(
            "emulator.push.gave_up", subscription=push.subscription, attempts=len(delays) + 1
        )

    async def _attempt(self, push: _Push, attempt: int) -> PushAttempt:
        url = str(push.url)
        async with self._slots:
            headers = self._headers(push.url, push.payload)  # Date as of the actual send
            try:
                # The URL object, not its text: the path is sent exactly as it was signed.
                post = push.session.post(push.url, data=push.payload.body, headers=headers)
                async with post as reply:
                    await reply.read()
                    return PushAttempt(push.subscription, url, attempt, reply.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                return PushAttempt(push.subscription, url, attempt, None, type(exc).__name__)

    def _headers(self, url: URL, payload: Payload) -> dict[str, str]:
        cert_url = base64.b64encode(self._cert_url().encode()).decode("ascii")
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": payload.content_type,
            "Content-MD5": push_content_md5(payload.body),
            "Date": formatdate(self._clock(), usegmt=True),
            "x-mns-request-id": self._ids.request_id(),
            "x-mns-version": MNS_VERSION,
            "x-mns-signing-cert-url": cert_url,
            **dict(payload.headers),
        }
        headers["Authorization"] = self._signer.sign(
            string_to_sign("POST", headers, url.raw_path_qs)
        )
        return headers


def push_content_md5(body: bytes) -> str:
    """``Content-MD5`` as real pushes carry it: the hex digest in upper case (§3.7), unlike
    the base64 of the hex digest that requests from the SDK carry (§3.4)."""
    return hashlib.md5(body, usedforsecurity=False).hexdigest().upper()
