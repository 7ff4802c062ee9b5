"""The simulator registers its batches in the emulator's IMM/ICE API and can lose notifications.

Whatever is lost, shuffled or sent twice, the emulator ends with each batch in the state
its last event describes, as the services' APIs would; the lost notifications never reach
the queue.
"""

from __future__ import annotations

from collections import Counter

import pytest

from batchrelay.emulator import EmulatorConfig, Signer, running_emulator
from batchrelay.events.parse import normalize_status
from batchrelay.simulate import SimulateOptions, generate
from batchrelay.simulate.cloud import snapshots
from batchrelay.simulate.plan import lost_events
from batchrelay.simulate.runner import simulate

from .conftest import START

pytestmark = pytest.mark.timeout(20)

QUEUE = "imm-notify"


def options(url: str, **overrides: object) -> SimulateOptions:
    settings: dict[str, object] = dict(
        target="mns-queue", endpoint=url, queue=QUEUE, emulator=url, kind="mixed", batches=6,
        tasks=5, failure_ratio=0.3, duplicates=0.2, shuffle=True, seed=11, start_time=START,
        lose=0.2, concurrency=4,
    )  # fmt: skip
    return SimulateOptions(**(settings | overrides))


async def test_emulator_holds_each_batch_as_its_last_event_left_it() -> None:
    config = EmulatorConfig(port=0, queues=(QUEUE,))
    async with running_emulator(config, signer=Signer.generate()) as emu:
        run = options(emu.url)
        report = await simulate(run)
        traffic = generate(run.spec(START))
        assert report.failed == 0 and report.register_errors == {}
        assert report.lost > 0 and report.sent + report.lost == report.planned
        assert emu.counts(QUEUE).active == report.sent
        for expected in traffic.expected:
            if expected.kind == "ice_batch":
                job = emu.cloud.get_job(expected.batch_key)["EditingBatchJob"]
                assert normalize_status(job["Status"]) == expected.state
                done = Counter(normalize_status(s["Status"]) for s in job["SubJobList"])
                assert dict(done) == expected.task_counts
                continue
            kind = "batch" if expected.kind == "batch" else "trigger"
            listed = emu.cloud.list_imm(expected.project, kind, {})
            [batch] = [b for b in listed["Batches" if kind == "batch" else "Triggers"]
                       if b["Id"] == expected.batch_key]  # fmt: skip
            assert normalize_status(batch["State"]) == expected.state
            stat = batch["Statistic"]
            assert expected.statistic == {
                "submit_success": stat["SubmitSuccess"],
                "submit_failure": stat["SubmitFailure"],
                "skip_files": stat["SkipFiles"],
            }


def test_lost_events_are_seeded_and_near_the_ratio() -> None:
    first, again = lost_events(1000, 3, 0.2), lost_events(1000, 3, 0.2)
    assert first == again and 150 < len(first) < 250
    assert lost_events(1000, 3, 0.0) == frozenset()


def test_ice_snapshots_grow_until_finished() -> None:
    traffic = generate(SimulateOptions(kind="ice-batch", tasks=3, seed=2).spec(START))
    found = snapshots(traffic.events)
    jobs = [found[e.event_id].body["Object"] for e in traffic.events]
    assert [j["Status"] for j in jobs] == ["Processing"] * 3 + ["Finished"]
    finished = [sum(s["Status"] != "Processing" for s in j["SubJobList"]) for j in jobs]
    assert finished == [1, 2, 3, 3]
