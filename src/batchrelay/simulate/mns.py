"""MNS targets through the official SDK: queue batch sends and topic publishes.

The SDK is blocking, and its Account, Queue and Topic objects are not thread-safe (each
client holds one ``http.client`` connection). Every call therefore runs in a worker thread
(``asyncio.to_thread``) with an Account borrowed from a pool: an Account is used by one
thread at a time, and the pool size bounds the open connections.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from mns.account import Account
from mns.mns_exception import (
    MNSClientNetworkException,
    MNSClientParameterException,
    MNSServerException,
)
from mns.queue import Message
from mns.topic import TopicMessage

from batchrelay.errors import ConfigError
from batchrelay.simulate.targets import Counts, Problem, RetryPolicy, Sleep, with_retries

# Server-side codes that say "not now" rather than "never": worth another try.
RETRYABLE_CODES = frozenset(
    {"InternalError", "InternalServerError", "QpsLimitExceeded", "ServiceUnavailable"}
)
MAX_BATCH = 16  # BatchSendMessage takes at most 16 messages

Failures = list[tuple[int, Problem]]


class AccountPool:
    """``size`` SDK Accounts for one endpoint, lent to one worker thread at a time."""

    def __init__(
        self, endpoint: str, key_id: str, key_secret: str, size: int, timeout: int = 10
    ) -> None:
        self._accounts = [_account(endpoint, key_id, key_secret, timeout) for _ in range(size)]
        self._free: asyncio.Queue[Any] = asyncio.Queue()
        for account in self._accounts:
            self._free.put_nowait(account)

    @asynccontextmanager
    async def borrow(self) -> AsyncIterator[Any]:
        account = await self._free.get()
        try:
            yield account
        finally:
            self._free.put_nowait(account)

    def close(self) -> None:
        for account in self._accounts:
            # Account has no close(); without this its keep-alive socket is left to the
            # garbage collector, which warns about it.
            account.mns_client.close_connection()


def _account(endpoint: str, key_id: str, key_secret: str, timeout: int) -> Any:
    try:
        account = Account(endpoint, key_id, key_secret)
    except MNSClientParameterException as exc:
        raise ConfigError(f"--endpoint: {exc.message} ({endpoint!r})") from None
    # Only for http: the SDK's set_connection_timeout swaps in a plain-HTTP connection.
    if endpoint.startswith("http://"):
        account.mns_client.set_connection_timeout(timeout)
    return account


class _SdkTarget(ABC):
    """Runs one blocking SDK call per attempt in a thread, with a borrowed Account."""

    name = "mns"
    chunk_size = 1

    def __init__(self, pool: AccountPool, policy: RetryPolicy, sleep: Sleep) -> None:
        self._pool, self._policy, self._sleep = pool, policy, sleep

    async def send(self, bodies: Sequence[bytes]) -> Counts:
        return await with_retries(bodies, self._attempt, self._policy, self._sleep)

    async def aclose(self) -> None:
        self._pool.close()

    async def _attempt(self, bodies: Sequence[bytes]) -> Failures:
        async with self._pool.borrow() as account:
            return await asyncio.to_thread(self._call, account, bodies)

    @abstractmethod
    def _call(self, account: Any, bodies: Sequence[bytes]) -> Failures:
        """Send ``bodies`` with the SDK (blocking); the failures, by reason."""


class MnsQueueTarget(_SdkTarget):
    """``BatchSendMessage`` of up to 16 plain-JSON bodies (IMM and ICE write plain JSON)."""

    name = "mns-queue"
    chunk_size = MAX_BATCH

    def __init__(self, pool: AccountPool, queue: str, policy: RetryPolicy, sleep: Sleep) -> None:
        super().__init__(pool, policy, sleep)
        self.queue = queue

    def _call(self, account: Any, bodies: Sequence[bytes]) -> Failures:
        queue = account.get_queue(self.queue)
        queue.set_encoding(False)  # the SDK would base64 the body; services send it raw
        messages = [Message(body.decode("utf-8")) for body in bodies]
        return _guarded(lambda: queue.batch_send_message(messages), len(bodies))


class MnsTopicTarget(_SdkTarget):
    """``PublishMessage`` of one raw (not base64) body per call."""

    name = "mns-topic"

    def __init__(self, pool: AccountPool, topic: str, policy: RetryPolicy, sleep: Sleep) -> None:
        super().__init__(pool, policy, sleep)
        self.topic = topic

    def _call(self, account: Any, bodies: Sequence[bytes]) -> Failures:
        topic = account.get_topic(self.topic)
        failures: Failures = []
        for index, body in enumerate(bodies):
            publish = partial(topic.publish_message, TopicMessage(body.decode("utf-8")))
            failures += [(index, problem) for _, problem in _guarded(publish, 1)]
        return failures


def _guarded(call: Callable[[], object], count: int) -> Failures:
    """Run one SDK call that covers ``count`` bodies; map its exceptions to problems."""
    try:
        call()
    except MNSServerException as exc:
        if exc.sub_errors:
            # A partial BatchSendMessage failure lists every message in order, each with
            # either MessageId (sent) or ErrorCode (not sent).
            return [
                (index, _problem(entry["ErrorCode"]))
                for index, entry in enumerate(exc.sub_errors)
                if "ErrorCode" in entry
            ]
        return [(index, _problem(exc.type)) for index in range(count)]
    except MNSClientNetworkException:
        return [(index, Problem("connection", retryable=True)) for index in range(count)]
    except MNSClientParameterException as exc:
        return [(index, Problem(exc.type, retryable=False)) for index in range(count)]
    return []


def _problem(code: str) -> Problem:
    return Problem(code, retryable=code in RETRYABLE_CODES)
