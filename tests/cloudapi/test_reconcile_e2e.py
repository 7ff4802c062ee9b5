"""Reconciliation end to end: the simulator, the emulator (MNS and the IMM/ICE OpenAPI), the
official SDKs and the whole daemon in this process.

- 20% of the notifications are lost on their way to the queue the daemon consumes; one
  reconciliation interval after the last one arrived, every batch in the ledger has the
  emulator's state and statistic (ICE: its sub-jobs' statuses).
- The daemon starts only after every batch finished and none of their notifications
  reached it: reconciliation alone brings all of them into the ledger.
- Reconciling unchanged batches again writes nothing (stable event ids).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchrelay.emulator import EmulatorConfig, RunningEmulator, Signer, running_emulator
from batchrelay.http.common import STORE
from batchrelay.http.health import METRICS
from batchrelay.simulate import SimulateOptions, generate
from batchrelay.simulate.runner import simulate

from ..conftest import SettingsFactory
from .support import QUEUE, api_sections, differences, journal_size, queue_source, wait_equal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

INTERVAL = 2.0


# ICE lists jobs of the last days only (lookback_days): the batches started an hour ago.
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def run_options(emu: RunningEmulator, queue: str, lose: float) -> SimulateOptions:
    return SimulateOptions(
        target="mns-queue", endpoint=emu.url, queue=queue, emulator=emu.url, kind="mixed",
        batches=10, tasks=8, failure_ratio=0.25, fast_fail_ratio=0.3, duplicates=0.1,
        shuffle=True, seed=20, start_time=START, lose=lose,
    )  # fmt: skip


def projects(options: SimulateOptions) -> list[str]:
    traffic = generate(options.spec(START))
    return sorted({b.project for b in traffic.expected if b.kind != "ice_batch"})


def drift_total(client: Any) -> float:
    registry = client.app[METRICS].registry
    total = 0.0
    for metric in registry.collect():
        if metric.name == "batchrelay_reconcile_drift":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def passes(client: Any, service: str) -> float:
    registry = client.app[METRICS].registry
    value = registry.get_sample_value(
        "batchrelay_reconcile_passes_total", {"service": service, "outcome": "ok"}
    )
    return value or 0.0


async def wait_drained(emu: RunningEmulator, queue: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            counts = emu.counts(queue)
            if counts.active == 0 and counts.inactive == 0 and counts.delayed == 0:
                return
            await asyncio.sleep(0.1)


async def wait_passes(client: Any, service: str, more: int, timeout: float = 30) -> None:
    target = passes(client, service) + more
    async with asyncio.timeout(timeout):
        while passes(client, service) < target:
            await asyncio.sleep(0.1)


async def test_ledger_equals_the_emulator_with_a_fifth_of_notifications_lost(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    config = EmulatorConfig(port=0, queues=(QUEUE,))
    async with running_emulator(config, signer=Signer.generate()) as emu:
        options = run_options(emu, QUEUE, lose=0.2)
        sources = {
            "mns_queues": [queue_source(emu)],
            **api_sections(emu, projects(options), INTERVAL),
        }
        client = await start_daemon(make_settings(sources=sources))
        store = client.app[STORE]
        report = await simulate(options)
        assert report.failed == 0 and report.lost > 0 and report.register_errors == {}
        await wait_drained(emu, QUEUE)
        # the notifications alone leave the ledger behind the services
        waited = await wait_equal(store, emu.cloud, timeout=INTERVAL * 2 + 10)
        assert waited <= INTERVAL * 2 + 10
        assert drift_total(client) > 0
        before = await journal_size(store)
        await wait_passes(client, "imm", 2)
        await wait_passes(client, "ice", 2)
        assert await journal_size(store) == before  # nothing new for unchanged batches
        assert await differences(store, emu.cloud) == {}
        await store.rebuild_ledger()  # synthesized events replay like any other
        assert await differences(store, emu.cloud) == {}


async def test_a_daemon_started_after_the_batches_finished_learns_them_all(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    config = EmulatorConfig(port=0, queues=("nobody-reads-this",))
    async with running_emulator(config, signer=Signer.generate()) as emu:
        options = run_options(emu, "nobody-reads-this", lose=0.0)
        report = await simulate(options)
        assert report.failed == 0 and report.registered > 0
        client = await start_daemon(
            make_settings(sources=api_sections(emu, projects(options), INTERVAL))
        )
        store = client.app[STORE]
        assert await wait_equal(store, emu.cloud, timeout=INTERVAL + 10) <= INTERVAL + 10
        traffic = generate(options.spec(START))
        for expected in traffic.expected:
            view = await store.get_batch(expected.batch_key)
            assert view is not None and view.project == expected.project
