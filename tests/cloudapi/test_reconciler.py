"""The reconciler's passes against the emulator, with a real SQLite ledger and the pipeline:
drift of each kind, whole-second UpdateTime versus millisecond notifications, stable event
ids, per-project failures, throttling backoff and the lease."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batchrelay.cloudapi.clients import IceApi, ImmApi
from batchrelay.cloudapi.config import IceApiConfig, ImmApiConfig
from batchrelay.cloudapi.drift import event_time
from batchrelay.cloudapi.reconciler import IceReconciler, ImmReconciler, Timer
from batchrelay.emulator import EmulatorConfig, RunningEmulator, Signer, running_emulator
from batchrelay.errors import CloudApiError
from batchrelay.metrics import Metrics
from batchrelay.sources.pipeline import Pipeline
from batchrelay.store.sqlite.store import SQLiteStore

from .support import CREDENTIALS, journal_size

pytestmark = pytest.mark.timeout(30)

PROJECT = "docs-prod"
BATCH = "batch-0001"
NOW = datetime.now(UTC).replace(microsecond=0)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def batch(state: str, success: int, updated: datetime, **extra: Any) -> dict[str, Any]:
    return {"Id": BATCH, "State": state, "Phase": "", "Error": "", "Tags": {"team": "docs"},
            "Statistic": {"SubmitSuccess": success, "SubmitFailure": 0, "SkipFiles": 0},
            "CreateTime": stamp(NOW - timedelta(hours=1)), "UpdateTime": stamp(updated),
            **extra}  # fmt: skip


def notification(body: dict[str, Any], at: datetime, event_id: str) -> bytes:
    """The IMM notification a service would have sent, with an epoch-ms envelope time."""
    millis = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return json.dumps({
        "id": event_id, "source": "acs.imm", "type": "imm:Batch:Notification",
        "subject": f"acs:imm:cn-shanghai:1234567890123456:{PROJECT}/imm:Batch:Notification",
        "time": str(millis), "content": json.dumps({**body, "ProjectName": PROJECT}),
    }).encode()  # fmt: skip


class Rig:
    def __init__(self, emu: RunningEmulator, store: SQLiteStore, projects: list[str]) -> None:
        self.emu, self.store, self.metrics = emu, store, Metrics()
        self.pipeline = Pipeline(store, self.metrics)
        common = {"region": "cn-shanghai", "endpoint": emu.url.removeprefix("http://"),
                  "protocol": "http", "credentials": CREDENTIALS, "timeout": 5}  # fmt: skip
        self.imm = ImmApi(ImmApiConfig(projects=projects, **common))  # type: ignore[arg-type]
        self.ice = IceApi(IceApiConfig(**common))  # type: ignore[arg-type]
        self.reconciler = ImmReconciler(self.imm, self.pipeline, self.store, self.metrics)

    def register(self, body: dict[str, Any], order: int) -> None:
        self.emu.cloud.put_batch(PROJECT, "batch", body, (order, 0))

    def drift(self, kind: str, service: str = "imm") -> float:
        value = self.metrics.registry.get_sample_value(
            "batchrelay_reconcile_drift_total", {"service": service, "kind": kind}
        )
        return value or 0.0  # fmt: skip


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = SQLiteStore(tmp_path / "ledger.db")
    await store.start()
    try:
        async with running_emulator(EmulatorConfig(port=0), signer=Signer.generate()) as emu:
            yield Rig(emu, store, [PROJECT])
    finally:
        await store.close()


async def test_missing_then_state_then_nothing(rig: Rig) -> None:
    rig.register(batch("Running", 3, NOW - timedelta(minutes=5)), 1)
    await rig.reconciler.pass_once()
    view = await rig.store.get_batch(BATCH)
    assert view is not None and (view.state, view.statistic.submit_success) == ("running", 3)
    assert view.project == PROJECT and rig.drift("missing") == 1
    rig.register(batch("Succeeded", 9, NOW - timedelta(minutes=1)), 2)
    await rig.reconciler.pass_once()
    view = await rig.store.get_batch(BATCH)
    assert view is not None and (view.raw_state, view.statistic.submit_success) == ("Succeeded", 9)
    assert rig.drift("state") == 1
    size = await journal_size(rig.store)
    await rig.reconciler.pass_once()
    await rig.reconciler.pass_once()
    assert await journal_size(rig.store) == size  # unchanged: nothing written


async def test_a_whole_second_update_time_still_wins_over_a_notification_of_that_second(
    rig: Rig,
) -> None:
    """IMM's UpdateTime has whole seconds; the Running notification that arrived was sent
    800 ms into the same second as the lost Succeeded one. The ledger must end Succeeded."""
    second = NOW - timedelta(minutes=2)
    running = batch("Running", 4, second)
    result = await rig.pipeline.ingest(notification(running, second + timedelta(milliseconds=800),
                                                    "n-running"), "mns-queue")  # fmt: skip
    assert result.committed == 1
    rig.register(batch("Succeeded", 5, second), 1)  # its notification was lost
    await rig.reconciler.pass_once()
    view = await rig.store.get_batch(BATCH)
    assert view is not None and (view.raw_state, view.statistic.submit_success) == ("Succeeded", 5)
    assert view.finished_at is not None and view.finished_at > second + timedelta(milliseconds=800)


async def test_a_late_older_notification_does_not_undo_a_reconciled_state(rig: Rig) -> None:
    rig.register(batch("Succeeded", 5, NOW - timedelta(minutes=1)), 1)
    await rig.reconciler.pass_once()
    older = batch("Running", 2, NOW - timedelta(minutes=3))
    await rig.pipeline.ingest(notification(older, NOW - timedelta(minutes=3), "n-old"), "mns-queue")
    view = await rig.store.get_batch(BATCH)
    assert view is not None and view.raw_state == "Succeeded"


async def test_an_unknown_project_is_counted_and_the_others_still_reconciled(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "ledger.db")
    await store.start()
    try:
        async with running_emulator(EmulatorConfig(port=0), signer=Signer.generate()) as emu:
            rig = Rig(emu, store, ["no-such-project", PROJECT])
            rig.register(batch("Running", 1, NOW), 1)
            await rig.reconciler.pass_once()
            assert await store.get_batch(BATCH) is not None
            errors = rig.metrics.registry.get_sample_value(
                "batchrelay_reconcile_api_errors_total", {"service": "imm", "reason": "not_found"}
            )
            assert errors == 2  # ListBatches and ListTriggers  # fmt: skip
    finally:
        await store.close()


async def test_throttling_ends_the_pass(rig: Rig) -> None:
    rig.register(batch("Running", 1, NOW), 1)
    rig.emu.cloud.throttle(1)
    with pytest.raises(CloudApiError) as caught:
        await rig.reconciler.pass_once()
    assert caught.value.reason == "throttled" and caught.value.code == "Throttling.User"
    assert await rig.store.get_batch(BATCH) is None


async def test_the_timer_backs_off_when_throttled_and_only_runs_on_the_lease_holder() -> None:
    outcomes: list[str] = []
    script = ["throttled", "throttled", "ok", "ok"]

    async def pass_once() -> None:
        outcome = script.pop(0) if script else "ok"
        outcomes.append(outcome)
        if outcome == "throttled":
            raise CloudApiError("throttled", "Throttling.User", "slow down")

    held = {"value": False}
    timer = Timer("imm", pass_once, interval=30.0, backoff_max=600, metrics=Metrics(),
                  active=lambda: held["value"], rng=random.Random(1))  # fmt: skip
    first, second = await timer._tick(), await timer._tick()
    assert outcomes == ["throttled", "throttled"]
    assert 0 <= first <= 1.0 and 0 <= second <= 2.0  # full jitter under 1 s, then 2 s
    assert await timer._tick() == 30.0 and timer.passes == 1  # success: back to the interval
    task = asyncio.create_task(timer.run())
    await asyncio.sleep(0.05)
    assert outcomes == ["throttled", "throttled", "ok"]  # not the holder: no pass
    timer.stop()
    await asyncio.wait_for(task, 5)


async def test_ice_sub_jobs_the_ledger_lacks_are_added(rig: Rig) -> None:
    job_id = "a" * 32
    job = {"JobId": job_id, "JobType": "Script", "Status": "Finished",
           "CreateTime": stamp(NOW - timedelta(hours=1)), "ModifiedTime": stamp(NOW),
           "SubJobList": [{"JobId": "b" * 32, "Status": "Success", "ProjectId": "p" * 32},
                          {"JobId": "c" * 32, "Status": "Failed", "ErrorCode": "E",
                           "ProjectId": "p" * 32}]}  # fmt: skip
    rig.emu.cloud.put_job(job, (1, 0))
    reconciler = IceReconciler(rig.ice, rig.pipeline, rig.store, rig.metrics)
    await reconciler.pass_once()
    view = await rig.store.get_batch(job_id)
    assert view is not None and view.state == "finished" and view.project == "p" * 32
    assert view.task_counts == {"succeeded": 1, "failed": 1} and view.error_codes == {"E": 1}
    calls = rig.emu.cloud.calls["GetBatchMediaProducingJob"]
    size = await journal_size(rig.store)
    await reconciler.pass_once()  # unchanged since checked: listed, not fetched again
    assert rig.emu.cloud.calls["GetBatchMediaProducingJob"] == calls
    assert await journal_size(rig.store) == size


def test_event_time_is_the_service_time_unless_the_ledger_has_seen_later() -> None:
    updated = NOW
    assert event_time(updated, None, NOW + timedelta(hours=1)) == updated
    assert event_time(updated, updated - timedelta(seconds=1), NOW) == updated
    later = updated + timedelta(milliseconds=800)
    assert event_time(updated, later, NOW) == later + timedelta(milliseconds=1)
    assert event_time(None, None, NOW) == NOW


async def test_a_refused_key_is_an_auth_error_not_throttling(rig: Rig) -> None:
    common = {"region": "cn-shanghai", "endpoint": rig.emu.url.removeprefix("http://"),
              "protocol": "http", "timeout": 5,
              "credentials": {**CREDENTIALS, "access_key_secret": "wrong-secret"}}  # fmt: skip
    ice = IceApi(IceApiConfig(**common))  # type: ignore[arg-type]
    imm = ImmApi(ImmApiConfig(projects=[PROJECT], **common))  # type: ignore[arg-type]
    await IceReconciler(ice, rig.pipeline, rig.store, rig.metrics).pass_once()  # no raise
    await ImmReconciler(imm, rig.pipeline, rig.store, rig.metrics).pass_once()
    for service, count in (("ice", 1), ("imm", 2)):
        errors = rig.metrics.registry.get_sample_value(
            "batchrelay_reconcile_api_errors_total", {"service": service, "reason": "auth_error"}
        )
        assert errors == count  # fmt: skip
