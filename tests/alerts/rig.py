"""A timeline rig: store, route tree, alert evaluator and dispatcher on one fake clock.

In the style of Alertmanager's acceptance tests: inputs at time t, then the notices that
reached the receiver, each with the time it arrived, checked against windows.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchrelay import store as stores
from batchrelay.alerts.evaluator import AlertEvaluator
from batchrelay.alerts.rules import AlertsConfig
from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.delivery.hold import NotificationHold
from batchrelay.events.models import EventBase, ImmBatchEvent, ImmTaskEvent, Statistic
from batchrelay.metrics import Metrics
from batchrelay.notifiers.webhook import WebhookConfig
from batchrelay.routing.obligations import Router
from batchrelay.routing.silences import Silence
from batchrelay.routing.tree import RouteTree, RoutingConfig
from batchrelay.store import Store, StoreConfig
from batchrelay.store.base import Inbound
from batchrelay.store.contracts import AlertStore
from tests.fakes import FakeClock, RecordingNotifier

START = 1_795_000_000.0


@dataclass
class Rig:
    clock: FakeClock
    store: Store
    alerts: AlertStore
    evaluator: AlertEvaluator
    dispatcher: Dispatcher
    sink: RecordingNotifier
    metrics: Metrics
    seq: int = 0

    @property
    def t(self) -> float:
        """Seconds since the start of the timeline."""
        return self.clock() - START

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def commit(self, *events: EventBase) -> None:
        await self.store.commit_many([Inbound(e, b"{}", self.at()) for e in events])

    async def run_until(self, t: float, step: float = 1.0) -> None:
        """Tick the evaluator and the dispatcher every ``step`` seconds up to ``t``."""
        while self.t <= t:
            await self.evaluator.tick()
            await self.dispatcher.tick()
            self.clock.advance(step)

    async def silence(self, silence: Silence) -> None:
        await self.alerts.put_silence(silence, self.at())

    def notices(self, kind: str = "alert") -> list[tuple[float, dict[str, Any]]]:
        """(arrival second, view) of every alert (or digest) view the sink received."""
        return [(t, e) for t, n in self.sink.sent for e in n.events if e.get("kind") == kind]

    def said(self) -> list[tuple[float, str, str, str]]:
        """(arrival, notice kind, rule, batch) for each alert notice, in arrival order."""
        return [(t, v["notice"], v["alertname"], v["batch_key"]) for t, v in self.notices()]

    def task_events(self) -> list[str]:
        return [e["event_id"] for _, n in self.sink.sent for e in n.events
                if e.get("kind") == "task"]  # fmt: skip

    async def delivery_states(self) -> dict[str, int]:
        rows = await self.store.outbox.list_deliveries(None, None, 1000, "")
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["state"]] = counts.get(row["state"], 0) + row["events"]
        return counts

    # -- events at the current time ---------------------------------------------------

    def _next(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}-{self.seq}"

    def batch(self, key: str, status: str, *, failure: int = 0, success: int = 0) -> ImmBatchEvent:
        return ImmBatchEvent(
            event_id=self._next("batch"), source="acs.imm", type="imm:Batch:Notification",
            time=self.at(), ingress="replay", batch_key=key, project="media", status=status,
            raw_status=status.capitalize(),
            statistic=Statistic(submit_success=success, submit_failure=failure),
        )  # fmt: skip

    def task(self, key: str, n: int, status: str = "failed", code: str = "") -> ImmTaskEvent:
        failed = status == "failed"
        return ImmTaskEvent(
            event_id=self._next("task"), source="acs.imm", type="imm:Task:MediaConvert",
            time=self.at(), ingress="replay", batch_key=key, project="media",
            task_id=f"{key}-task-{n}", status=status, raw_status=status.capitalize(),
            code=(code or "InvalidFile.Corrupted") if failed else "",
            object_path=f"oss://in/{key}/{n:04d}.mov",
        )  # fmt: skip


def routes(**route: Any) -> RouteTree:
    base = {"receiver": "hook", "group_by": ["batch_key"], "group_wait": "0s",
            "group_interval": "1s"}  # fmt: skip
    return RouteTree(RoutingConfig.model_validate({"route": base | route}))


async def make_rig(
    path: Path | str,
    alerts: dict[str, Any],
    tree: RouteTree | None = None,
    rules: Iterable[str] = (),
) -> Rig:
    """The rig on a SQLite file at ``path``, or on PostgreSQL when ``path`` is a DSN."""
    clock = FakeClock()
    clock.now = START
    tree = tree or routes()
    router = Router(tree, clock)
    store = _store(path, router)
    await store.start()
    config = AlertsConfig.model_validate(alerts)
    metrics = Metrics()
    state = store.alerts
    evaluator = AlertEvaluator(state, config, tree, metrics, clock=clock)
    sink = RecordingNotifier(clock=clock, origin=START)
    hook = WebhookConfig.model_validate({"type": "webhook", "url": "http://127.0.0.1:9/x"})
    hold = NotificationHold(state, config.inhibitors)
    dispatcher = Dispatcher(store, tree, {"hook": hook}, {"hook": sink}, metrics, clock=clock,
                            rng=random.Random(1), hold=hold)  # fmt: skip
    return Rig(clock, store, state, evaluator, dispatcher, sink, metrics)


def _store(path: Path | str, router: Router) -> Store:
    url = path if isinstance(path, str) else f"sqlite:///{path}"
    config = StoreConfig(url=url, synchronous="NORMAL", pool_max_size=4)  # pool_min_size is 1
    return stores.open(config, stores.CommitHooks(route=router, mark_dirty=True))
