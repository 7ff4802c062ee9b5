"""The lease of the SQLite store: one process owns the file, so the timers are always ours."""

from __future__ import annotations


class AlwaysHeld:
    """Implements :class:`~batchrelay.store.contracts.Lease` for a single-process store."""

    async def acquire(self, name: str, holder: str, ttl: float, now: float) -> bool:
        return True

    async def release(self, name: str, holder: str) -> None:
        pass
