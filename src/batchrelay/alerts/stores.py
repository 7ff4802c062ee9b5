"""The alert state that lives in a store, for any store: see ``alerts/state.py``."""

from __future__ import annotations

from typing import Any

from batchrelay.alerts.state import AlertStore
from batchrelay.alerts.state_sqlite import SQLiteAlertStore
from batchrelay.store.sqlite import SQLiteStore


def alert_store_for(store: Any) -> AlertStore:
    """The :class:`AlertStore` on ``store``'s tables."""
    if isinstance(store, SQLiteStore):
        return SQLiteAlertStore(store)
    # imported here: the PostgreSQL modules (and asyncpg) load only when that store is used
    from batchrelay.store.postgres import PostgresStore
    from batchrelay.store.postgres_alerts import PostgresAlertStore

    if isinstance(store, PostgresStore):
        return PostgresAlertStore(store)
    raise TypeError(f"no alert store for a {type(store).__name__}")
