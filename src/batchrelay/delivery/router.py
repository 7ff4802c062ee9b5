"""Notification obligations at commit time: the route tree applied to each new event.

The store calls a :class:`Router` on its writer thread, inside the transaction that
journals the event, so an event and the notifications it owes are durable together (or
not at all). Duplicates are never routed: the store calls it only for new events.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime

from batchrelay.delivery.outbox import SECOND, add_obligations
from batchrelay.events.models import EventBase
from batchrelay.routing.tree import RouteTree


class Router:
    def __init__(self, tree: RouteTree, clock: Callable[[], float] = time.time) -> None:
        self.tree = tree
        self.clock = clock

    def __call__(self, conn: sqlite3.Connection, event: EventBase) -> None:
        now = self.clock()
        view = event.normalized()
        matches = self.tree.match(view, datetime.fromtimestamp(now, UTC))
        add_obligations(conn, view, matches, int(now * SECOND))
