"""Conformance: a batch's history of actions (who asked to suspend, resume or update it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchrelay.store.base import ActionRecord, InvalidTokenError, Store

from .conformance_support import StoreCase

AT = datetime(2026, 11, 20, 3, 0, 0, 123456, tzinfo=UTC)


def action(batch: str, n: int, outcome: str = "done") -> ActionRecord:
    return ActionRecord(batch, ("suspend", "resume", "update")[n % 3], f"user{n}", outcome,
                        f"detail {n} ✓", AT + timedelta(seconds=n))  # fmt: skip


class ActionConformance(StoreCase):
    async def test_actions_are_kept_newest_first(self, store: Store) -> None:
        ids = [await store.record_action(action("B", n)) for n in range(3)]
        await store.record_action(action("C", 9, "refused"))
        assert len(set(ids)) == 3
        page = await store.list_batch_actions("B", 0, "")
        assert [a.actor for a in page.items] == ["user2", "user1", "user0"]
        newest = page.items[0]
        assert (newest.id, newest.batch_key, newest.action, newest.outcome, newest.detail,
                newest.at) == (ids[2], "B", "update", "done", "detail 2 ✓",
                               AT + timedelta(seconds=2))  # fmt: skip
        assert page.next_token == ""
        assert [a.outcome for a in (await store.list_batch_actions("C", 10, "")).items] == [
            "refused"
        ]
        assert (await store.list_batch_actions("nope", 10, "")).items == []

    async def test_action_pages_cover_everything_once(self, store: Store) -> None:
        for n in range(12):
            await store.record_action(action("B", n))
        seen, token = [], ""
        while True:
            page = await store.list_batch_actions("B", 5, token)
            seen += [a.actor for a in page.items]
            if not page.next_token:
                break
            token = page.next_token
        assert seen == [f"user{n}" for n in reversed(range(12))]

    async def test_actions_survive_a_ledger_rebuild(self, store: Store) -> None:
        await store.record_action(action("B", 1))
        await store.rebuild_ledger()
        assert len((await store.list_batch_actions("B", 10, "")).items) == 1

    @pytest.mark.parametrize("token", ["garbage!", "e30", "x" * 5000])
    async def test_action_pages_reject_bad_tokens(self, store: Store, token: str) -> None:
        with pytest.raises(InvalidTokenError):
            await store.list_batch_actions("B", 10, token)
