"""What batchrelay records equals what was sent: the simulator's expected ledger, end to end.

Every planned body (duplicates and shuffling included) goes through batchrelay's own
pipeline into a temporary SQLite ledger, which must then hold exactly the expected ledger.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batchrelay.metrics import Metrics
from batchrelay.simulate import SimulateOptions, generate
from batchrelay.simulate.runner import planned_bodies
from batchrelay.sources.pipeline import Pipeline
from batchrelay.store.sqlite.store import SQLiteStore

from ..ledgers import assert_recorded
from .conftest import START

pytestmark = pytest.mark.timeout(10)


INGRESS = {"mns-queue": "mns-queue", "eventbridge": "eventbridge", "ice": "ice-http"}


@pytest.mark.parametrize(
    ("target", "kind"),
    [("mns-queue", "mixed"), ("eventbridge", "imm-trigger"), ("ice", "ice-batch")],
)
async def test_ledger_equals_the_expected_ledger(tmp_path: Path, target: str, kind: str) -> None:
    options = SimulateOptions(
        target=target, kind=kind, batches=4, tasks=6, failure_ratio=0.4, fast_fail_ratio=0.5,
        duplicates=0.3, shuffle=True, shuffle_window=12, seed=5, start_time=START,
    )  # fmt: skip
    traffic = generate(options.spec(START))
    store = SQLiteStore(tmp_path / "ledger.db")
    await store.start()
    try:
        relay = Pipeline(store, Metrics())
        for body in planned_bodies(traffic, options):
            result = await relay.ingest(body, INGRESS[target], {})
            assert not result.errors, result.errors
        for expected in traffic.expected:
            assert_recorded(await store.get_batch(expected.batch_key), expected)
    finally:
        await store.close()
