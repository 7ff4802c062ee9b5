"""MNS queue source: long-poll with the official SDK, commit, then batch-delete.

Each poller owns one thread and one SDK ``Account`` (the SDK is blocking and not
thread-safe). A poller loops: ``BatchReceiveMessage`` (up to 16, long poll) → hand every
body to the pipeline concurrently (they share group commits) → ``BatchDeleteMessage`` for
the ones that are durable. Ack-after-commit: a message is deleted only once its events are
committed, or it was quarantined. A poller does not receive again until its batch is
settled, so at most ``pollers × batch_size`` messages are in flight: when commits slow
down, pulling slows down with them (backpressure).

A message still waiting on a commit after ``extend_after`` seconds has its visibility
extended, so it is not handed to another consumer meanwhile. A message that keeps failing
after ``max_dequeue_count`` deliveries is quarantined as poison and deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from typing import Any

import structlog
from mns.account import Account
from mns.mns_exception import MNSClientNetworkException, MNSServerException

from batchrelay.errors import InputReason, StoreError
from batchrelay.metrics import Metrics
from batchrelay.sdk_thread import SdkThread
from batchrelay.sources.config import MnsQueueConfig
from batchrelay.sources.pipeline import Pipeline, utcnow
from batchrelay.store.base import QuarantineRecord

log = structlog.get_logger(__name__)

_THROTTLED = frozenset({"QpsLimitExceeded", "Throttling", "TooManyRequests"})
_SERVER = frozenset({"InternalError", "InternalServerError", "ServiceUnavailable"})
_AUTH = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})


def interrupt(connection: Any) -> None:
    """Shut the SDK connection's socket down so a blocked receive returns at once."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def classify(exc: Exception) -> str:
    """A closed failure reason for logs and metrics."""
    if isinstance(exc, MNSClientNetworkException):
        return "network"
    if isinstance(exc, MNSServerException):
        if exc.type in _THROTTLED:
            return "throttled"
        if exc.type in _SERVER:
            return "server_error"
        if exc.type in _AUTH:
            return "auth_error"
        return "client_error"
    return "unexpected"


class Backoff:
    """Exponential backoff with full jitter: sleep uniform(0, min(max, initial × 2^n))."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self.initial, self.maximum, self.rng = initial, maximum, rng
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2**self.failures)
        self.failures += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0


class MnsQueueSource:
    """Consumes one MNS queue with ``config.pollers`` pollers."""

    def __init__(
        self,
        config: MnsQueueConfig,
        pipeline: Pipeline,
        metrics: Metrics,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.pipeline = pipeline
        self.metrics = metrics
        self.rng = rng or random.Random()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not all(t.done() for t in self._tasks)

    async def start(self) -> None:
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._poller(n), name=f"mns:{self.config.queue}:{n}")
            for n in range(self.config.pollers)
        ]
        log.info("mns_queue.started", queue=self.config.queue, pollers=self.config.pollers)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop receiving; settle batches in hand within ``grace`` seconds, abandon the rest.

        Abandoned messages are simply not deleted: they become visible again upstream.
        """
        self._stopping.set()
        _, pending = await asyncio.wait(self._tasks, timeout=grace) if self._tasks else ((), ())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._tasks = []
        log.info("mns_queue.stopped", queue=self.config.queue, abandoned=len(pending))

    async def _poller(self, number: int) -> None:
        thread = SdkThread(f"mns-{self.config.queue}-{number}")
        queue = await thread.call(self._open_queue)
        try:
            backoff = Backoff(self.config.backoff_initial, self.config.backoff_max, self.rng)
            while not self._stopping.is_set():
                messages = await self._receive(thread, queue, backoff)
                if messages:
                    await self._settle(thread, queue, messages)
        finally:
            connection = queue.mns_client.http.conn
            interrupt(connection)  # ends a long poll still blocked in the thread
            thread.stop(cleanup=connection.close)
            await asyncio.shield(thread.join(grace=2.0))

    def _open_queue(self) -> Any:
        cfg = self.config
        account = Account(cfg.endpoint, cfg.access_key_id, cfg.access_key_secret.get_secret_value())
        queue = account.get_queue(cfg.queue)
        queue.set_encoding(False)  # producers (IMM, ICE, topics) write plain text, not base64
        return queue

    async def _receive(self, thread: SdkThread, queue: Any, backoff: Backoff) -> list[Any]:
        cfg = self.config
        started = time.perf_counter()
        receive = asyncio.ensure_future(
            thread.call(queue.batch_receive_message, cfg.batch_size, cfg.wait_seconds)
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not receive.done():  # stopping during a long poll: let the thread finish it alone
            receive.cancel()
            return []
        try:
            messages: list[Any] = receive.result()
        except MNSServerException as exc:
            if exc.type == "MessageNotExist":  # an empty poll, not an error
                backoff.reset()
                return []
            await self._back_off(exc, backoff)
            return []
        except MNSClientNetworkException as exc:
            await self._back_off(exc, backoff)
            return []
        backoff.reset()
        self.metrics.mns_receive_seconds.labels(queue=cfg.queue).observe(
            time.perf_counter() - started
        )
        self.metrics.mns_batch_size.labels(queue=cfg.queue).observe(len(messages))
        return messages

    async def _back_off(self, exc: Exception, backoff: Backoff) -> None:
        reason = classify(exc)
        delay = backoff.next_delay()
        self.metrics.mns_failures.labels(queue=self.config.queue, reason=reason).inc()
        log.warning(
            "mns_queue.receive_failed", queue=self.config.queue, reason=reason,
            error=getattr(exc, "type", type(exc).__name__), retry_in=round(delay, 3),
        )  # fmt: skip
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _settle(self, thread: SdkThread, queue: Any, messages: list[Any]) -> None:
        """Commit every message, keep the slow ones invisible, delete the durable ones."""
        handles = {m.message_id: m.receipt_handle for m in messages}
        work = asyncio.gather(*(self._commit(m) for m in messages))
        keeper = asyncio.create_task(self._keep_invisible(thread, queue, handles, work))
        try:
            done = await work
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        durable = [handles[m.message_id] for m, ok in zip(messages, done, strict=True) if ok]
        if durable:
            await self._delete(thread, queue, durable)

    async def _commit(self, message: Any) -> bool:
        """True when the message may be deleted: committed, duplicate, or quarantined."""
        body = message.message_body
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        headers = {"x-mns-message-id": message.message_id, "x-mns-queue": self.config.queue}
        try:
            await self.pipeline.ingest(raw, "mns-queue", headers)
            return True
        except StoreError as exc:
            self.metrics.mns_failures.labels(queue=self.config.queue, reason="store").inc()
            if message.dequeue_count >= self.config.max_dequeue_count:
                return await self._quarantine_poison(raw, headers, message, exc)
            return False

    async def _quarantine_poison(
        self, raw: bytes, headers: dict[str, str], message: Any, exc: StoreError
    ) -> bool:
        record = QuarantineRecord(
            ingress="mns-queue",
            reason=InputReason.POISON,
            detail=f"failed {message.dequeue_count} deliveries; last error: {exc}",
            raw=raw,
            headers=headers,
            received_at=utcnow(),
        )
        try:
            await self.pipeline.store.quarantine(record)
        except StoreError:
            return False
        self.metrics.quarantined.labels(ingress="mns-queue", reason="poison").inc()
        log.error("mns_queue.poison", queue=self.config.queue, message_id=message.message_id)
        return True

    async def _keep_invisible(
        self, thread: SdkThread, queue: Any, handles: dict[str, str], work: asyncio.Future[Any]
    ) -> None:
        """While commits are pending, push the messages' visibility further out."""
        cfg = self.config
        while not work.done():
            await asyncio.sleep(cfg.extend_after)
            for message_id, handle in list(handles.items()):
                try:
                    changed = await thread.call(
                        queue.change_message_visibility, handle, cfg.visibility_timeout
                    )
                    handles[message_id] = changed.receipt_handle
                except (MNSServerException, MNSClientNetworkException) as exc:
                    reason = classify(exc)
                    self.metrics.mns_failures.labels(queue=cfg.queue, reason=reason).inc()

    async def _delete(self, thread: SdkThread, queue: Any, handles: list[str]) -> None:
        cfg = self.config
        try:
            await thread.call(queue.batch_delete_message, handles)
            self.metrics.mns_deletes.labels(queue=cfg.queue, outcome="deleted").inc(len(handles))
        except MNSServerException as exc:
            # Partial failure: a stale handle means the message will come back and dedup.
            stale = len(exc.sub_errors or [])
            ok = max(0, len(handles) - stale) if exc.sub_errors else 0
            self.metrics.mns_deletes.labels(queue=cfg.queue, outcome="deleted").inc(ok)
            self.metrics.mns_deletes.labels(queue=cfg.queue, outcome="failed").inc(
                len(handles) - ok
            )
            log.warning(
                "mns_queue.delete_failed", queue=cfg.queue, error=exc.type, count=len(handles) - ok
            )
        except MNSClientNetworkException:
            self.metrics.mns_deletes.labels(queue=cfg.queue, outcome="failed").inc(len(handles))
            log.warning(
                "mns_queue.delete_failed", queue=cfg.queue, error="network", count=len(handles)
            )
