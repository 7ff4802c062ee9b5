"""Inhibition: a firing batch-level alert mutes per-task notifications of the same batch."""

from __future__ import annotations

import pytest

from batchrelay.routing.inhibit import InhibitRule, inhibited

BATCH_1 = "imm:proj-a:batch-1"
BATCH_2 = "imm:proj-a:batch-2"

RULE = InhibitRule(
    source_matchers=['alertname="batch_failed"'],
    target_matchers=['alertname=~"task_.*"'],
    equal=["batch_key"],
)


def alert(name: str, batch_key: str, **extra: str) -> dict[str, str]:
    return {"alertname": name, "batch_key": batch_key, "project": "proj-a", **extra}


def test_firing_batch_alert_mutes_task_alerts_of_the_same_batch() -> None:
    assert inhibited(alert("task_failed", BATCH_1), [alert("batch_failed", BATCH_1)], [RULE])


def test_other_batches_are_not_muted() -> None:
    assert not inhibited(alert("task_failed", BATCH_2), [alert("batch_failed", BATCH_1)], [RULE])


def test_nothing_is_muted_without_a_firing_source() -> None:
    assert not inhibited(alert("task_failed", BATCH_1), [], [RULE])
    assert not inhibited(alert("task_failed", BATCH_1), [alert("stalled", BATCH_1)], [RULE])


def test_non_matching_targets_are_not_muted() -> None:
    firing = [alert("batch_failed", BATCH_1)]
    assert not inhibited(alert("stalled", BATCH_1), firing, [RULE])
    # The regex must match the whole alertname.
    assert not inhibited(alert("subtask_failed", BATCH_1), firing, [RULE])


def test_label_missing_on_both_sides_counts_as_equal() -> None:
    rule = InhibitRule(['alertname="batch_failed"'], ['alertname="task_failed"'], ["region"])
    assert inhibited(alert("task_failed", BATCH_1), [alert("batch_failed", BATCH_2)], [rule])
    assert not inhibited(
        alert("task_failed", BATCH_1), [alert("batch_failed", BATCH_2, region="cn-sh")], [rule]
    )


def test_without_equal_any_source_mutes_every_target() -> None:
    rule = InhibitRule(['alertname="batch_failed"'], ['alertname=~"task_.*"'])
    assert inhibited(alert("task_failed", BATCH_2), [alert("batch_failed", BATCH_1)], [rule])


def test_an_alert_does_not_inhibit_itself() -> None:
    rule = InhibitRule(['severity="page"'], ['severity=~"page|warning"'], ["batch_key"])
    target = alert("batch_failed", BATCH_1, severity="page")
    assert not inhibited(target, [target], [rule])


def test_alerts_matching_both_sides_do_not_mute_each_other() -> None:
    rule = InhibitRule(['severity="page"'], ['severity="page"'], ["batch_key"])
    a = alert("batch_failed", BATCH_1, severity="page")
    b = alert("stalled", BATCH_1, severity="page")
    assert not inhibited(a, [a, b], [rule])
    assert not inhibited(b, [a, b], [rule])


def test_any_of_several_rules_can_mute() -> None:
    stall = InhibitRule(['alertname="stalled"'], ['alertname="slow_progress"'], ["batch_key"])
    target = alert("slow_progress", BATCH_1)
    assert inhibited(target, [alert("stalled", BATCH_1)], [RULE, stall])
    assert not inhibited(target, [alert("stalled", BATCH_1)], [RULE])


@pytest.mark.parametrize(
    ("source", "target", "equal", "problem"),
    [
        (['alertname=="x"'], ['a="b"'], [], "bad matcher 'alertname==\"x\"'"),
        (['a="b"'], ['a=~"("'], [], "invalid regex"),
        ([], ['a="b"'], [], "needs source_matchers"),
        (['a="b"'], ['a="b"'], ["batch-key"], "invalid label names"),
    ],
)
def test_bad_rules_raise_value_error(
    source: list[str], target: list[str], equal: list[str], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        InhibitRule(source, target, equal)
