"""A burst of 500 failed tasks to a DingTalk robot: within its 20/min limit, all named."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.events.models import ImmTaskEvent
from batchrelay.metrics import Metrics
from batchrelay.notifiers import build_notifier
from batchrelay.routing.obligations import Router
from batchrelay.routing.tree import RouteTree, RoutingConfig
from batchrelay.store.base import Inbound
from batchrelay.store.contracts import CommitHooks
from batchrelay.store.sqlite.store import SQLiteStore, commit_hook
from tests.fakes import FakeClock

from .support import PlatformFactory
from .test_dingtalk import config, dingtalk


def failed(n: int) -> ImmTaskEvent:
    return ImmTaskEvent(
        event_id=f"ev-{n}", source="acs.imm", type="imm:Task:OfficeConversion",
        time=datetime(2026, 11, 20, 3, 0, tzinfo=UTC), ingress="replay", project="docs-prod",
        batch_key="batch-burst", task_id=f"OfficeConversion-{n}", status="failed",
        raw_status="Failed", code="InvalidFile.Corrupted",
        object_path=f"oss://docs-in/contracts/2026/doc-{n:04d}.docx",
    )  # fmt: skip


@pytest.mark.parametrize("group_by", [["batch_key"], ["..."]], ids=["per-batch", "per-task"])
async def test_500_failures_stay_within_20_per_minute_and_are_all_named(
    tmp_path: Path, platform: PlatformFactory, session: aiohttp.ClientSession, group_by: list[str]
) -> None:
    server = await platform(dingtalk)
    receiver = config(server.url)
    route = {"receiver": "ding", "group_by": group_by, "group_wait": "5s", "group_interval": "1m"}
    tree = RouteTree(RoutingConfig.model_validate({"route": route}))
    clock = FakeClock()
    store = SQLiteStore(
        tmp_path / "s.db",
        synchronous="NORMAL",
        on_commit=commit_hook(CommitHooks(route=Router(tree, clock))),
    )
    await store.start()
    try:
        notifier = build_notifier("ding", receiver, session)
        sent_at: list[float] = []
        real_send = notifier.send

        async def timed_send(notification: Any) -> None:
            await real_send(notification)
            sent_at.append(clock())

        notifier.send = timed_send  # type: ignore[method-assign]
        dispatcher = Dispatcher(store, tree, {"ding": receiver}, {"ding": notifier}, Metrics(),
                                clock=clock, rng=random.Random(2))  # fmt: skip
        at = datetime.fromtimestamp(clock(), UTC)
        await store.commit_many([Inbound(failed(n), b"{}", at) for n in range(500)])
        for _ in range(60 * 10):  # ten minutes of ticks, one a second
            await dispatcher.tick()
            clock.now += 1
    finally:
        await store.close()
    assert server.seen, "nothing was sent"
    for i, start in enumerate(sent_at):
        assert sum(1 for t in sent_at[i:] if t < start + 60) <= 20
    named = set()
    for seen in server.seen:
        named |= set(re.findall(r"doc-(\d{4})\.docx", seen.json()["markdown"]["text"]))
    assert len(named) == 500
