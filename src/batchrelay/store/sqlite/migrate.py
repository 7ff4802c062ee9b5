"""Versioned schema migrations for the SQLite store.

Files named ``NNNN_name.sql`` in ``store/sqlite/migrations/`` are applied in version order, each in
its own ``BEGIN IMMEDIATE`` transaction together with its row in ``schema_migrations``, so
a crash mid-migration leaves the previous version intact and a restart resumes cleanly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib.resources import files

from batchrelay.errors import StoreError
from batchrelay.store.migrations import Migration, load_migrations

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


def bundled_migrations() -> list[Migration]:
    return load_migrations(files("batchrelay.store.sqlite").joinpath("migrations"))


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[int]:
    """Apply what is missing; returns the versions applied now. ``conn`` is in autocommit."""
    conn.execute(_CREATE_TABLE)
    return [m.version for m in migrations if _apply_one(conn, m)]


def _apply_one(conn: sqlite3.Connection, migration: Migration) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # checked inside the write lock: another process may have migrated meanwhile
        if _is_applied(conn, migration.version):
            conn.execute("ROLLBACK")
            return False
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, datetime.now(UTC).isoformat()),
        )
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise StoreError(f"migration {migration.version:04d}_{migration.name} failed") from exc
    return True


def _is_applied(conn: sqlite3.Connection, version: int) -> bool:
    row = conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,))
    return row.fetchone() is not None


def split_statements(script: str) -> Iterator[str]:
    """Complete SQL statements in ``script``.

    ``executescript`` would commit our transaction before running, so statements are run
    one by one; ``sqlite3.complete_statement`` keeps semicolons inside strings, comments
    and trigger bodies where they belong.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            pending = ""
            if _has_code(statement):
                yield statement
    if _has_code(pending):
        raise StoreError("migration ends with an incomplete statement")


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())
