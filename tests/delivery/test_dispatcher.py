"""The dispatcher on a real SQLite outbox with a fake clock: timelines of sends."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from batchrelay.delivery import dispatcher as dispatcher_module
from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.events.models import ImmTaskEvent
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import FailureReason, Notification, send_error
from batchrelay.notifiers.templates import TemplateError, compile_template
from batchrelay.notifiers.webhook import WebhookConfig
from batchrelay.routing.obligations import Router
from batchrelay.routing.tree import RouteTree, RoutingConfig
from batchrelay.store.base import Inbound
from batchrelay.store.contracts import CommitHooks
from batchrelay.store.sqlite.store import SQLiteStore, commit_hook
from tests.fakes import FakeClock, RecordingNotifier


def routing(**route: Any) -> RouteTree:
    base = {"receiver": "hook", "group_by": ["batch_key"], "group_wait": "10s",
            "group_interval": "60s"}  # fmt: skip
    return RouteTree(RoutingConfig.model_validate({"route": base | route}))


def hook_config(**values: Any) -> WebhookConfig:
    return WebhookConfig.model_validate({"type": "webhook", "url": "http://127.0.0.1:9/x"} | values)


def task(n: int, batch: str = "batch-1", status: str = "failed") -> ImmTaskEvent:
    return ImmTaskEvent(
        event_id=f"ev-{batch}-{n}", source="acs.imm", type="imm:Task:MediaConvert",
        time=datetime(2026, 11, 20, 3, 0, n % 60, tzinfo=UTC), ingress="replay", batch_key=batch,
        task_id=f"MediaConvert-{batch}-{n}", status=status, raw_status="Failed",
        code="InvalidFile.Corrupted", object_path=f"oss://in/{n:04d}.mov",
    )  # fmt: skip


@dataclass
class Rig:
    clock: FakeClock
    store: SQLiteStore
    hook: RecordingNotifier
    dispatcher: Dispatcher
    extra: dict[str, RecordingNotifier]

    async def commit(self, *events: ImmTaskEvent) -> None:
        at = datetime.fromtimestamp(self.clock(), UTC)
        await self.store.commit_many([Inbound(e, b"{}", at) for e in events])

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            await self.dispatcher.tick()
            self.clock.advance(step)


@pytest.fixture
async def rig_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    stores: list[SQLiteStore] = []

    async def make(tree: RouteTree | None = None, fallback: bool = False, **hook: Any) -> Rig:
        clock = FakeClock()
        tree = tree or routing()
        hooks = commit_hook(CommitHooks(route=Router(tree, clock)))
        store = SQLiteStore(tmp_path / f"s{len(stores)}.db", synchronous="NORMAL", on_commit=hooks)
        await store.start()
        stores.append(store)
        recorder = RecordingNotifier(clock=clock)
        configs = {"hook": hook_config(fallback="spare" if fallback else None, **hook)}
        notifiers: dict[str, Any] = {"hook": recorder}
        extra: dict[str, RecordingNotifier] = {}
        if fallback:
            extra["spare"] = RecordingNotifier(name="spare", clock=clock)
            configs["spare"] = hook_config()
            notifiers["spare"] = extra["spare"]
        dispatcher = Dispatcher(store, tree, configs, notifiers, Metrics(), clock=clock,
                                rng=random.Random(1))  # fmt: skip
        return Rig(clock, store, recorder, dispatcher, extra)

    yield make
    for store in stores:
        await store.close()


async def test_group_wait_then_one_notification(rig_factory: Any) -> None:
    rig = await rig_factory()
    await rig.commit(task(1))
    rig.clock.advance(3)
    await rig.commit(task(2), task(3))
    await rig.run_for(6)
    assert rig.hook.sent == []  # group_wait (10 s from the first event) has not passed
    await rig.run_for(3)
    [(sent_at, notification)] = rig.hook.sent
    assert sent_at == FakeClock().now + 10
    assert [e["event_id"] for e in notification.events] == [
        "ev-batch-1-1", "ev-batch-1-2", "ev-batch-1-3"]  # fmt: skip
    assert notification.batch is not None and notification.batch["batch_key"] == "batch-1"


async def test_group_interval_after_a_flush(rig_factory: Any) -> None:
    rig = await rig_factory()
    await rig.commit(task(1))
    await rig.run_for(11)
    first_at = rig.hook.sent[0][0]
    await rig.commit(task(2))
    await rig.run_for(40)
    assert len(rig.hook.sent) == 1  # group_interval (60 s) since the flush
    await rig.run_for(25)
    assert len(rig.hook.sent) == 2
    assert rig.hook.sent[1][0] - first_at >= 60


async def test_separate_groups_by_batch(rig_factory: Any) -> None:
    rig = await rig_factory()
    await rig.commit(task(1, "batch-a"), task(1, "batch-b"))
    await rig.run_for(12)
    assert sorted(n.group_key for _, n in rig.hook.sent) == sorted(
        {n.group_key for _, n in rig.hook.sent})  # fmt: skip
    assert len(rig.hook.sent) == 2


async def test_retry_after_is_honoured_and_the_id_repeats(rig_factory: Any) -> None:
    rig = await rig_factory()
    rig.hook.failures = [send_error(FailureReason.RATE_LIMITED, "429", retry_after=30.0)]
    await rig.commit(task(1))
    await rig.run_for(80)
    (first_at, first_id), (second_at, second_id) = rig.hook.attempts
    assert second_at - first_at >= 30
    assert first_id == second_id
    assert len(rig.hook.sent) == 1


async def test_permanent_failure_is_a_dead_letter_and_goes_to_the_fallback(
    rig_factory: Any,
) -> None:
    rig = await rig_factory(fallback=True)
    rig.hook.failures = [send_error(FailureReason.CLIENT_ERROR, "HTTP 400")]
    await rig.commit(task(1))
    await rig.run_for(15)
    assert rig.hook.sent == []
    assert rig.extra["spare"].event_ids() == ["ev-batch-1-1"]
    query = "SELECT state, last_reason FROM deliveries WHERE receiver = 'hook'"
    dead = await rig.store.read(lambda c: c.execute(query).fetchall())
    assert dead == [("dead", "client_error")]


async def test_retries_stop_at_max_attempts(rig_factory: Any) -> None:
    rig = await rig_factory(retry={"max_attempts": 3, "initial_delay": 1, "max_delay": 2})
    rig.hook.failures = [send_error(FailureReason.SERVER_ERROR, "HTTP 500") for _ in range(10)]
    await rig.commit(task(1))
    await rig.run_for(60)
    assert len(rig.hook.attempts) == 3
    assert rig.hook.sent == []


async def test_retries_stop_at_max_age(rig_factory: Any) -> None:
    rig = await rig_factory(retry={"max_attempts": 1000, "max_age": 30, "initial_delay": 4,
                                   "max_delay": 8}, breaker={"failures": 1000})  # fmt: skip
    rig.hook.failures = [send_error(FailureReason.TIMEOUT, "slow") for _ in range(1000)]
    await rig.commit(task(1))
    await rig.run_for(120)
    times = [at for at, _ in rig.hook.attempts]
    assert times[-1] - times[0] <= 30
    state = await rig.store.read(lambda c: c.execute("SELECT state FROM deliveries").fetchone())
    assert state == ("dead",)


async def test_out_of_budget_deliveries_are_coalesced_into_digests(rig_factory: Any) -> None:
    tree = routing(group_by=["..."], group_wait="1s")  # every event its own group
    rig = await rig_factory(tree, rate_limits=[[2, 60]], max_events=20)
    await rig.commit(*(task(n) for n in range(50)))
    await rig.run_for(200)
    times = [at for at, _ in rig.hook.sent]
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 60) <= 2  # the budget held
    assert sorted(rig.hook.event_ids()) == sorted(f"ev-batch-1-{n}" for n in range(50))
    assert any(n.digest for _, n in rig.hook.sent)


async def test_breaker_opens_and_probes(rig_factory: Any) -> None:
    rig = await rig_factory(breaker={"failures": 2, "cooldown": 30},
                            retry={"initial_delay": 1, "max_delay": 1})  # fmt: skip
    rig.hook.failures = [send_error(FailureReason.CONNECTION, "refused") for _ in range(4)]
    await rig.commit(task(1, "a"), task(1, "b"), task(1, "c"))
    await rig.run_for(25)
    # The three went out together and failed, which opened it: no retry while open,
    # although each retry was due a second later.
    assert len(rig.hook.attempts) == 3
    text = rig.dispatcher.metrics.render().decode()
    assert 'batchrelay_breaker_state{receiver="hook",state="open"} 1.0' in text
    assert 'batchrelay_breaker_state{receiver="hook",state="closed"} 0.0' in text
    await rig.run_for(200)
    assert len(rig.hook.sent) == 3  # probes until one succeeded, then the rest


async def test_a_delivery_whose_sender_died_is_sent_again_with_the_same_id(
    rig_factory: Any,
) -> None:
    from batchrelay.store.sqlite import outbox

    from ..store.conformance_support import flush_due

    rig = await rig_factory()
    await rig.commit(task(1))
    rig.clock.advance(11)
    us = int(rig.clock() * 1_000_000)
    await flush_due(rig.store.outbox, us)
    [claimed] = await rig.store.write(lambda c: outbox.claim_due(c, us, 60_000_000, 10))
    await rig.run_for(30)
    assert rig.hook.sent == []  # still leased to the sender that "died"
    await rig.run_for(40)
    assert [n.id for _, n in rig.hook.sent] == [claimed.id]


async def test_muted_route_records_but_does_not_send(rig_factory: Any) -> None:
    tree = RouteTree(RoutingConfig.model_validate({
        "route": {"receiver": "hook", "group_wait": "1s", "routes": [
            {"match": {"status": ["failed"]}, "receiver": "hook",
             "mute_time_intervals": ["always"]}]},
        "time_intervals": [{"name": "always", "time_intervals": [{"weekdays": ["monday:sunday"]}]}],
    }))  # fmt: skip
    rig = await rig_factory(tree)
    await rig.commit(task(1))
    await rig.run_for(5)
    assert rig.hook.sent == []
    muted = await rig.store.read(lambda c: c.execute("SELECT state FROM deliveries").fetchall())
    assert muted == [("muted",)]


async def test_a_backlog_is_sent_page_after_page_and_a_page_claimed_ahead_is_given_back(
    rig_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher_module, "CLAIM_LIMIT", 2)
    rig = await rig_factory()
    await rig.commit(*(task(1, f"batch-{n}") for n in range(5)))
    rig.clock.advance(11)
    assert await rig.dispatcher.tick() == 2  # a full page: the next one is claimed meanwhile
    assert await rig.dispatcher.tick() == 2  # ... and sent by the next pass
    counts = "SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state"
    states = await rig.store.read(lambda c: c.execute(counts).fetchall())
    assert states == [("delivered", 4), ("sending", 1)]  # the last one claimed ahead
    active = False
    rig.dispatcher.active = lambda: active
    assert await rig.dispatcher.tick() == 0  # another replica sends now: the page goes back
    rows = await rig.store.read(lambda c: c.execute(
        "SELECT state, lease_until FROM deliveries ORDER BY state").fetchall())  # fmt: skip
    assert rows == [("delivered", None)] * 4 + [("pending", None)]
    active = True
    assert await rig.dispatcher.tick() == 1
    assert len({n.group_key for _, n in rig.hook.sent}) == 5


async def test_duplicates_are_not_routed_again(rig_factory: Any) -> None:
    rig = await rig_factory()
    await rig.commit(task(1))
    await rig.commit(task(1))
    await rig.run_for(12)
    assert rig.hook.event_ids() == ["ev-batch-1-1"]


async def test_metrics_follow_deliveries(rig_factory: Any) -> None:
    rig = await rig_factory()
    rig.hook.failures = [send_error(FailureReason.SERVER_ERROR, "HTTP 503")]
    await rig.commit(task(1), task(2, "batch-2"))
    await rig.run_for(5)
    text = rig.dispatcher.metrics.render().decode()
    assert 'batchrelay_outbox_depth{kind="events"} 2.0' in text  # waiting for group_wait
    await rig.run_for(10)
    text = rig.dispatcher.metrics.render().decode()
    retried = 'batchrelay_deliveries_total{outcome="retry",reason="server_error",receiver="hook"}'
    assert f"{retried} 1.0" in text
    assert 'batchrelay_deliveries_total{outcome="delivered",reason="",receiver="hook"} 2.0' in text
    assert 'batchrelay_delivery_seconds_count{receiver="hook"} 3.0' in text
    assert 'batchrelay_outbox_depth{kind="deliveries"} 0.0' in text
    assert 'batchrelay_breaker_state{receiver="hook",state="closed"} 1.0' in text
    assert 'batchrelay_breaker_state{receiver="hook",state="open"} 0.0' in text
    assert 'batchrelay_breaker_state{receiver="hook",state="half_open"} 0.0' in text


async def test_a_new_sender_starts_with_the_budget_the_last_one_spent(rig_factory: Any) -> None:
    rig = await rig_factory(rate_limits=[[2, 60]])
    await rig.commit(task(1, batch="a"), task(2, batch="b"))
    await rig.run_for(11)
    assert len(rig.hook.sent) == 2  # the budget of two a minute is spent
    # Another replica takes over sending (or this one restarts): same store, fresh memory.
    takeover = Dispatcher(rig.store, rig.dispatcher.tree, rig.dispatcher.receivers,
                          {"hook": rig.hook}, Metrics(), clock=rig.clock,
                          rng=random.Random(2))  # fmt: skip
    rig.dispatcher = takeover
    await rig.commit(task(3, batch="c"))
    await rig.run_for(30)
    assert len(rig.hook.sent) == 2  # the first two sends still count
    await rig.run_for(30)
    assert len(rig.hook.sent) == 3
    first_at = rig.hook.sent[0][0]
    assert rig.hook.sent[2][0] >= first_at + 60


async def test_a_template_error_is_logged_at_error_with_the_template_and_line(
    rig_factory: Any,
) -> None:
    rig = await rig_factory()
    broken = compile_template("{% if events is defined %}\n{{ events | nosuch }}{% endif %}",
                              "receivers.hook.template")  # fmt: skip
    with pytest.raises(TemplateError) as caught:
        broken.render(Notification(id="n", receiver="hook", route="root", group_key="g",
                                   events=[], created_at=datetime.now(UTC)))  # fmt: skip
    rig.hook.failures.append(caught.value)
    await rig.commit(task(1))
    with structlog.testing.capture_logs() as logs:
        await rig.run_for(12)
    [line] = [entry for entry in logs if entry["event"] == "delivery.template_failed"]
    assert line["log_level"] == "error"
    assert (line["receiver"], line["template"], line["line"]) == (
        "hook",
        "receivers.hook.template",
        2,
    )
    assert "No filter named 'nosuch'" in line["error"]


async def test_notifications_carry_the_public_url(rig_factory: Any) -> None:
    rig = await rig_factory()
    rig.dispatcher.public_url = "https://relay.example.com"
    await rig.commit(task(1))
    await rig.run_for(12)
    [(_, notification)] = rig.hook.sent
    assert notification.public_url == "https://relay.example.com"
