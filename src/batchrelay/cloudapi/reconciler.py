"""The reconciler: every interval, on the lease holder, ask IMM and ICE what the batches
are, and turn every difference from the ledger into a synthesized event.

One :class:`Timer` per service runs its pass (``ImmReconciler`` / ``IceReconciler``). A pass
lists every batch and trigger of each configured IMM project (``ListBatches`` /
``ListTriggers``, ``NextToken`` paging) or every ICE batch job of the lookback window, and
compares each with the ledger (``drift.py``). A batch the ledger lacks is added from the
listing. A state or statistic difference is confirmed first — the ledger read again, then
``GetBatch`` — because the event's time must sort after what the ledger held when read
(``drift.event_time``). An ICE job is fetched (``GetBatchMediaProducingJob``) when it drifted
or changed since it was last checked, and each sub-job the ledger lacks or holds in another
status becomes a ``ProduceMediaComplete``.

Failures: one project's error (an unknown project, a denied call) is counted and logged and
the pass goes on; throttling (``Throttling.*``) ends the pass and the next one waits with
exponential backoff and full jitter (or the service's ``Retry-After``), up to
``backoff_max``; a store error ends the pass until the next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog

from batchrelay.cloudapi.clients import BatchKind, IceApi, ImmApi
from batchrelay.cloudapi.config import ImmApiConfig
from batchrelay.cloudapi.documents import (
    ice_job_document,
    ice_subjob_document,
    imm_batch_document,
)
from batchrelay.cloudapi.drift import (
    Drift,
    event_time,
    ice_drift,
    imm_drift,
    service_time,
    subjob_drift,
)
from batchrelay.errors import CloudApiError, StoreError
from batchrelay.metrics import Metrics
from batchrelay.sources.mns_queue import Backoff
from batchrelay.sources.pipeline import Pipeline
from batchrelay.store.base import BatchView, Store, TaskQuery, TaskView

log = structlog.get_logger(__name__)

Service = Literal["imm", "ice"]
Clock = Callable[[], datetime]
BACKOFF_INITIAL = 1.0  # seconds: the first wait after throttling, doubling from there


def utcnow() -> datetime:
    return datetime.now(UTC)


class Recorder:
    """What one service's reconciliation counts and logs; label values are closed sets."""

    def __init__(self, metrics: Metrics, service: Service) -> None:
        self.metrics, self.service = metrics, service

    def listed(self) -> None:
        self.metrics.reconcile_listed.labels(service=self.service).inc()

    def drift(self, kind: Drift | Literal["task"], key: str, event_id: str | None) -> None:
        self.metrics.reconcile_drift.labels(service=self.service, kind=kind).inc()
        log.info("reconcile.drift", service=self.service, kind=kind, batch_key=key,
                 event_id=event_id)  # fmt: skip

    def failed(self, exc: CloudApiError, **where: str) -> None:
        self.metrics.reconcile_errors.labels(service=self.service, reason=exc.reason).inc()
        log.warning("reconcile.api_error", service=self.service, reason=exc.reason,
                    code=exc.code, error=exc.message, **where)  # fmt: skip


async def ingest(pipeline: Pipeline, raw: bytes) -> str | None:
    """Commit one synthesized document; its event id (None if it did not parse)."""
    result = await pipeline.ingest(raw, "reconcile", {})
    return result.events[0].event_id if result.events else None


async def apply_imm_batch(
    pipeline: Pipeline,
    batch: Mapping[str, Any],
    view: BatchView | None,
    *,
    kind: BatchKind,
    project: str,
    region: str,
    now: datetime,
) -> tuple[Drift, str | None] | None:
    """Synthesize and commit the event that brings ``view`` to ``batch``; None if equal.

    ``view`` must have been read before ``batch`` was fetched."""
    drift = imm_drift(batch, view)
    if drift is None:
        return None
    seen = view.last_seen if view is not None else None
    time = event_time(service_time(batch, "UpdateTime"), seen, now)
    account = view.account_id if view is not None else None
    raw = imm_batch_document(
        batch, kind=kind, project=project, region=region, account_id=account, time=time
    )
    return drift, await ingest(pipeline, raw)


class ImmReconciler:
    """One pass over the configured IMM projects."""

    def __init__(
        self,
        api: ImmApi,
        pipeline: Pipeline,
        store: Store,
        metrics: Metrics,
        clock: Clock = utcnow,
    ) -> None:
        self.api, self.pipeline, self.store, self.clock = api, pipeline, store, clock
        self.config: ImmApiConfig = api.config
        self.record = Recorder(metrics, "imm")

    async def pass_once(self) -> None:
        kinds: tuple[BatchKind, ...] = ("batch", "trigger") if self.config.triggers else ("batch",)
        for project in self.config.projects:
            for kind in kinds:
                try:
                    async for listed in self.api.list(project, kind):
                        self.record.listed()
                        await self._check(project, kind, listed)
                except CloudApiError as exc:
                    if exc.reason == "throttled":
                        raise
                    self.record.failed(exc, project=project, kind=kind)

    async def _check(self, project: str, kind: BatchKind, listed: Mapping[str, Any]) -> None:
        key = listed.get("Id")
        if not isinstance(key, str) or not key:
            return
        view = await self.store.get_batch(key)
        drift = imm_drift(listed, view)
        if drift is None:
            return
        if drift in ("state", "statistic") and kind == "batch":
            view = await self.store.get_batch(key)  # read before asking again: see drift.py
            try:
                listed = await self.api.get_batch(project, key)
            except CloudApiError as exc:
                if exc.reason == "throttled":
                    raise
                self.record.failed(exc, project=project, batch_key=key)
                return
        applied = await apply_imm_batch(self.pipeline, listed, view, kind=kind, project=project,
                                        region=self.config.region, now=self.clock())  # fmt: skip
        if applied is not None:
            self.record.drift(applied[0], key, applied[1])


class IceReconciler:
    """One pass over the ICE batch jobs created in the lookback window."""

    def __init__(
        self,
        api: IceApi,
        pipeline: Pipeline,
        store: Store,
        metrics: Metrics,
        clock: Clock = utcnow,
    ) -> None:
        self.api, self.pipeline, self.store, self.clock = api, pipeline, store, clock
        self.record = Recorder(metrics, "ice")
        # JobId -> the ModifiedTime at which its sub-jobs were last found in the ledger
        self._checked: dict[str, str] = {}

    async def pass_once(self) -> None:
        now = self.clock()
        since = now - timedelta(days=self.api.config.lookback_days)
        listed_ids: set[str] = set()
        try:
            async for job in self.api.list(since, now):
                self.record.listed()
                job_id = job.get("JobId")
                if isinstance(job_id, str) and job_id:
                    listed_ids.add(job_id)
                    await self._check_listed(job_id, job)
        except CloudApiError as exc:
            if exc.reason == "throttled":
                raise
            self.record.failed(exc, call="ListBatchMediaProducingJobs")
            return  # a partial listing says nothing about the jobs it did not reach
        self._checked = {k: v for k, v in self._checked.items() if k in listed_ids}

    async def _check_listed(self, job_id: str, job: Mapping[str, Any]) -> None:
        stamp = str(job.get("ModifiedTime") or "")
        view = await self.store.get_batch(job_id)
        if ice_drift(job, view) is None and self._checked.get(job_id) == stamp:
            return
        try:
            await self._check_job(job_id)
        except CloudApiError as exc:
            if exc.reason == "throttled":
                raise
            self.record.failed(exc, job_id=job_id)

    async def _check_job(self, job_id: str) -> None:
        view = await self.store.get_batch(job_id)  # read before asking: see drift.py
        tasks = await self._tasks(job_id)
        job = await self.api.get(job_id)
        now = self.clock()
        reported = service_time(job, "ModifiedTime", "CompleteTime", "CreateTime")
        account = view.account_id if view is not None else None
        for subjob in job.get("SubJobList") or []:
            task = tasks.get(str(subjob.get("JobId") or ""))
            if not subjob.get("JobId") or not subjob_drift(subjob, task):
                continue
            seen = task.status_time if task is not None else None
            raw = ice_subjob_document(subjob, master_job_id=job_id, account_id=account,
                                      time=event_time(reported, seen, now))  # fmt: skip
            self.record.drift("task", job_id, await ingest(self.pipeline, raw))
        drift = ice_drift(job, view)
        if drift is not None:
            seen = view.last_seen if view is not None else None
            time = event_time(reported, seen, now)
            raw = ice_job_document(job, account_id=account, time=time)
            self.record.drift(drift, job_id, await ingest(self.pipeline, raw))
        self._checked[job_id] = str(job.get("ModifiedTime") or "")

    async def _tasks(self, job_id: str) -> dict[str, TaskView]:
        tasks: dict[str, TaskView] = {}
        token = ""
        for _ in range(self.api.config.max_pages):
            page = await self.store.list_tasks(TaskQuery(job_id, max_results=100, next_token=token))
            tasks.update((task.task_id, task) for task in page.items)
            token = page.next_token
            if not token:
                break
        return tasks


class Timer:
    """Runs one service's pass every ``interval`` seconds while this replica holds the lease.

    The first pass runs at once. Throttling moves the next pass closer or further away as
    the backoff says; any other failure waits for the next interval."""

    def __init__(
        self,
        service: Service,
        pass_once: Callable[[], Awaitable[None]],
        interval: float,
        backoff_max: float,
        metrics: Metrics,
        active: Callable[[], bool],
        rng: random.Random | None = None,
    ) -> None:
        self.service, self.pass_once, self.interval = service, pass_once, interval
        self.metrics, self.active = metrics, active
        self.backoff = Backoff(BACKOFF_INITIAL, backoff_max, rng or random.Random())
        self.passes = 0  # completed passes, for tests and logs
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        delay = 0.0
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            if self._stopping.is_set():
                return
            delay = await self._tick() if self.active() else self.interval

    async def _tick(self) -> float:
        try:
            await self.pass_once()
        except CloudApiError as exc:
            if exc.reason != "throttled":  # passes handle the others; this is a backstop
                self._outcome("api_error")
                return self.interval
            self._outcome("throttled")
            wait = max(exc.retry_after or 0.0, self.backoff.next_delay())
            log.warning("reconcile.throttled", service=self.service, code=exc.code, wait=wait)
            return wait
        except StoreError as exc:
            self._outcome("store_error")
            log.warning("reconcile.store_error", service=self.service, error=str(exc))
            return self.interval
        except Exception:  # a bug must not end reconciliation for the life of the process
            self._outcome("error")
            log.exception("reconcile.crashed", service=self.service)
            return self.interval
        self.backoff.reset()
        self.passes += 1
        self._outcome("ok")
        return self.interval

    def _outcome(self, outcome: str) -> None:
        self.metrics.reconcile_passes.labels(service=self.service, outcome=outcome).inc()

    def stop(self) -> None:
        self._stopping.set()


def timers(
    imm: ImmApi | None,
    ice: IceApi | None,
    pipeline: Pipeline,
    store: Store,
    metrics: Metrics,
    active: Callable[[], bool],
) -> list[Timer]:
    """One timer per configured service."""
    found = []
    if imm is not None:
        passes = ImmReconciler(imm, pipeline, store, metrics).pass_once
        found.append(Timer("imm", passes, imm.config.interval, imm.config.backoff_max, metrics,
                           active))  # fmt: skip
    if ice is not None:
        passes = IceReconciler(ice, pipeline, store, metrics).pass_once
        found.append(Timer("ice", passes, ice.config.interval, ice.config.backoff_max, metrics,
                           active))  # fmt: skip
    return found
