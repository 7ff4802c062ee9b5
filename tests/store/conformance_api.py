"""Conformance: the read API, quarantine, group commit and the lifecycle."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable
from typing import Any

import pytest

from batchrelay.errors import InputReason, NotReadyError, StoreError
from batchrelay.store.base import (
    BatchQuery,
    CommitOutcome,
    Inbound,
    InvalidTokenError,
    QuarantineRecord,
    Store,
    TaskQuery,
)

from .conformance_support import StoreCase, StoreFactory, all_pages, commit_all, commit_concurrently
from .factories import RECEIVED, imm_batch, imm_task, inbound

COMMITTED, DUPLICATE = CommitOutcome.COMMITTED, CommitOutcome.DUPLICATE


class ApiConformance(StoreCase):
    # ------------------------------------------------------------------ quarantine

    async def test_quarantine_keeps_raw_bytes_and_headers(self, store: Store) -> None:
        raw = b"\xff\xfe not json \x00"
        record = QuarantineRecord(
            ingress="mns-push",
            reason=InputReason.BAD_JSON,
            detail="line 1",
            raw=raw,
            headers={"x-mns-request-id": "r1", "content-type": "text/xml"},
            received_at=RECEIVED,
        )
        first = await store.quarantine(record)
        second = await store.quarantine(record)
        assert second > first
        page = await store.list_quarantine(1, "")
        assert [item.id for item in page.items] == [second]  # newest first
        rest = await store.list_quarantine(1, page.next_token)
        [item] = rest.items
        assert (item.id, item.reason, item.detail, item.ingress) == (
            first, "bad_json", "line 1", "mns-push",
        )  # fmt: skip
        assert base64.b64decode(item.raw_base64) == raw and item.size == len(raw)
        assert item.headers == dict(record.headers)
        assert item.received_at == RECEIVED
        assert rest.next_token == ""
        with pytest.raises(InvalidTokenError):
            await store.list_quarantine(10, "garbage!")

    # ------------------------------------------------------------------ list_batches

    async def _three_batches(self, store: Store) -> None:
        await commit_all(store, [
            imm_batch("a", "running", 10, tags={"team": "legal", "env": "prod"}),
            imm_batch("b", "failed", 20, tags={"team": "media"}, project="media-prod",
                      raw_status="Fail"),
            imm_batch("c", "succeeded", 30, tags={"team": "legal"}),
            imm_task("t1", "running", 100, batch_key="a"),  # a is the newest update
        ])  # fmt: skip

    async def test_list_batches_filters(self, store: Store) -> None:
        await self._three_batches(store)

        async def keys(**query: Any) -> list[str]:
            page = await store.list_batches(BatchQuery(**query))
            return [batch.batch_key for batch in page.items]

        assert await keys() == ["c", "b", "a"]  # CreateTime DESC by default
        assert await keys(state="failed") == ["b"]
        assert await keys(state="FAILED") == await keys(state="fail") == ["b"]  # or raw word
        assert await keys(state="Succeeded") == ["c"]
        assert await keys(tags={"team": "legal"}) == ["c", "a"]
        assert await keys(tags={"team": "legal", "env": None}) == ["a"]
        assert await keys(tags={"env": "dev"}) == []
        assert await keys(project="media-prod") == ["b"]

    async def test_batch_state_counts(self, store: Store) -> None:
        assert await store.batch_state_counts() == {}
        await self._three_batches(store)
        await store.commit(inbound(imm_task("t9", "running", 1, batch_key="d")))
        counts = await store.batch_state_counts()
        assert counts == {"failed": 1, "running": 1, "succeeded": 1, "unknown": 1}

    async def test_list_batches_sort_and_order(self, store: Store) -> None:
        await self._three_batches(store)

        async def keys(sort: Any, order: Any) -> list[str]:
            page = await store.list_batches(BatchQuery(sort=sort, order=order))
            return [batch.batch_key for batch in page.items]

        assert await keys("CreateTime", "ASC") == ["a", "b", "c"]
        assert await keys("UpdateTime", "DESC") == ["a", "c", "b"]
        assert await keys("UpdateTime", "ASC") == ["b", "c", "a"]

    @pytest.mark.parametrize("sort", ["CreateTime", "UpdateTime"])
    @pytest.mark.parametrize("order", ["ASC", "DESC"])
    async def test_list_batches_pages_cover_everything_once(
        self, store: Store, sort: Any, order: Any
    ) -> None:
        # equal create times across batches make the batch_key tie-break matter
        events = [imm_batch(f"b{n:02d}", "running", n // 3, tags={"n": str(n)}) for n in range(23)]
        await commit_all(store, events)
        query = BatchQuery(sort=sort, order=order, max_results=5)
        pages = await all_pages(store.list_batches, query)
        whole = (await store.list_batches(BatchQuery(sort=sort, order=order))).items
        assert [b.batch_key for b in pages] == [b.batch_key for b in whole]
        assert len(whole) == 23

    async def test_list_batches_max_results(self, store: Store) -> None:
        await commit_all(store, [imm_batch(f"b{n:03d}", "running", n) for n in range(105)])
        assert len((await store.list_batches(BatchQuery(max_results=0))).items) == 100
        assert len((await store.list_batches(BatchQuery(max_results=1000))).items) == 100
        page = await store.list_batches(BatchQuery(max_results=100))
        assert page.next_token
        assert len((await store.list_batches(BatchQuery(next_token=page.next_token))).items) == 5

    @pytest.mark.parametrize("token", ["garbage!", "e30", "bm90IGpzb24", "W10", "x" * 5000])
    async def test_list_batches_rejects_bad_tokens(self, store: Store, token: str) -> None:
        await self._three_batches(store)
        with pytest.raises(InvalidTokenError):
            await store.list_batches(BatchQuery(next_token=token))
        with pytest.raises(ValueError):  # what the API maps to 400
            await store.list_tasks(TaskQuery(batch_key="a", next_token=token))

    async def test_a_token_is_bound_to_its_sort_and_order(self, store: Store) -> None:
        await self._three_batches(store)
        page = await store.list_batches(BatchQuery(max_results=1))
        for query in (
            BatchQuery(next_token=page.next_token, order="ASC"),
            BatchQuery(next_token=page.next_token, sort="UpdateTime"),
            BatchQuery(next_token=page.next_token + "!!"),
        ):
            with pytest.raises(InvalidTokenError):
                await store.list_batches(query)

    # ------------------------------------------------------------------ list_tasks

    async def _tasks(self, store: Store) -> None:
        events = [
            imm_task(f"t{n:02d}", "failed" if n % 3 == 0 else "succeeded", n, batch_key="B",
                     object_path=f"oss://in/Contracts/{n:02d}_deal%.docx", code="E")
            for n in range(12)
        ]  # fmt: skip
        events.append(imm_task("other", "succeeded", 50, batch_key="C", object_path="oss://x"))
        await commit_all(store, events)

    async def test_list_tasks_filters_and_searches(self, store: Store) -> None:
        await self._tasks(store)

        async def ids(**query: Any) -> list[str]:
            page = await store.list_tasks(TaskQuery(batch_key="B", **query))
            return [task.task_id for task in page.items]

        everything = await ids()
        assert everything == [f"t{n:02d}" for n in reversed(range(12))]  # newest first
        assert await ids(status="failed") == ["t09", "t06", "t03", "t00"]
        assert await ids(status="Failed") == ["t09", "t06", "t03", "t00"]
        assert await ids(search="contracts/07") == ["t07"]
        assert await ids(search="CONTRACTS/1") == ["t11", "t10"]
        assert await ids(search="t05") == ["t05"]  # the task id matches too
        assert await ids(search="_deal%") == everything  # % and _ are literal
        assert await ids(search="0_deal") == ["t10", "t00"]
        assert await ids(search="%") == everything
        assert await ids(search="x_y") == []
        assert await ids(status="failed", search="06") == ["t06"]

    async def test_list_tasks_of_every_status_page_newest_first(self, store: Store) -> None:
        statuses: list[Any] = ["ready", "running", "succeeded", "failed", "suspended",
                               "finished", "unknown"]  # fmt: skip
        events = [imm_task(f"t{n:02d}", statuses[n % 7], n // 3, batch_key="B",
                           object_path=f"oss://in/abc-bcd-{n:02d}") for n in range(30)]  # fmt: skip
        events.append(imm_task("x", "running", 99, batch_key="C", object_path="oss://abcd"))
        await commit_all(store, events)
        newest = sorted(events[:30], key=lambda e: (e.time, e.task_id), reverse=True)
        for size in (1, 4, 100):
            pages = await all_pages(store.list_tasks, TaskQuery(batch_key="B", max_results=size))
            assert [t.task_id for t in pages] == [e.task_id for e in newest]

        async def found(search: str) -> list[str]:
            page = await store.list_tasks(TaskQuery(batch_key="B", search=search))
            return [task.task_id for task in page.items]

        assert await found("abcd") == []  # every trigram of it is in each path, never together
        assert await found("ABC-BCD-2") == [e.task_id for e in newest if "-2" in e.object_path]

    async def test_list_tasks_pages(self, store: Store) -> None:
        await self._tasks(store)
        query = TaskQuery(batch_key="B", max_results=5)
        pages = await all_pages(store.list_tasks, query)
        assert [t.task_id for t in pages] == [f"t{n:02d}" for n in reversed(range(12))]
        with pytest.raises(InvalidTokenError):
            await store.list_tasks(TaskQuery(batch_key="B", next_token="%%%"))

    # ------------------------------------------------------------------ group commit

    async def test_concurrent_commits_share_transactions(self, make_store: StoreFactory) -> None:
        groups: list[int] = []
        store = await make_store(on_group_commit=lambda size, seconds: groups.append(size))
        events = [imm_task(f"t{n}", "running", n, batch_key="B") for n in range(200)]
        events += events[:20]  # redelivered within the same burst
        outcomes = await commit_concurrently(store, events)
        assert outcomes[:200] == [COMMITTED] * 200
        assert outcomes[200:] == [DUPLICATE] * 20
        assert sum(groups) == len(events)
        assert len(groups) < len(events)
        batch = await store.get_batch("B")
        assert batch is not None
        assert batch.task_counts == {"running": 200}

    async def test_one_bad_item_fails_only_its_caller(self, make_store: StoreFactory) -> None:
        groups: list[int] = []
        store = await make_store(on_group_commit=lambda size, seconds: groups.append(size))
        good = [imm_task(f"t{n}", "running", n, batch_key="B") for n in range(10)]
        bad_event = imm_task("bad", "running", 99, batch_key="B")
        bad = Inbound(event=bad_event, raw=object(), received_at=RECEIVED)  # type: ignore[arg-type]
        calls: list[Awaitable[Any]] = [store.commit(inbound(e)) for e in good[:5]]
        calls += [store.commit(bad), store.commit_many([inbound(e) for e in good[5:]])]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert results[:5] == [COMMITTED] * 5
        assert isinstance(results[5], StoreError)
        assert results[6] == [COMMITTED] * 5
        assert groups == [11]  # all in one transaction
        # nothing of the bad item remains: its event id is still free
        assert await store.commit(inbound(bad_event)) == COMMITTED
        batch = await store.get_batch("B")
        assert batch is not None
        assert (batch.events, batch.task_counts) == (11, {"running": 11})

    async def test_commit_many_is_all_or_nothing(self, store: Store) -> None:
        good = imm_task("t1", "running", 1, batch_key="B")
        bad = Inbound(event=imm_task("t2", "running", 2), raw=object(), received_at=RECEIVED)  # type: ignore[arg-type]
        with pytest.raises(StoreError):
            await store.commit_many([inbound(good), bad])
        assert await store.get_batch("B") is None
        assert await store.commit(inbound(good)) == COMMITTED

    # ------------------------------------------------------------------ lifecycle

    async def test_close_finishes_queued_commits(self, make_store: StoreFactory) -> None:
        store = await make_store("drain")
        events = [imm_task(f"t{n}", "running", n, batch_key="B") for n in range(50)]
        pending = [asyncio.ensure_future(store.commit(inbound(e))) for e in events]
        await asyncio.sleep(0)  # every commit is queued
        await store.close()
        assert [p.result() for p in pending] == [COMMITTED] * 50
        with pytest.raises(NotReadyError):
            await store.commit(inbound(imm_task("late", "running", 1)))
        with pytest.raises(NotReadyError):
            await store.quarantine(
                QuarantineRecord("replay", InputReason.EMPTY, "", b"", {}, RECEIVED)
            )
        with pytest.raises(StoreError):
            await store.ping()
        reopened = await make_store("drain")
        batch = await reopened.get_batch("B")
        assert batch is not None
        assert batch.task_counts == {"running": 50}

    async def test_ping(self, store: Store) -> None:
        await store.ping()
