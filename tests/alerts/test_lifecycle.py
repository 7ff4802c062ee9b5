"""Alert lifecycle timelines, in the manner of Alertmanager's acceptance tests.

A timeline sets the rule's verdict from time t onwards; the "daemon" steps the alert every
``TICK`` seconds of an injected clock and collects notices; tests then expect each notice
inside a time window rather than at one exact instant.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from batchrelay.alerts.lifecycle import AlertSubject, Notice, step
from batchrelay.store.contracts import AlertState

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TICK = 5
SUBJECT = AlertSubject(
    rule="failure_ratio",
    batch_key="imm:proj-a:batch-1",
    labels={"severity": "page", "project": "proj-a"},
    value="0.07",
    summary="7% of tasks failed",
)


@dataclass
class Rule:
    for_seconds: float = 60
    repeat_interval: timedelta = timedelta(minutes=10)
    send_resolved: bool = True


@dataclass
class Run:
    """The state after the last tick and every notice as (seconds since T0, kind)."""

    state: AlertState | None
    notices: list[tuple[float, str]] = field(default_factory=list)

    def expect(self, kind: str, between: tuple[float, float]) -> None:
        hits = [t for t, k in self.notices if k == kind and between[0] <= t <= between[1]]
        assert len(hits) == 1, f"want one {kind} in {between}, got {self.notices}"

    def kinds(self) -> list[str]:
        return [k for _, k in self.notices]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def verdict(timeline: Sequence[tuple[float, bool, bool]], t: float) -> tuple[bool, bool]:
    """The (condition_true, batch_final) set by the last timeline entry at or before t."""
    current = (False, False)
    for start, condition, final in timeline:
        if start <= t:
            current = (condition, final)
    return current


def run(
    timeline: Sequence[tuple[float, bool, bool]],
    until: float,
    rule: Rule | None = None,
    *,
    start: float = 0,
    state: AlertState | None = None,
) -> Run:
    rule = rule or Rule()
    result = Run(state)
    t = start
    while t <= until:
        condition, final = verdict(timeline, t)
        result.state, notices = step(
            result.state,
            subject=SUBJECT,
            condition_true=condition,
            batch_final=final,
            now=at(t),
            for_seconds=rule.for_seconds,
            repeat_interval=rule.repeat_interval,
            send_resolved=rule.send_resolved,
        )
        result.notices += [(t, n.kind) for n in notices]
        t += TICK
    return result


def test_fires_after_for_elapses_not_before() -> None:
    r = run([(0, True, False)], until=120)
    r.expect("firing", between=(60, 60 + TICK))
    assert r.kinds() == ["firing"]
    assert r.state is not None and r.state.status == "firing"
    assert r.state.active_since == at(0)
    assert r.state.fired_at == at(60)


def test_for_zero_fires_on_first_step() -> None:
    r = run([(10, True, False)], until=10, rule=Rule(for_seconds=0))
    assert r.notices == [(10, "firing")]


def test_labels_carry_alertname_and_batch_key() -> None:
    r = run([(0, True, False)], until=60)
    assert r.state is not None
    assert r.state.labels == {
        "alertname": "failure_ratio",
        "batch_key": "imm:proj-a:batch-1",
        "severity": "page",
        "project": "proj-a",
    }


def test_pending_that_clears_is_dropped_silently() -> None:
    r = run([(0, True, False), (30, False, False)], until=300)
    assert r.notices == []
    assert r.state is None


def test_flapping_inside_for_restarts_the_wait() -> None:
    r = run([(0, True, False), (40, False, False), (50, True, False)], until=200)
    r.expect("firing", between=(110, 110 + TICK))


def test_repeats_every_repeat_interval_while_firing() -> None:
    r = run([(0, True, False)], until=1300)
    r.expect("firing", between=(60, 65))
    r.expect("repeat", between=(660, 665))
    r.expect("repeat", between=(1260, 1265))
    assert r.kinds() == ["firing", "repeat", "repeat"]


def test_resolves_with_notice_when_send_resolved() -> None:
    r = run([(0, True, False), (200, False, False)], until=400)
    r.expect("resolved", between=(200, 200 + TICK))
    assert r.kinds() == ["firing", "resolved"]
    assert r.state is not None and r.state.status == "resolved"
    assert r.state.resolved_at == at(200)


def test_resolves_quietly_without_send_resolved() -> None:
    r = run([(0, True, False), (200, False, False)], until=400, rule=Rule(send_resolved=False))
    assert r.kinds() == ["firing"]
    assert r.state is not None and r.state.status == "resolved"


def test_final_batch_state_resolves_even_if_condition_holds() -> None:
    r = run([(0, True, False), (300, True, True)], until=600)
    r.expect("resolved", between=(300, 300 + TICK))
    assert r.kinds() == ["firing", "resolved"]


def test_final_batch_never_starts_an_alert() -> None:
    r = run([(0, True, True)], until=600, rule=Rule(for_seconds=0))
    assert r.notices == []
    assert r.state is None


def test_resolved_is_terminal_until_condition_returns() -> None:
    r = run([(0, True, False), (100, False, False)], until=2000)
    assert r.kinds() == ["firing", "resolved"]


def test_batch_resumed_after_failed_starts_a_new_alert() -> None:
    # Failed at 0, resumed (condition false) at 100, failed again at 500.
    timeline = [(0, True, False), (100, False, False), (500, True, False)]
    r = run(timeline, until=700)
    assert r.kinds() == ["firing", "resolved", "firing"]
    r.expect("firing", between=(560, 565))
    assert r.state is not None and r.state.status == "firing"
    assert r.state.active_since == at(500)
    assert r.state.resolved_at is None


def once(
    state: AlertState | None,
    now: datetime,
    subject: AlertSubject = SUBJECT,
    for_seconds: float = 0,
) -> tuple[AlertState | None, list[Notice]]:
    """One step with the condition true on a running batch."""
    return step(
        state,
        subject=subject,
        condition_true=True,
        batch_final=False,
        now=now,
        for_seconds=for_seconds,
        repeat_interval=timedelta(minutes=10),
        send_resolved=True,
    )


def test_value_and_summary_follow_the_latest_evaluation() -> None:
    r = run([(0, True, False)], until=60)
    later = AlertSubject(SUBJECT.rule, SUBJECT.batch_key, SUBJECT.labels, "0.09", "9% failed")
    state, _ = once(r.state, at(65), later)
    assert state is not None
    assert (state.value, state.summary) == ("0.09", "9% failed")


def test_restart_keeps_firing_and_does_not_renotify_early() -> None:
    before = run([(0, True, False)], until=300)
    assert before.kinds() == ["firing"]
    assert before.state is not None
    stored = json.loads(json.dumps(before.state.to_dict()))
    restored = AlertState.from_dict(stored)
    assert restored == before.state
    after = run([(0, True, False)], until=1300, start=305, state=restored)
    assert after.kinds() == ["repeat", "repeat"]
    after.expect("repeat", between=(660, 665))


def test_restart_while_pending_keeps_the_for_clock() -> None:
    before = run([(0, True, False)], until=30)
    assert before.state is not None and before.state.status == "pending"
    restored = AlertState.from_dict(json.loads(json.dumps(before.state.to_dict())))
    after = run([(0, True, False)], until=120, start=35, state=restored)
    after.expect("firing", between=(60, 65))


def test_notice_carries_the_alert_state() -> None:
    _, notices = once(None, T0)
    assert [n.kind for n in notices] == ["firing"]
    assert notices[0].alert.status == "firing"
    assert notices[0].alert.last_notified_at == T0


@pytest.mark.parametrize(
    "change",
    [
        {"status": "exploded"},
        {"active_since": None},
        {"active_since": "2026-03-01T08:00:00"},
    ],
)
def test_from_dict_rejects_bad_records(change: dict[str, object]) -> None:
    good = run([(0, True, False)], until=60).state
    assert good is not None
    with pytest.raises(ValueError):
        AlertState.from_dict({**good.to_dict(), **change})


def test_step_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        once(None, T0.replace(tzinfo=None))


def test_step_rejects_another_alerts_state() -> None:
    firing, _ = once(None, T0)
    with pytest.raises(ValueError, match="stepped as"):
        once(firing, at(5), AlertSubject("stalled", SUBJECT.batch_key))
