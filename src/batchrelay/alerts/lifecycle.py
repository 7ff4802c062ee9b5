"""The life of one alert (one rule on one batch): pending → firing → resolved.

Pure: no I/O, no clock. The daemon calls :func:`step` after each ledger commit and on a
timer with the rule's verdict and an explicit, timezone-aware ``now``, persists the state it
returns (:meth:`AlertState.to_dict`) and delivers the notices. The semantics follow
Prometheus and Alertmanager:

- the condition turns true: the alert is *pending*, or *firing* at once when ``for`` is 0;
- pending for at least ``for``: *firing*, with a ``firing`` notice;
- firing and still true: a ``repeat`` notice once ``repeat_interval`` has passed since the
  last notice;
- the condition turns false, or the batch reaches a final state: *resolved*, with a
  ``resolved`` notice if the alert had fired and ``send_resolved`` is set; a pending alert
  that clears is dropped (``None``) without a word;
- resolved is terminal: stepping it again changes nothing until the condition is true
  again on a batch that is not final (a batch resumed after ``Failed``), which starts a
  new alert with a new ``active_since``.

Because ``last_notified_at`` is part of the persisted state, a restart neither forgets a
firing alert nor notifies it again before ``repeat_interval``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from batchrelay.store.contracts import AlertState

NoticeKind: TypeAlias = Literal["firing", "resolved", "repeat"]


@dataclass(frozen=True)
class AlertSubject:
    """What the rule evaluation says about one batch: who the alert is, and its text."""

    rule: str
    batch_key: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: str = ""
    summary: str = ""

    def alert_labels(self) -> dict[str, str]:
        """The labels with ``alertname`` and ``batch_key`` set from the subject."""
        return {**self.labels, "alertname": self.rule, "batch_key": self.batch_key}


@dataclass(frozen=True)
class Notice:
    """Something to tell the receivers about ``alert`` (its state after the step)."""

    kind: NoticeKind
    alert: AlertState


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"alert times must be timezone-aware, got {moment.isoformat()}")


Step: TypeAlias = tuple[AlertState | None, list[Notice]]


def step(
    state: AlertState | None,
    *,
    subject: AlertSubject,
    condition_true: bool,
    batch_final: bool,
    now: datetime,
    for_seconds: float,
    repeat_interval: timedelta,
    send_resolved: bool,
) -> Step:
    """Advance one alert to ``now``; return its new state (None: forget it) and notices."""
    _require_aware(now)
    if for_seconds < 0 or repeat_interval <= timedelta(0):
        raise ValueError("for_seconds must be >= 0 and repeat_interval > 0")
    if state is not None and (state.rule, state.batch_key) != (subject.rule, subject.batch_key):
        raise ValueError(
            f"state of {state.rule}/{state.batch_key} stepped as {subject.rule}/{subject.batch_key}"
        )
    active = condition_true and not batch_final
    if state is None or state.status == "resolved":
        return _promote(_start(subject, now), now, for_seconds) if active else (state, [])
    if not active:
        return _resolve(state, now, send_resolved)
    state = replace(state, value=subject.value, summary=subject.summary)
    if state.status == "pending":
        return _promote(state, now, for_seconds)
    return _repeat(state, now, repeat_interval)


def _start(subject: AlertSubject, now: datetime) -> AlertState:
    """A new pending alert; :func:`_promote` fires it if ``for`` has already elapsed."""
    return AlertState(
        rule=subject.rule,
        batch_key=subject.batch_key,
        labels=subject.alert_labels(),
        status="pending",
        active_since=now,
        value=subject.value,
        summary=subject.summary,
    )


def _promote(state: AlertState, now: datetime, for_seconds: float) -> Step:
    if now - state.active_since < timedelta(seconds=for_seconds):
        return state, []
    fired = replace(state, status="firing", fired_at=now, last_notified_at=now)
    return fired, [Notice("firing", fired)]


def _repeat(state: AlertState, now: datetime, repeat_interval: timedelta) -> Step:
    last = state.last_notified_at or state.fired_at or state.active_since
    if now - last < repeat_interval:
        return state, []
    repeated = replace(state, last_notified_at=now)
    return repeated, [Notice("repeat", repeated)]


def _resolve(state: AlertState, now: datetime, send_resolved: bool) -> Step:
    if state.status == "pending":
        return None, []
    resolved = replace(state, status="resolved", resolved_at=now)
    if not send_resolved:
        return resolved, []
    notified = replace(resolved, last_notified_at=now)
    return notified, [Notice("resolved", notified)]
