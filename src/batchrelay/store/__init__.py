"""The store: journal, ledger, quarantine, outbox, alert state and lease, on one backend.

:func:`open` is the one place a backend is chosen, from ``store.url``. Everything that
speaks SQL lives in this package: ``sqlite/`` and ``postgres/`` hold each backend's parts
under the same file names, and the contracts they implement are in ``base.py`` (the
:class:`~batchrelay.store.base.Store`) and ``contracts.py`` (its outbox, alert state and
lease).
"""

from __future__ import annotations

from batchrelay.store.base import GroupCommitHook, Store
from batchrelay.store.config import StoreConfig
from batchrelay.store.contracts import CommitHooks

__all__ = ["CommitHooks", "Store", "StoreConfig", "open"]


def open(
    config: StoreConfig,
    hooks: CommitHooks | None = None,
    on_group_commit: GroupCommitHook | None = None,
) -> Store:
    """The configured store, not yet started, doing ``hooks`` in each commit transaction.
    ``on_group_commit(size, seconds)`` is called after each transaction, for metrics."""
    hooks = hooks or CommitHooks()
    if config.backend == "postgres":
        # imported here: asyncpg loads only when the PostgreSQL store is used
        from batchrelay.store.postgres import store as postgres

        return postgres.PostgresStore(
            config.url,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            timeout=config.connect_timeout,
            max_group=config.max_group,
            queue_size=config.queue_size,
            on_group_commit=on_group_commit,
            on_commit=postgres.commit_hook(hooks),
        )
    from batchrelay.store.sqlite import store as sqlite

    return sqlite.SQLiteStore(
        config.sqlite_path,
        synchronous=config.synchronous,
        max_group=config.max_group,
        queue_size=config.queue_size,
        on_group_commit=on_group_commit,
        on_commit=sqlite.commit_hook(hooks),
    )
