"""Notification obligations: the route tree applied to one new event, as data.

The store computes them inside the transaction that journals the event and writes them to
its outbox there, so an event and the notifications it owes are durable together (or not
at all). Duplicates are never routed: the store asks only for new events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batchrelay.events.models import EventBase
from batchrelay.routing.tree import RouteMatch, RouteTree


@dataclass(frozen=True, slots=True)
class Obligations:
    """What one event owes: its normalized view, the routes it matched, and when (epoch
    seconds) it was routed, which starts its groups' timers."""

    view: dict[str, Any]
    matches: Sequence[RouteMatch]
    at: float


class Router:
    """``dropped`` is told the receiver of each match discarded (a null receiver).

    ``tree`` may be replaced while commits run (a config reload): each event is routed
    whole by the tree in place when its commit reaches the hook. None routes nowhere."""

    def __init__(
        self,
        tree: RouteTree | None,
        clock: Callable[[], float] = time.time,
        dropped: Callable[[str], None] | None = None,
    ) -> None:
        self.tree = tree
        self.clock = clock
        self.dropped = dropped

    def __call__(self, event: EventBase) -> Obligations | None:
        """The event's obligations; None while no tree is configured (nothing is routed,
        and no view is made for it: subscriptions make their own when they match)."""
        now, tree = self.clock(), self.tree
        if tree is None:
            return None
        view = event.normalized()
        matches, discarded = tree.split(tree.match(view, datetime.fromtimestamp(now, UTC)))
        if self.dropped is not None:
            for match in discarded:
                self.dropped(match.receiver)
        return Obligations(view, matches, now)
