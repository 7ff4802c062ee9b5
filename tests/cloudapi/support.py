"""Shared pieces of the reconciliation tests: daemon sections pointing at an emulator, and the
comparison of the ledger with the emulator's batches."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from batchrelay.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, RunningEmulator
from batchrelay.emulator.cloud import CloudState
from batchrelay.events.parse import normalize_status
from batchrelay.store.base import BatchView, Store

QUEUE = "imm-notify"
CREDENTIALS = {
    "access_key_id": DEFAULT_ACCESS_KEY_ID,
    "access_key_secret": DEFAULT_ACCESS_KEY_SECRET,
}


def api_sections(emu: RunningEmulator, projects: list[str], interval: float) -> dict[str, Any]:
    """``sources.imm_api`` and ``sources.ice_api`` aimed at ``emu``."""
    common = {"region": "cn-shanghai", "endpoint": emu.url.removeprefix("http://"),
              "protocol": "http", "credentials": CREDENTIALS, "interval": interval,
              "timeout": 5}  # fmt: skip
    return {"imm_api": common | {"projects": projects}, "ice_api": dict(common)}


def queue_source(emu: RunningEmulator, queue: str = QUEUE) -> dict[str, Any]:
    return {"endpoint": emu.url, "queue": queue, **CREDENTIALS, "pollers": 1, "wait_seconds": 1}


def truth(cloud: CloudState) -> dict[str, dict[str, Any]]:
    """What the emulator says of every batch, in the ledger's terms."""
    found: dict[str, dict[str, Any]] = {}
    for (_, kind), records in cloud.imm.items():
        for batch_id, record in records.items():
            stat = record.body.get("Statistic") or {}
            found[batch_id] = {
                "kind": kind,
                "state": normalize_status(record.body["State"]),
                "raw_state": record.body["State"],
                "statistic": {"submit_success": stat.get("SubmitSuccess", 0),
                              "submit_failure": stat.get("SubmitFailure", 0),
                              "skip_files": stat.get("SkipFiles", 0)},
            }  # fmt: skip
    for job_id, record in cloud.ice.items():
        job = record.body
        counts = Counter(normalize_status(s["Status"]) for s in job["SubJobList"])
        found[job_id] = {"kind": "ice_batch", "state": normalize_status(job["Status"]),
                         "raw_state": job["Status"], "task_counts": dict(counts)}  # fmt: skip
    return found


def recorded(view: BatchView | None, expected: dict[str, Any]) -> dict[str, Any] | None:
    """The ledger's view in the same terms as ``expected`` (from :func:`truth`)."""
    if view is None:
        return None
    shown: dict[str, Any] = {"kind": view.kind, "state": view.state, "raw_state": view.raw_state}
    if "statistic" in expected:
        shown["statistic"] = view.statistic.model_dump() if view.statistic else None
    if "task_counts" in expected:
        shown["task_counts"] = view.task_counts
    return shown


async def differences(store: Store, cloud: CloudState) -> dict[str, Any]:
    """Batch key -> (ledger, emulator) for every batch where they differ."""
    found = {}
    for key, expected in truth(cloud).items():
        got = recorded(await store.get_batch(key), expected)
        if got != expected:
            found[key] = (got, expected)
    return found


async def wait_equal(store: Store, cloud: CloudState, timeout: float) -> float:
    """Seconds until the ledger equals the emulator; fails with the differences left."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        left = await differences(store, cloud)
        if not left:
            return time.monotonic() - start
        if time.monotonic() > deadline:
            raise AssertionError(f"ledger differs from the emulator after {timeout}s: {left}")
        await asyncio.sleep(0.2)


async def journal_size(store: Store) -> int:
    size, after = 0, 0
    while page := await store.read_journal(after, 1000):
        size += len(page)
        after = page[-1][0]
    return size
