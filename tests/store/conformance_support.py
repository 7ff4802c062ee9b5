"""Shared pieces of the Store conformance suite (see ``conformance.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import pytest

from batchrelay import store
from batchrelay.delivery.hold import Check, plan
from batchrelay.events.models import Event
from batchrelay.routing.obligations import Obligations, Router
from batchrelay.store.base import CommitOutcome, GroupCommitHook, Store
from batchrelay.store.contracts import Outbox

from .factories import inbound


@dataclass(frozen=True)
class CommitHooks:
    """What a store does for each new event in its commit, said once for every store: route
    it (``Router``), mark its batch dirty for the alert evaluator, and fail for the event
    ids in ``fail_for`` (routing raises, as a broken route tree would)."""

    router: Router | None = None
    dirty: bool = False
    fail_for: frozenset[str] = frozenset()
    subscriptions: bool = False

    def for_store(self) -> store.CommitHooks:
        """These hooks as every store takes them."""
        route = self.route if self.fail_for else self.router
        return store.CommitHooks(route=route, mark_dirty=self.dirty,
                                 subscriptions=self.subscriptions)  # fmt: skip

    def route(self, event: Event) -> Obligations:
        if event.event_id in self.fail_for:
            raise RuntimeError(f"the commit hook fails for {event.event_id}")
        if self.router is not None:
            return self.router(event)
        return Obligations(event.normalized(), [], 0.0)


class StoreFactory(Protocol):
    async def __call__(
        self,
        name: str = "main",
        *,
        on_group_commit: GroupCommitHook | None = None,
        hooks: CommitHooks | None = None,
    ) -> Store: ...


async def commit_all(store: Store, events: Sequence[Event]) -> list[CommitOutcome]:
    return [await store.commit(inbound(event)) for event in events]


async def commit_concurrently(store: Store, events: Sequence[Event]) -> list[CommitOutcome]:
    return list(await asyncio.gather(*(store.commit(inbound(e)) for e in events)))


async def all_pages(fetch: Any, query: Any) -> list[Any]:
    """Follow next_token to the end, guarding against a token that never ends."""
    items, seen_tokens = [], set()
    while True:
        page = await fetch(query)
        items += page.items
        if not page.next_token:
            return items
        assert page.next_token not in seen_tokens
        seen_tokens.add(page.next_token)
        query = _with_token(query, page.next_token)


def _with_token(query: Any, token: str) -> Any:
    return replace(query, next_token=token)


class StoreCase:
    """Gives each test a started store from the implementation's ``make_store`` fixture."""

    @pytest.fixture
    async def store(self, make_store: StoreFactory) -> Store:
        return await make_store()


def never_muted(receiver: str, route: str) -> bool:
    return False


async def flush_due(
    outbox: Outbox,
    now: int,
    max_events: Callable[[str], int] = lambda receiver: 100,
    muted: Callable[[str, str], bool] = never_muted,
    check: Check | None = None,
) -> int:
    """Flush every due group as the dispatcher does: read them, decide, write."""
    groups = await outbox.due_groups(now)
    return await outbox.flush(plan(groups, muted, check, max_events), now)
