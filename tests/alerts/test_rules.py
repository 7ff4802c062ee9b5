from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from batchrelay.alerts.expr import batch_context
from batchrelay.alerts.rules import AlertRuleConfig, AlertsConfig
from batchrelay.config import load
from batchrelay.errors import ConfigError
from batchrelay.events.models import Statistic
from batchrelay.store.base import BatchView

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def rule(**fields: Any) -> dict[str, Any]:
    return {"name": "r", "condition": "true"} | fields


def view(**changes: Any) -> BatchView:
    start = NOW - timedelta(hours=1)
    fields: dict[str, Any] = {
        "batch_key": "imm:proj:batch-1",
        "kind": "batch",
        "source": "acs.imm",
        "state": "running",
        "create_time": start,
        "update_time": start,
        "first_seen": start,
        "last_seen": NOW - timedelta(minutes=1),
        "last_received": NOW - timedelta(minutes=1),
    }
    return BatchView(**(fields | changes))


def test_defaults() -> None:
    config = AlertsConfig.model_validate({"rules": [rule()]})
    only = config.rules[0]
    assert config.evaluation_interval == 30.0
    assert (only.for_, only.repeat_interval, only.severity) == (0.0, 4 * 3600.0, "warning")
    assert (only.receiver, only.send_resolved, only.labels, only.annotations) == (
        None,
        True,
        {},
        {},
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"for": "5m"}, {"for_": 300.0}),
        ({"for": 90}, {"for_": 90.0}),
        ({"for_": "1h"}, {"for_": 3600.0}),
        ({"repeat_interval": "30s"}, {"repeat_interval": 30.0}),
        ({"severity": "critical", "receiver": "oncall"}, {"receiver": "oncall"}),
        ({"labels": {"team": "ops"}}, {"labels": {"team": "ops"}}),
    ],
)
def test_rule_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    parsed = AlertRuleConfig.model_validate(rule(**fields))
    assert {key: getattr(parsed, key) for key in expected} == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"for": "soon"},
        {"for": -1},
        {"repeat_interval": 0},
        {"severity": "page"},
        {"unknown": 1},
        {"name": ""},
        {"condition": ""},
        {"receiver": ""},
    ],
)
def test_rule_rejects(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AlertRuleConfig.model_validate(rule(**fields))


def test_rule_is_frozen() -> None:
    parsed = AlertRuleConfig.model_validate(rule())
    with pytest.raises(ValidationError):
        parsed.name = "other"  # type: ignore[misc]  # the point of the test


def test_bad_condition_stops_the_load_naming_the_rule() -> None:
    with pytest.raises(ConfigError, match=r"'slow'.*at 1:1: unknown name 'idle'"):
        AlertsConfig.model_validate({"rules": [rule(name="slow", condition="idle > 3")]})


def test_duplicate_rule_names() -> None:
    rules = [rule(name="a"), rule(name="b"), rule(name="a")]
    with pytest.raises(ConfigError, match="'a' is used twice"):
        AlertsConfig.model_validate({"rules": rules})


@pytest.mark.parametrize("interval", ["0s", 0, "never"])
def test_evaluation_interval_rejects(interval: Any) -> None:
    with pytest.raises(ValidationError):
        AlertsConfig.model_validate({"evaluation_interval": interval})


def starter_rules() -> AlertsConfig:
    """The rules ``config/example.yaml`` ships."""
    return load(Path(__file__).parents[2] / "config" / "example.yaml").alerts


def test_starter_rules_load() -> None:
    config = starter_rules()
    assert [r.name for r in config.rules] == [
        "submit-failures",
        "failure-ratio",
        "stalled",
        "failed-or-suspended",
    ]


@pytest.mark.parametrize(
    ("batch", "firing"),
    [
        (view(), set()),
        (view(statistic=Statistic(submit_success=5, submit_failure=10)), {"submit-failures"}),
        (view(task_counts={"succeeded": 90, "failed": 10}), {"failure-ratio"}),
        (view(last_seen=NOW - timedelta(minutes=30)), {"stalled"}),
        (view(state="failed", last_seen=NOW - timedelta(hours=2)), {"failed-or-suspended"}),
        (view(state="suspended"), {"failed-or-suspended"}),
    ],
)
def test_starter_rules_on_batches(batch: BatchView, firing: set[str]) -> None:
    context = batch_context(batch, NOW)
    rules = starter_rules().rules
    assert {r.name for r in rules if r.compiled.evaluate(context)} == firing
