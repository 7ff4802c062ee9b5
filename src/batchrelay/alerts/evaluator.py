"""The alert evaluator: rules checked against batches, state saved, notices sent on.

Two things make it look at a batch: a commit that changed it (the store's dirty mark, seen
within ``poll`` seconds) and the timer (every ``evaluation_interval``: every batch that
can still change state and every batch with an alert not yet resolved — that is how stalls
are noticed and how ``for`` elapses). Each pass, for each batch and rule:

1. the condition is evaluated on the batch's figures (``expr.batch_context``);
2. the alert steps through its lifecycle (``lifecycle.step``);
3. a notice is held back while a silence matches the alert or a firing alert inhibits
   it; its ``last_notified_at`` then stays as it was, so the firing notice goes out when
   the silence ends, and a resolution is not sent for an alert nobody was told about;
4. the notices are routed (the rule's own ``receiver``, else the route tree) and written
   to the outbox in the same transaction as the states (``state.Changes``).

A batch that closes (succeeded, failed, finished) gets one completion digest per finish,
and the silences tied to it with ``expire_on_batch_close`` end. Alerts that Alertmanager
holds are re-sent while they fire, as Prometheus does, so Alertmanager never resolves
them on its own while batchrelay still sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from batchrelay.alerts.expr import activation, batch_context
from batchrelay.alerts.lifecycle import AlertSubject, step
from batchrelay.alerts.lifecycle import Notice as LifecycleNotice
from batchrelay.alerts.notices import alert_view, digest_view, direct_match
from batchrelay.alerts.rules import AlertRuleConfig, AlertsConfig
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import SendError
from batchrelay.notifiers.config import AlertmanagerConfig
from batchrelay.notifiers.templates import Template, compile_template
from batchrelay.routing.inhibit import inhibited
from batchrelay.routing.silences import Silence, event_labels, expire_closed, silenced_by
from batchrelay.routing.tree import RouteMatch, RouteTree
from batchrelay.store.base import BatchView
from batchrelay.store.contracts import (
    CLOSING_STATES,
    RESOLVING_STATES,
    AlertState,
    AlertStore,
    Changes,
    Notice,
)
from batchrelay.store.row_codec import to_us

log = structlog.get_logger(__name__)

Clock = Callable[[], float]  # epoch seconds


@dataclass(frozen=True, slots=True)
class _Stepped:
    rule: AlertRuleConfig
    batch: BatchView
    old: AlertState | None
    new: AlertState | None
    notices: list[LifecycleNotice]


class AlertEvaluator:
    def __init__(
        self,
        state: AlertStore,
        config: AlertsConfig,
        tree: RouteTree | None,
        metrics: Metrics | None = None,
        *,
        clock: Clock = time.time,
        alertmanagers: Mapping[str, AlertmanagerConfig] | None = None,
        active: Callable[[], bool] | None = None,
    ) -> None:
        self.state, self.config, self.tree, self.metrics = state, config, tree, metrics
        self.clock = clock
        self.alertmanagers = dict(alertmanagers or {})
        self.active = active  # False while another replica holds the timers
        self.rules = {rule.name: rule for rule in config.rules}
        self.inhibit_rules = config.inhibitors
        self._summaries = {
            rule.name: compile_template(rule.annotations["summary"],
                                        f"alerts.rules.{rule.name}.annotations.summary")
            for rule in config.rules if "summary" in rule.annotations
        }  # fmt: skip
        self._next_sweep = 0.0
        self._next_refresh = 0.0
        self._undecided: set[tuple[str, str]] = set()  # logged once per rule and batch
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ running

    async def run(self, poll: float = 0.5) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:  # a failed pass is repeated: its dirty marks are still there
                log.exception("alerts.pass_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=poll)

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> Changes:
        """One pass: changed batches, and every watched batch when the timer is due."""
        if self.active is not None and not self.active():
            return Changes()
        dirty = await self.state.dirty()
        now = self.clock()  # after the read: whatever the marks show happened before "now"
        keys = set(dirty)
        sweep = now >= self._next_sweep
        if sweep:
            keys.update(await self.state.watched_batches())
            self._next_sweep = now + self.config.evaluation_interval
        changes = await self.evaluate(keys, now, dirty)
        if sweep or changes.saved or changes.forgotten:
            await self._export_counts()
        if self.alertmanagers and now >= self._next_refresh:
            await self._refresh_alertmanagers(now)
        return changes

    # ------------------------------------------------------------------ one pass

    async def evaluate(self, keys: Iterable[str], now: float, dirty: Mapping[str, int]) -> Changes:
        keys = sorted(keys)
        if not keys:  # nothing changed and the timer is not due: no reads at all
            return Changes()
        at = datetime.fromtimestamp(now, UTC)
        batches = await self.state.batches(keys)
        changes = Changes(cleaned=dict(dirty))
        if not batches:
            await self.state.apply(changes, at)
            return changes
        states = await self.state.states(b.batch_key for b in batches)
        changes.forgotten.extend(key for key in states if key[0] not in self.rules)  # rule gone
        silences = await self._silences(batches, at, changes)
        stepped = [item for batch in batches for item in self._step_batch(batch, states, at)]
        firing = await self._firing_labels(stepped)
        for item in stepped:
            self._settle(item, silences, firing, at, changes)
        await self._digests(batches, dirty, silences, at, changes)
        await self.state.apply(changes, at)
        self._count(changes)
        return changes

    async def _silences(
        self, batches: list[BatchView], at: datetime, changes: Changes
    ) -> list[Silence]:
        """The silences in force, after ending those tied to a batch that just closed."""
        silences = await self.state.silences(ended_after=at)
        closed = [b.batch_key for b in batches if b.state in CLOSING_STATES]
        ended = {s.id: s for s in expire_closed(silences, closed, at)}
        for silence in ended.values():
            log.info("alerts.silence_expired", silence_id=silence.id, batch_key=silence.batch_key)
        changes.silences.extend(ended.values())
        return [s for s in silences if s.id not in ended]

    def _step_batch(
        self, batch: BatchView, states: Mapping[tuple[str, str], AlertState], at: datetime
    ) -> list[_Stepped]:
        """Every rule on one batch; its figures are computed and converted once."""
        context = batch_context(batch, at)
        values = activation(context)
        return [
            self._step(rule, batch, states.get((rule.name, batch.batch_key)), context, values, at)
            for rule in self.config.rules
        ]

    def _step(
        self,
        rule: AlertRuleConfig,
        batch: BatchView,
        old: AlertState | None,
        context: dict[str, Any],
        values: Mapping[str, Any],
        at: datetime,
    ) -> _Stepped:
        outcome = rule.compiled.explain_activation(values)
        key = (rule.name, batch.batch_key)
        if outcome.error and key not in self._undecided:
            self._undecided.add(key)
            log.warning("alerts.condition_undecided", rule=rule.name, batch_key=batch.batch_key,
                        error=outcome.error)  # fmt: skip
        # value and summary are read only while the condition holds: render them only then
        matched = outcome.matched
        subject = AlertSubject(
            rule=rule.name, batch_key=batch.batch_key, labels=self._labels(rule, batch),
            value=_value(context) if matched else "",
            summary=self._summary(rule, context) if matched else "",
        )  # fmt: skip
        new, notices = step(
            old, subject=subject, condition_true=outcome.matched,
            batch_final=batch.state in RESOLVING_STATES, now=at, for_seconds=rule.for_,
            repeat_interval=timedelta(seconds=rule.repeat_interval),
            send_resolved=rule.send_resolved,
        )  # fmt: skip
        return _Stepped(rule, batch, old, new, notices)

    @staticmethod
    def _labels(rule: AlertRuleConfig, batch: BatchView) -> dict[str, str]:
        """Stable labels: they name the alert, so nothing in them may change while it fires."""
        base = {"severity": rule.severity, "project": batch.project or "", "kind": batch.kind}
        return {k: v for k, v in (base | rule.labels).items() if v}

    def _summary(self, rule: AlertRuleConfig, context: dict[str, Any]) -> str:
        template = self._summaries.get(rule.name)
        if template is None:
            return ""
        return _render(template, context) or rule.annotations["summary"]

    async def _firing_labels(self, stepped: list[_Stepped]) -> list[Mapping[str, str]]:
        """Every alert firing once this pass is saved: the sources of inhibition."""
        if not self.inhibit_rules:
            return []
        firing = {(a.rule, a.batch_key): a.labels for a in await self.state.alerts("firing")}
        for item in stepped:
            key = (item.rule.name, item.batch.batch_key)
            if item.new is not None and item.new.status == "firing":
                firing[key] = item.new.labels
            else:
                firing.pop(key, None)
        return list(firing.values())

    def _settle(
        self,
        item: _Stepped,
        silences: list[Silence],
        firing: list[Mapping[str, str]],
        at: datetime,
        changes: Changes,
    ) -> None:
        """Hold back muted notices, catch up on an unsent firing one, record the rest."""
        old, new, notices = item.old, item.new, list(item.notices)
        if new is None:
            if old is not None:
                changes.forgotten.append((old.rule, old.batch_key))
            return
        told = old.last_notified_at if old is not None and old.status != "resolved" else None
        catching_up = new.status == "firing" and new.last_notified_at is None and not notices
        if catching_up:
            new = replace(new, last_notified_at=at)  # fired while muted; tell now if free
            notices = [LifecycleNotice("firing", new)]
        if notices:
            muted = self._muted(new.labels, silences, firing, at)
            never_told = notices[0].kind == "resolved" and told is None
            if muted or never_told:
                counted = muted and not catching_up and notices[0].kind != "repeat"
                new = replace(new, last_notified_at=told)
                notices = []
                if counted and self.metrics is not None:  # once per transition, not per pass
                    self.metrics.alert_notices.labels(rule=new.rule, kind="muted").inc()
        # The figures in value and summary change all the time; they are saved with a
        # change of state or a notice, not on every pass.
        if notices or old is None or _essence(new) != _essence(old):
            changes.saved.append(new)
        for notice in notices:
            view = alert_view(replace(notice, alert=new), item.rule, item.batch, at)
            changes.notices.append(Notice(view, self._alert_matches(item.rule, view, at)))
            log.info(f"alerts.{notice.kind}", rule=new.rule, batch_key=new.batch_key,
                     value=new.value)  # fmt: skip

    def _muted(
        self,
        labels: Mapping[str, str],
        silences: list[Silence],
        firing: list[Mapping[str, str]],
        at: datetime,
    ) -> bool:
        return bool(silenced_by(labels, silences, at)) or inhibited(
            labels, firing, self.inhibit_rules
        )

    def _alert_matches(
        self, rule: AlertRuleConfig, view: dict[str, Any], at: datetime
    ) -> list[RouteMatch]:
        if rule.receiver is not None:
            route = f"alerts/{rule.name}"
            return [direct_match(rule.receiver, route, view["batch_key"], rule.repeat_interval)]
        return self._routed(view, at)

    def _routed(self, view: dict[str, Any], at: datetime) -> list[RouteMatch]:
        """The route tree's matches for ``view``, less those to a null receiver (counted)."""
        if self.tree is None:
            return []
        kept, discarded = self.tree.split(self.tree.match(view, at))
        if self.metrics is not None:
            for match in discarded:
                self.metrics.count_dropped(match.receiver)
        return kept

    async def _digests(
        self,
        batches: list[BatchView],
        dirty: Mapping[str, int],
        silences: list[Silence],
        at: datetime,
        changes: Changes,
    ) -> None:
        """One digest per finish, for batches that closed since they were last looked at."""
        digest = self.config.digest
        if not digest.enabled:
            return
        closed = [b for b in batches if b.batch_key in dirty and b.state in CLOSING_STATES
                  and b.finished_at is not None]  # fmt: skip
        sent = await self.state.digested(b.batch_key for b in closed)
        for batch in closed:
            assert batch.finished_at is not None  # for mypy: filtered above
            if sent.get(batch.batch_key) == to_us(batch.finished_at):
                continue
            changes.digests.append((batch.batch_key, batch.finished_at))
            facts = await self.state.digest_facts(batch.batch_key, digest.max_failures)
            view = digest_view(batch, facts, at)
            if silenced_by(event_labels(view), silences, at):
                continue
            if digest.receiver is not None:
                matches = [direct_match(digest.receiver, "digests", batch.batch_key, 0.0)]
            else:
                matches = self._routed(view, at)
            changes.notices.append(Notice(view, matches))
            log.info("alerts.digest", batch_key=batch.batch_key, state=batch.state)

    # ------------------------------------------------------------------ Alertmanager

    async def _refresh_alertmanagers(self, now: float) -> None:
        """Re-post firing alerts to the Alertmanager receivers they are routed to, well
        before the ``endsAt`` they were given runs out: as notices through the outbox, at
        once (one group per receiver), with its retries, budget and breaker like any send."""
        every = min(config.resolve_after for config in self.alertmanagers.values()) / 3
        self._next_refresh = now + every
        at = datetime.fromtimestamp(now, UTC)
        firing = await self.state.alerts("firing")
        batches = {b.batch_key: b for b in await self.state.batches({a.batch_key for a in firing})}
        notices = []
        for alert in firing:
            rule, batch = self.rules.get(alert.rule), batches.get(alert.batch_key)
            if rule is None or batch is None or alert.last_notified_at is None:
                continue  # a rule since removed; a batch gone; an alert still muted
            view = alert_view(LifecycleNotice("repeat", alert), rule, batch, at)
            receivers = {m.receiver for m in self._alert_matches(rule, view, at)}
            matches = [direct_match(name, "alertmanager-refresh", "", 0.0)
                       for name in sorted(receivers) if name in self.alertmanagers]  # fmt: skip
            if matches:
                notices.append(Notice(view, matches))
        if notices:
            await self.state.apply(Changes(notices=notices), at)

    # ------------------------------------------------------------------ metrics

    def _count(self, changes: Changes) -> None:
        if self.metrics is None:
            return
        for notice in changes.notices:
            kind = notice.view.get("notice") or "digest"
            rule = notice.view.get("alertname") or ""
            self.metrics.alert_notices.labels(rule=rule, kind=kind).inc()

    async def _export_counts(self) -> None:
        if self.metrics is None:
            return
        counts = await self.state.counts()
        for rule in self.rules:
            for status in ("pending", "firing", "resolved"):
                self.metrics.alerts.labels(rule=rule, state=status).set(
                    counts.get((rule, status), 0)
                )


def firing_view(rule: AlertRuleConfig, batch: BatchView, at: datetime) -> dict[str, Any]:
    """The firing notice ``rule`` would send for ``batch`` at ``at``, built as a pass
    builds it, whatever the condition says now (``routes test --alert``)."""
    context = batch_context(batch, at)
    source = rule.annotations.get("summary")
    where = f"alerts.rules.{rule.name}.annotations.summary"
    summary = _render(compile_template(source, where), context) if source else ""
    labels = AlertEvaluator._labels(rule, batch)
    subject = AlertSubject(rule.name, batch.batch_key, labels, _value(context), summary)
    _, notices = step(None, subject=subject, condition_true=True, batch_final=False, now=at,
                      for_seconds=0.0, repeat_interval=timedelta(seconds=rule.repeat_interval),
                      send_resolved=rule.send_resolved)  # fmt: skip
    return alert_view(notices[0], rule, batch, at)


def _essence(state: AlertState) -> AlertState:
    return replace(state, value="", summary="")


def _value(context: Mapping[str, Any]) -> str:
    """The figures behind a verdict, short enough for a chat line."""
    idle = int(context["idle_for"].total_seconds())
    return (
        f"status={context['status']} processed={context['processed']}"
        f" failure_ratio={context['failure_ratio']:.4f} submit_failure={context['submit_failure']}"
        f" idle_for={idle}s"
    )


def _render(template: Template, context: Mapping[str, Any]) -> str:
    try:
        return template.render_context(dict(context))
    except SendError as exc:
        log.warning("alerts.summary_failed", where=template.where, detail=exc.detail)
        return ""
