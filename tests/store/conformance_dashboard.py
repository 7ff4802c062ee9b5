"""Conformance: the dashboard's reads (a batch's journal, its figures over time, changes)."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from batchrelay.store.base import EventView, InvalidTokenError, Store

from .conformance_support import StoreCase, commit_all
from .factories import RECEIVED, at, imm_batch, imm_task, inbound


class DashboardConformance(StoreCase):
    # ------------------------------------------------------------------ list_batch_events

    async def test_batch_events_newest_first_with_raw_bytes(self, store: Store) -> None:
        await store.commit(inbound(imm_batch("B", "running", 1), raw=b"\xffbatch bytes"))
        await store.commit(
            inbound(imm_task("t1", "failed", 3, batch_key="B", code="E.Bad"), raw=b"{}")
        )
        await store.commit(inbound(imm_task("t2", "running", 2, batch_key="B")))
        await store.commit(inbound(imm_task("t3", "running", 9, batch_key="C")))
        page = await store.list_batch_events("B", 0, "")
        assert [e.task_id for e in page.items] == ["t1", "t2", None]
        assert page.next_token == ""
        first, _, last = page.items
        assert (first.status, first.code, first.kind, first.time) == ("failed", "E.Bad", "task",
                                                                      at(3))  # fmt: skip
        assert base64.b64decode(last.raw_base64) == b"\xffbatch bytes" and last.size == 12
        assert (last.kind, last.status, last.received_at) == ("batch", "running", RECEIVED)
        assert (await store.list_batch_events("nope", 10, "")).items == []

    async def test_batch_events_pages_cover_everything_once(self, store: Store) -> None:
        # equal event times make the event_id tie-break matter
        await commit_all(store, [imm_task(f"t{n:02d}", "running", n // 4, batch_key="B")
                                 for n in range(23)])  # fmt: skip
        whole = (await store.list_batch_events("B", 100, "")).items
        assert len(whole) == 23
        assert [e.time for e in whole] == sorted((e.time for e in whole), reverse=True)
        seen: list[EventView] = []
        token, tokens = "", set()
        while True:
            page = await store.list_batch_events("B", 5, token)
            assert len(page.items) <= 5
            seen += page.items
            if not page.next_token:
                break
            assert page.next_token not in tokens
            tokens.add(token := page.next_token)
        assert [e.event_id for e in seen] == [e.event_id for e in whole]
        assert len((await store.list_batch_events("B", 1000, "")).items) == 23  # capped at 100

    @pytest.mark.parametrize("token", ["garbage!", "e30", "W10", "x" * 5000])
    async def test_batch_events_reject_bad_tokens(self, store: Store, token: str) -> None:
        with pytest.raises(InvalidTokenError):
            await store.list_batch_events("B", 10, token)

    # ------------------------------------------------------------------ batch_history

    async def test_history_follows_statistic_and_task_rule(self, store: Store) -> None:
        await commit_all(store, [
            imm_batch("B", "running", 0, statistic=(0, 0, 0)),
            imm_task("t1", "running", 1, batch_key="B"),
            imm_task("t1", "succeeded", 2, batch_key="B"),
            imm_task("t2", "running", 2, batch_key="B"),
            imm_task("t2", "failed", 3, batch_key="B", code="E"),
            imm_task("t1", "running", 4, batch_key="B"),  # late: never undoes succeeded
            imm_batch("B", "succeeded", 5, statistic=(1, 1, 0)),
            imm_task("x", "failed", 2, batch_key="other"),
        ])  # fmt: skip
        points = await store.batch_history("B", 100)
        assert [p.time for p in points] == [at(t) for t in range(6)]
        assert [p.task_counts for p in points] == [
            {}, {"running": 1}, {"running": 1, "succeeded": 1}, {"failed": 1, "succeeded": 1},
            {"failed": 1, "succeeded": 1}, {"failed": 1, "succeeded": 1},
        ]  # fmt: skip
        assert [p.events for p in points] == [1, 2, 4, 5, 6, 7]
        stats = [p.statistic and p.statistic.submit_success for p in points]
        assert stats == [0, 0, 0, 0, 0, 1]
        assert await store.batch_history("nope", 100) == []

    async def test_history_is_thinned_to_equal_buckets(self, store: Store) -> None:
        await commit_all(store, [imm_task(f"t{n}", "succeeded", n, batch_key="B")
                                 for n in range(50)])  # fmt: skip
        points = await store.batch_history("B", 5)
        assert len(points) == 5
        assert [p.time for p in points] == [at(9), at(19), at(29), at(39), at(49)]
        assert points[-1].task_counts == {"succeeded": 50} and points[-1].events == 50
        assert len(await store.batch_history("B", 0)) == 2  # at least two buckets

    # ------------------------------------------------------------------ changed_batches

    async def test_changed_batches_since_a_moment(self, store: Store) -> None:
        await store.commit(inbound(imm_batch("a", "running", 1), received=0))
        await store.commit(inbound(imm_batch("b", "running", 2), received=10))
        await store.commit(inbound(imm_batch("c", "running", 3), received=20))
        await store.commit(inbound(imm_task("t", "running", 4, batch_key="a"), received=30))

        async def keys(seconds: float, limit: int = 100) -> list[str]:
            since = RECEIVED + timedelta(seconds=seconds)
            return [b.batch_key for b in await store.changed_batches(since, limit)]

        assert await keys(5) == ["b", "c", "a"]
        assert await keys(10) == ["b", "c", "a"]  # at or after
        assert await keys(5, limit=2) == ["b", "c"]
        assert await keys(31) == []
        [a] = await store.changed_batches(RECEIVED + timedelta(seconds=25), 1)
        assert a.task_counts == {"running": 1}
