"""Run blocking SDK calls on one dedicated thread per client, awaitable from asyncio.

The MNS SDK is blocking and not thread-safe: each client keeps one ``http.client``
connection. So each poller owns one thread and one ``Account``, and every call for that
client runs on that thread. The thread is a daemon: a long poll still blocked when the
process stops must not hold the exit (its messages simply become visible again).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_STOP = object()


class SdkThread:
    """A single worker thread; :meth:`call` runs a function there and awaits its result."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        return await future

    def stop(self, cleanup: Callable[[], object] | None = None) -> None:
        """Let the thread end after its current call, running ``cleanup`` there last.

        Does not wait for the thread.
        """
        if cleanup is not None:
            self._jobs.put(cleanup)
        self._jobs.put(_STOP)

    async def join(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for the thread to end; True if it did."""
        await asyncio.to_thread(self._thread.join, grace)
        return not self._thread.is_alive()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            if callable(job):  # a cleanup: nobody awaits it, and it must not kill the thread
                with contextlib.suppress(Exception):
                    job()
                continue
            loop, future, fn, args = job
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting coroutine, not lost
                _settle(loop, future, exc=exc)
            else:
                _settle(loop, future, result=result)


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any = None,
    exc: BaseException | None = None,
) -> None:
    def apply() -> None:
        if future.done():  # the awaiting coroutine was cancelled meanwhile
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(apply)
