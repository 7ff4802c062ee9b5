"""Batch states kept by the SQLite writer between its transactions."""

from __future__ import annotations

import sqlite3

from batchrelay.store.ledger import BatchState

#: Batches the writer keeps decoded; a busy daemon touches far fewer within minutes.
DEFAULT_SIZE = 4096


class BatchCache:
    """Batch states as this connection last committed them, the most recently written last.

    A busy batch then costs neither a read nor a decode per transaction. This holds only
    while no other connection writes (a CLI rebuild, a restore): :meth:`check`, run at the
    start of every transaction under the write lock, empties the cache when another
    connection has committed since (``PRAGMA data_version``); the writer empties it after
    any rollback. At most ``size`` batches are kept.
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._states: dict[str, BatchState] = {}
        self._version: int | None = None

    def check(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if version != self._version:
            self._states.clear()
            self._version = version

    def get(self, batch_key: str) -> BatchState | None:
        return self._states.get(batch_key)

    def put(self, state: BatchState) -> None:
        states = self._states
        states.pop(state.batch_key, None)  # re-inserted last: dicts keep insertion order
        states[state.batch_key] = state
        if len(states) > self._size:
            del states[next(iter(states))]

    def forget(self, batch_key: str) -> None:
        self._states.pop(batch_key, None)

    def clear(self) -> None:
        self._states.clear()
