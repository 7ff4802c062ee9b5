"""Compare what batchrelay recorded with the simulator's expected ledger."""

from __future__ import annotations

from typing import Any

from batchrelay.simulate import BatchExpectation

COMPARED = (
    "batch_key", "kind", "source", "project", "account_id", "state", "raw_state", "phase",
    "error", "task_counts", "error_codes", "tags", "events", "create_time", "finished_at",
)  # fmt: skip


def assert_recorded(view: Any, expected: BatchExpectation) -> None:
    assert view is not None, f"batchrelay has no batch {expected.batch_key}"
    got = {name: getattr(view, name) for name in COMPARED}
    assert got == {name: getattr(expected, name) for name in COMPARED}
    statistic = view.statistic.model_dump() if view.statistic is not None else None
    assert statistic == expected.statistic
    assert sum(view.task_counts.values()) == expected.tasks


def assert_recorded_json(view: dict[str, Any], expected: dict[str, Any]) -> None:
    """The same check on the API's JSON and the ``--expect`` file's JSON."""
    from datetime import datetime

    def same_time(a: str | None, b: str | None) -> bool:
        if a is None or b is None:
            return a == b
        return datetime.fromisoformat(a) == datetime.fromisoformat(b)

    for name in COMPARED:
        if name in ("create_time", "finished_at"):
            assert same_time(view[name], expected[name]), (name, view[name], expected[name])
        else:
            assert view[name] == expected[name], (name, view[name], expected[name])
    assert view["statistic"] == expected["statistic"]
    assert sum(view["task_counts"].values()) == expected["tasks"]
