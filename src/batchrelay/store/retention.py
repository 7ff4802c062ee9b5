"""The ``retention`` section, and the pruner that keeps the store within it.

A daemon runs for months: without retention every event, body, delivery and alert would
stay forever. Each setting is a duration (rows older than it go) or ``null`` (kept):

* ``raw`` — the bytes inputs arrived as (``raw_inputs``), by arrival; events and
  quarantine records then show an empty body;
* ``events`` — the journal rows of batches that finished longer ago; the ledger keeps
  their figures, and a snapshot of the batch and its tasks keeps ``ledger rebuild`` exact;
* ``deliveries`` — finished deliveries (delivered, dead, coalesced, muted) with their
  attempts and outbox rows, by their last change;
* ``quarantine`` — quarantine records, by arrival;
* ``alerts`` — resolved alerts, by their last change;
* ``batches`` — the ledger itself (batch, tasks, journal) of batches finished longer ago.

The :class:`Pruner` runs on the replica holding the coordinator lease, every
``interval``: it asks the store for one small transaction at a time (``chunk`` rows at
most), so ingest waits for one of them at most, until nothing is past retention; then
SQLite gives the freed pages back (incremental vacuum) and the size gauges are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog
from pydantic import BaseModel, ConfigDict, Field

from batchrelay.errors import StoreError
from batchrelay.routing.tree import Duration
from batchrelay.store.contracts import Cutoffs, Retention

log = structlog.get_logger(__name__)

DAY = 86400.0
_SECOND_US = 1_000_000
RECLAIM_ROUNDS = 256  # rounds of giving space back per pass, at most


class RetentionConfig(BaseModel):
    """How long each kind of row is kept (see the module doc); ``null`` keeps it forever."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    raw: Duration | None = 14 * DAY
    events: Duration | None = 90 * DAY
    deliveries: Duration | None = 30 * DAY
    quarantine: Duration | None = 30 * DAY
    alerts: Duration | None = 90 * DAY
    batches: Duration | None = None
    interval: Duration = Field(300.0, gt=0)  # seconds between pruning passes
    chunk: int = Field(1000, ge=1, le=100_000)  # rows per transaction, at most

    def cutoffs(self, now: float) -> Cutoffs:
        """What is past retention at ``now`` (epoch seconds)."""

        def before(keep: float | None) -> int | None:
            return None if keep is None else int((now - keep) * _SECOND_US)

        return Cutoffs(
            raw=before(self.raw), events=before(self.events),
            deliveries=before(self.deliveries), quarantine=before(self.quarantine),
            alerts=before(self.alerts), batches=before(self.batches),
        )  # fmt: skip


#: Called with (table, rows) after each step, and with the sizes by table after each pass.
PrunedHook = Callable[[str, int], None]
SizesHook = Callable[[dict[str, int]], None]


class Pruner:
    """Prunes what is past retention every ``config.interval`` while ``active()``."""

    def __init__(
        self,
        retention: Retention,
        config: RetentionConfig,
        active: Callable[[], bool],
        on_pruned: PrunedHook | None = None,
        on_sizes: SizesHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention, self.config, self.active = retention, config, active
        self.on_pruned, self.on_sizes, self.clock = on_pruned, on_sizes, clock
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            if self.active():
                try:
                    await self.run_pass()
                except StoreError as exc:  # the next pass tries again
                    log.warning("retention.failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.config.interval)

    def stop(self) -> None:
        self._stopping.set()

    async def run_pass(self) -> dict[str, int]:
        """Prune until nothing is past retention (or the lease is lost, or ``stop``);
        returns the rows pruned by table."""
        cutoffs = self.config.cutoffs(self.clock())
        total: dict[str, int] = {}
        while self.active() and not self._stopping.is_set():
            pruned = await self.retention.prune(cutoffs, self.config.chunk)
            if not pruned:
                break
            for table, n in pruned.items():
                total[table] = total.get(table, 0) + n
                if n and self.on_pruned is not None:
                    self.on_pruned(table, n)
            await asyncio.sleep(0)  # let the commits queued meanwhile go first
        for _ in range(RECLAIM_ROUNDS):  # a few pages each, commits in between
            if not await self.retention.reclaim():
                break
        if self.on_sizes is not None:
            self.on_sizes(await self.retention.sizes())
        if total:
            log.info("retention.pruned", **total)
        return total
