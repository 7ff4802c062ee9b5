"""Stage one of delivery: hold and mute, decided in the event loop and flushed as data.

Each tick :class:`Hold` reads the due notification groups with their pending events,
decides for every event whether it is sent (``pending``) or only recorded (``muted``: its
route's mute intervals hold now; ``silenced``; ``inhibited``), cuts each group into
deliveries of at most the receiver's ``max_events`` and hands the decisions to the outbox,
which writes them. Nothing here runs on the store's writer.

For silences and inhibition :class:`NotificationHold` gives a check over pending events'
views. A silence that matches the event's labels (``routing.silences.event_labels``:
``alertname`` ``task_failed`` and so on) holds it back as ``silenced``; a firing alert that
inhibits it, as ``inhibited``. Alert notices and digests pass: the evaluator has decided
about them already. With no silence and no firing alert there is no check at all, so the
common case costs one small read per tick.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from batchrelay.notifiers.config import ChannelConfig
from batchrelay.routing.inhibit import InhibitRule, inhibited
from batchrelay.routing.silences import event_labels, silenced_by
from batchrelay.routing.subscriptions import subscription_of
from batchrelay.routing.tree import RouteTree
from batchrelay.store.contracts import (
    SECOND,
    AlertStore,
    DueGroup,
    GroupFlush,
    NewDelivery,
    Outbox,
    Pending,
)

#: Names why a pending event (its view) must not be sent — ``silenced``, ``inhibited`` —
#: or returns None.
Check = Callable[[dict[str, Any]], str | None]
#: Whether a receiver's route is muted right now.
Muted = Callable[[str, str], bool]


class NotificationHold:
    """Silences and inhibition applied to per-event notifications, when their group flushes."""

    def __init__(self, alerts: AlertStore, inhibit_rules: Sequence[InhibitRule]) -> None:
        self.alerts = alerts
        self.inhibit_rules = list(inhibit_rules)

    async def __call__(self, now: int) -> Check | None:
        at = datetime.fromtimestamp(now / SECOND, UTC)
        silences = [s for s in await self.alerts.silences(ended_after=at) if s.active(at)]
        firing = (
            [a.labels for a in await self.alerts.alerts("firing")] if self.inhibit_rules else []
        )
        if not silences and not firing:
            return None

        def check(view: dict[str, Any]) -> str | None:
            if view.get("kind") in ("alert", "digest"):
                return None
            labels = event_labels(view)
            if silenced_by(labels, silences, at):
                return "silenced"
            if firing and inhibited(labels, firing, self.inhibit_rules):
                return "inhibited"
            return None

        return check


class Hold:
    """Stage one: every due group decided and flushed; returns the deliveries made."""

    def __init__(
        self,
        outbox: Outbox,
        tree: RouteTree | None,
        receivers: Mapping[str, ChannelConfig],
        holds: Callable[[int], Awaitable[Check | None]] | None = None,
    ) -> None:
        self.outbox, self.tree, self.receivers, self.holds = outbox, tree, receivers, holds

    async def __call__(self, now: float) -> int:
        us = int(now * SECOND)
        groups = await self.outbox.due_groups(us)
        if not groups:
            return 0
        check = await self.holds(us) if self.holds is not None else None
        at = datetime.fromtimestamp(now, UTC)
        flushes = plan(groups, lambda r, route: self._muted(route, at), check, self.max_events)
        return await self.outbox.flush(flushes, us)

    def max_events(self, receiver: str) -> int:
        if subscription_of(receiver):
            return 1  # a subscription is sent one event per message
        config = self.receivers.get(receiver)
        return config.max_events if config else 100

    def _muted(self, route: str, at: datetime) -> bool:
        if self.tree is None:
            return False
        node = self.tree.node(route)
        return node is not None and node.muted(at)


def plan(
    groups: Sequence[DueGroup], muted: Muted, check: Check | None, max_events: Callable[[str], int]
) -> list[GroupFlush]:
    """The deliveries to make of each due group: its events in order, those ``check`` holds
    back apart in their state, the rest ``pending`` (``muted`` when the route is), at most
    ``max_events`` events each."""
    flushes: list[GroupFlush] = []
    for group in groups:
        state = "muted" if muted(group.receiver, group.route) else "pending"
        # silences and inhibitions quiet people, not the systems that subscribed
        held = None if subscription_of(group.receiver) else check
        chunks = _chunks(group.events, state, held, max_events(group.receiver))
        flushes.append(GroupFlush(group, [NewDelivery(held, part) for held, part in chunks]))
    return flushes


def _chunks(
    events: Sequence[Pending], state: str, check: Check | None, size: int
) -> Iterator[tuple[str, list[Pending]]]:
    by_state: dict[str, list[Pending]] = {}
    for event in events:
        held = check(event.view) if check is not None else None
        by_state.setdefault(held or state, []).append(event)
    for held_state, pending in by_state.items():
        for start in range(0, len(pending), size):
            yield held_state, pending[start : start + size]
