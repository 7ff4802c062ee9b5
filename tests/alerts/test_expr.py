from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchrelay.alerts.expr import Condition, batch_context, compile_condition
from batchrelay.errors import ConfigError
from batchrelay.events.models import Statistic
from batchrelay.store.base import BatchView

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)

COUNT = "submit_failure >= 10"
RATIO = "failure_ratio > 0.05 && processed >= 100"
STALL = 'status == "running" && idle_for > duration("15m")'
STATE = 'status in ["failed", "suspended"]'


def cond(source: str) -> Condition:
    return compile_condition(source, rule="test")


def make_view(**changes: Any) -> BatchView:
    start = NOW - timedelta(hours=1)
    fields: dict[str, Any] = {
        "batch_key": "imm:proj:batch-1",
        "kind": "batch",
        "source": "acs.imm",
        "project": "proj",
        "state": "running",
        "create_time": start,
        "update_time": start,
        "first_seen": start,
        "last_seen": NOW - timedelta(minutes=1),
        "last_received": NOW - timedelta(minutes=1),
    }
    return BatchView(**(fields | changes))


# -- the four starter conditions on hand-built contexts ---------------------------------


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        (COUNT, {"submit_failure": 9}, False),
        (COUNT, {"submit_failure": 10}, True),
        (COUNT, {"submit_failure": 11}, True),
        (RATIO, {"failure_ratio": 0.05, "processed": 100}, False),
        (RATIO, {"failure_ratio": 0.0501, "processed": 100}, True),
        (RATIO, {"failure_ratio": 0.5, "processed": 99}, False),
        (RATIO, {"failure_ratio": 0.0, "processed": 0}, False),
        (STALL, {"status": "running", "idle_for": timedelta(minutes=15)}, False),
        (STALL, {"status": "running", "idle_for": timedelta(minutes=15, seconds=1)}, True),
        (STALL, {"status": "succeeded", "idle_for": timedelta(hours=2)}, False),
        (STATE, {"status": "failed"}, True),
        (STATE, {"status": "suspended"}, True),
        (STATE, {"status": "running"}, False),
        ('tags.team == "ops"', {"tags": {"team": "ops"}}, True),
        ('tags["team"] == "ops"', {"tags": {"team": "dev"}}, False),
        ('"team" in tags && tags.team.startsWith("o")', {"tags": {"team": "ops"}}, True),
        ('"team" in tags', {"tags": {}}, False),
        (
            "tasks.failed > 0 && tasks_failed == 2",
            {"tasks": {"failed": 2}, "tasks_failed": 2},
            True,
        ),
        (
            '!(age < duration("1h")) || kind == "trigger"',
            {"age": timedelta(hours=1), "kind": "batch"},
            True,
        ),
        ("processed * 2 - 1 > 10 + 3 / 3", {"processed": 7}, True),
    ],
)
def test_condition_on_context(source: str, context: dict[str, Any], expected: bool) -> None:
    outcome = cond(source).explain(context)
    assert outcome.matched is expected
    assert outcome.error is None


# -- the same conditions on ledger figures ----------------------------------------------


@pytest.mark.parametrize(
    ("source", "view", "expected"),
    [
        (COUNT, make_view(statistic=Statistic(submit_failure=10)), True),
        (COUNT, make_view(statistic=Statistic(submit_failure=9)), False),
        (COUNT, make_view(), False),  # no Statistic yet counts as zero
        (RATIO, make_view(task_counts={"succeeded": 94, "failed": 6}), True),
        (RATIO, make_view(task_counts={"succeeded": 95, "failed": 5}), False),
        (RATIO, make_view(task_counts={"succeeded": 40, "failed": 9}), False),  # under 100
        (RATIO, make_view(statistic=Statistic(submit_success=90, submit_failure=10)), True),
        (RATIO, make_view(), False),
        (STALL, make_view(last_seen=NOW - timedelta(minutes=16)), True),
        (STALL, make_view(last_seen=NOW - timedelta(minutes=15)), False),
        (STALL, make_view(state="failed", last_seen=NOW - timedelta(hours=3)), False),
        (STATE, make_view(state="suspended"), True),
        (STATE, make_view(state="succeeded"), False),
        ('tags.owner == "ana"', make_view(tags={"owner": "ana"}), True),
    ],
)
def test_condition_on_batch_view(source: str, view: BatchView, expected: bool) -> None:
    outcome = cond(source).explain(batch_context(view, NOW))
    assert outcome == type(outcome)(expected)


@pytest.mark.parametrize(
    ("view", "figures"),
    [
        (make_view(), {"processed": 0, "failure_ratio": 0.0, "tasks_failed": 0}),
        (
            make_view(task_counts={"succeeded": 3, "failed": 1, "running": 5}),
            {"processed": 4, "failure_ratio": 0.25, "tasks_running": 5},
        ),
        (  # the Statistic is larger than the tasks seen: it wins
            make_view(
                task_counts={"failed": 1},
                statistic=Statistic(submit_success=6, submit_failure=2, skip_files=4),
            ),
            {"processed": 8, "failure_ratio": 0.25, "skip_files": 4, "submit_success": 6},
        ),
        (
            make_view(last_seen=NOW - timedelta(minutes=20), first_seen=NOW - timedelta(hours=2)),
            {"idle_for": timedelta(minutes=20), "age": timedelta(hours=2)},
        ),
        (  # an event time ahead of our clock is not a negative idle time
            make_view(last_seen=NOW + timedelta(minutes=5)),
            {"idle_for": timedelta(0)},
        ),
        (make_view(project=None), {"project": "", "status": "running", "kind": "batch"}),
    ],
)
def test_batch_context_figures(view: BatchView, figures: dict[str, Any]) -> None:
    context = batch_context(view, NOW)
    assert {key: context[key] for key in figures} == figures


def test_batch_context_defines_every_known_name() -> None:
    from batchrelay.alerts.expr import NAMES

    assert set(batch_context(make_view(), NOW)) == set(NAMES)


# -- bad conditions are configuration errors --------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "problem"),
    [
        ("submit_failure >=", "1:", "syntax error"),
        ("status == 'running' &&\n  idle_for >", "2:", "syntax error"),
        ("submit_failures >= 10", "1:1", "unknown name 'submit_failures'"),
        ('status == "x" && bogus', "1:18", "unknown name 'bogus'"),
        ("status > 3", "1:1", "cannot order string with int"),
        ('processed == "10"', "1:1", "cannot compare int with string"),
        ("processed == 10.0", "1:1", "int and double are never equal"),
        ("idle_for > 900", "1:1", "cannot order duration with int"),
        ('idle_for > duration("15 minutes")', "1:21", "invalid duration"),
        ("processed", "1:1", "must be true or false"),
        ("processed && true", "1:1", "need booleans"),
        ('status in "failed"', "1:1", "needs a list or a map"),
        ("status.exists(x, x)", "1:1", "unknown method exists"),
        ("now() > 1", "1:1", "unknown function 'now'"),
        ('{"a": 1}.a == 1', "1:2", "not supported"),
        ("tags.team > 1", "1:1", "cannot order string with int"),
        ("status + 1 == status", "1:1", "cannot combine string and int"),
    ],
)
def test_bad_condition_names_rule_and_position(source: str, position: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_condition(source, rule="stalled-imports")
    message = str(caught.value)
    assert "'stalled-imports'" in message
    assert f"at {position}" in message
    assert problem in message


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'deep'"):
        compile_condition("(" * 2000 + "true" + ")" * 2000, rule="deep")


# -- evaluation never raises ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "context", "reason"),
    [
        (COUNT, {}, "submit_failure"),  # a figure missing from the context
        ("processed / 0 > 1", {"processed": 3}, "divide by zero"),
        ('tags.team == "ops"', {"tags": {}}, "no such member"),
        (COUNT, {"submit_failure": "ten"}, "overload"),  # a context of the wrong type
        (COUNT, {"submit_failure": object()}, "no CEL value"),
        (STALL, {"status": "running", "idle_for": 900}, "overload"),
    ],
)
def test_evaluation_failures_are_false_with_a_reason(
    source: str, context: dict[str, Any], reason: str
) -> None:
    condition = cond(source)
    assert condition.evaluate(context) is False
    outcome = condition.explain(context)
    assert outcome.matched is False
    assert outcome.error is not None
    assert reason in outcome.error
    assert len(outcome.error) < 300
