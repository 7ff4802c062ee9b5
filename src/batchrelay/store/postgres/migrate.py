"""Versioned schema migrations for the PostgreSQL store.

Files named ``NNNN_name.sql`` in ``store/postgres/migrations/`` are applied in version order, all
in one transaction together with their rows in ``schema_migrations``. The transaction
first takes a transaction-scoped advisory lock, so replicas starting at the same time
queue up: the first applies what is missing, the others then find nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.resources import files

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from batchrelay.errors import StoreError
from batchrelay.store.migrations import Migration, load_migrations

#: The advisory lock (bigint key space) that serializes migrations across replicas.
MIGRATION_LOCK = 0x6272_6D69_6772  # "brmigr"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)"""


def bundled_migrations() -> list[Migration]:
    return load_migrations(files("batchrelay.store.postgres").joinpath("migrations"))


async def apply_migrations(conn: asyncpg.Connection, migrations: Sequence[Migration]) -> list[int]:
    """Apply what is missing; returns the versions applied now (none if another replica
    got there first)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch("SELECT version FROM schema_migrations")
        done = {row["version"] for row in rows}
        applied = []
        for migration in migrations:
            if migration.version not in done:
                await _apply_one(conn, migration)
                applied.append(migration.version)
        return applied


async def _apply_one(conn: asyncpg.Connection, migration: Migration) -> None:
    try:
        # no arguments: the simple query protocol runs the whole script
        await conn.execute(migration.sql)
    except asyncpg.PostgresError as exc:
        raise StoreError(f"migration {migration.version:04d}_{migration.name} failed") from exc
    await conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        migration.version,
        migration.name,
        datetime.now(UTC),
    )
