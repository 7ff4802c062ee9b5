"""Notification obligations at commit time: the route tree applied to each new event.

The store calls a :class:`Router` on its writer thread, inside the transaction that
journals the event, so an event and the notifications it owes are durable together (or
not at all). Duplicates are never routed: the store calls it only for new events. The
SQLite store calls the router itself; the PostgreSQL store awaits :meth:`Router.on_postgres`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from batchrelay.delivery.outbox import SECOND, add_obligations
from batchrelay.events.models import EventBase
from batchrelay.routing.tree import RouteMatch, RouteTree


class Router:
    """``dropped`` is told the receiver of each match discarded (a null receiver)."""

    def __init__(
        self,
        tree: RouteTree,
        clock: Callable[[], float] = time.time,
        dropped: Callable[[str], None] | None = None,
    ) -> None:
        self.tree = tree
        self.clock = clock
        self.dropped = dropped

    def __call__(self, conn: sqlite3.Connection, event: EventBase) -> None:
        """The SQLite store's commit hook."""
        add_obligations(conn, *self._route(event))

    async def on_postgres(self, conn: Any, event: EventBase) -> None:
        """The PostgreSQL store's commit hook (``conn`` is its ``asyncpg.Connection``)."""
        # imported here: asyncpg loads only when the PostgreSQL store is used
        from batchrelay.store import postgres_outbox

        await postgres_outbox.add_obligations(conn, *self._route(event))

    def _route(self, event: EventBase) -> tuple[dict[str, Any], list[RouteMatch], int]:
        now = self.clock()
        view = event.normalized()
        matches, discarded = self.tree.split(
            self.tree.match(view, datetime.fromtimestamp(now, UTC))
        )
        if self.dropped is not None:
            for match in discarded:
                self.dropped(match.receiver)
        return view, matches, int(now * SECOND)
