"""Which replica runs the timers: one lease row in the shared store.

Several replicas ingest at once, but the work that runs on a timer — flushing notification
groups and sending (one sender keeps each platform's send budget whole), alert evaluation,
stall checks, completion digests — runs on one replica at a time: the holder of the
``coordinator`` lease. The holder renews it every third of its ``ttl``; when a replica
dies, another takes the lease over once it expires. Deliveries the dead replica had in
flight are claimed again after their own lease (``delivery.lease``), with the same id.

A single-process store (SQLite) needs no lease: its ``lease`` is always held.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable

import structlog

from batchrelay.errors import StoreError
from batchrelay.store.contracts import Lease

log = structlog.get_logger(__name__)

COORDINATOR = "coordinator"


def holder_id() -> str:
    """This process, recognisably in the lease row: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    """Keeps trying to hold one lease; ``held`` says whether this replica has it now.

    ``held`` turns false as soon as a renewal fails or the lease would run out before the
    next renewal could extend it, so a replica that cannot reach the store stops running
    the timers before another may take them over.
    """

    def __init__(
        self,
        lease: Lease,
        ttl: float,
        name: str = COORDINATOR,
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.lease, self.ttl, self.name = lease, ttl, name
        self.on_change = on_change
        self.holder = holder or holder_id()
        self.clock = clock
        self._held_until = 0.0
        self._reported = False  # what the last renewal (or release) told the logs
        self._stopping = asyncio.Event()

    @property
    def held(self) -> bool:
        return self.clock() < self._held_until

    async def renew(self) -> bool:
        now = self.clock()
        try:
            got = await self.lease.acquire(self.name, self.holder, self.ttl, now)
        except StoreError as exc:
            got = False
            log.warning("lease.renew_failed", lease=self.name, error=str(exc))
        # Count from before the call: the row may have been written just as it started.
        self._held_until = now + self.ttl * 2 / 3 if got else 0.0
        self._report(got)
        return got

    def _report(self, held: bool) -> None:
        if held != self._reported:
            self._reported = held
            log.info("lease.taken" if held else "lease.lost", lease=self.name, holder=self.holder)
            if self.on_change is not None:
                self.on_change(held)

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.renew()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.ttl / 3)

    def stop(self) -> None:
        """End :meth:`run` (its current renewal finishes first)."""
        self._stopping.set()

    async def release(self) -> None:
        """Give the lease up at once, so another replica need not wait for it to expire."""
        if self.held:
            self._held_until = 0.0
            self._report(False)
            with contextlib.suppress(StoreError):
                await self.lease.release(self.name, self.holder)
