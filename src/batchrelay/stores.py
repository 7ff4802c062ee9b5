"""The store ``store.url`` names, and what runs inside its commit transactions.

``sqlite:///path`` opens the embedded SQLite store (one process); ``postgresql://...``
the PostgreSQL store that several replicas share. Both run the same commit hooks inside
the transaction of each new event: the route tree's notification obligations and the
alert evaluator's dirty mark, each in the store's own dialect.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.alerts.state_sqlite import mark_dirty as sqlite_mark_dirty
from batchrelay.config import Settings
from batchrelay.coordination import AlwaysHeld, Lease
from batchrelay.delivery.router import Router
from batchrelay.events.models import Event
from batchrelay.metrics import Metrics
from batchrelay.routing.tree import RouteTree
from batchrelay.store.postgres import PostgresStore
from batchrelay.store.postgres_alerts import mark_dirty as postgres_mark_dirty
from batchrelay.store.postgres_lease import PostgresLease
from batchrelay.store.postgres_writes import PostgresCommitHook
from batchrelay.store.sqlite import CommitHook, SQLiteStore

AnyStore = SQLiteStore | PostgresStore


def alerting(settings: Settings) -> bool:
    """Whether anything needs the alert evaluator: rules, or a digest that goes somewhere."""
    digest = settings.alerts.digest
    routed = settings.routing is not None or digest.receiver is not None
    return bool(settings.alerts.rules) or (digest.enabled and routed)


def open_store(
    settings: Settings, registry: Metrics | None = None, tree: RouteTree | None = None
) -> AnyStore:
    """The configured store, not yet started, with the commit hooks ``settings`` call for:
    the route tree's obligations when ``tree`` is given, dirty marks when alerting."""
    cfg = settings.store
    on_group_commit = registry.observe_group_commit if registry else None
    dropped = registry.count_dropped if registry else None
    router = Router(tree, dropped=dropped) if tree is not None else None
    marks = alerting(settings)
    if cfg.backend == "postgres":
        return PostgresStore(
            cfg.url,
            min_size=cfg.pool_min_size,
            max_size=cfg.pool_max_size,
            timeout=cfg.connect_timeout,
            max_group=cfg.max_group,
            queue_size=cfg.queue_size,
            on_group_commit=on_group_commit,
            on_commit=_postgres_hooks(router, marks),
        )
    return SQLiteStore(
        cfg.sqlite_path,
        synchronous=cfg.synchronous,
        max_group=cfg.max_group,
        queue_size=cfg.queue_size,
        on_group_commit=on_group_commit,
        on_commit=_sqlite_hooks(router, marks),
    )


def _sqlite_hooks(router: Router | None, marks: bool) -> CommitHook | None:
    hooks: Sequence[CommitHook] = [h for h in (router, sqlite_mark_dirty if marks else None) if h]
    if len(hooks) <= 1:
        return hooks[0] if hooks else None

    def both(conn: sqlite3.Connection, event: Event) -> None:
        for hook in hooks:
            hook(conn, event)

    return both


def _postgres_hooks(router: Router | None, marks: bool) -> PostgresCommitHook | None:
    if router is None and not marks:
        return None

    async def hooks(conn: asyncpg.Connection, event: Event) -> None:
        if router is not None:
            await router.on_postgres(conn, event)
        if marks:
            await postgres_mark_dirty(conn, event)

    return hooks


def lease_for(store: AnyStore) -> Lease:
    """Who runs the timers: the lease row of a shared store; always us on SQLite."""
    return PostgresLease(store) if isinstance(store, PostgresStore) else AlwaysHeld()
