"""Which runtime webhook subscriptions an event (or an alert notice) goes to. Pure.

A subscription is a receiver created over the API rather than in the config. Its
``filter`` is an event pattern over the normalized view (the language of routes, see
``patterns.py``) and ``kinds`` optionally narrows it to some ``kind`` values. Each matched
subscription owes the event one delivery of its own: the outbox receiver is
``sub:<id>`` and the group is the event itself, due at once, so every event keeps one
delivery (and one idempotency id) per subscription.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from batchrelay.routing.patterns import (
    VOCABULARIES,
    Pattern,
    PatternError,
    check_view_keys,
    compile_pattern,
)
from batchrelay.routing.tree import RouteMatch

RECEIVER_PREFIX: Final = "sub:"
ROUTE: Final = "subscription"  # the outbox route of every subscription delivery
KINDS: Final = VOCABULARIES["kind"]


@dataclass(frozen=True, slots=True)
class Target:
    """An enabled subscription as matching needs it: its id, filter (JSON text) and kinds."""

    id: str
    filter: str
    kinds: tuple[str, ...] = ()


def receiver_of(subscription_id: str) -> str:
    return RECEIVER_PREFIX + subscription_id


def subscription_of(receiver: str) -> str | None:
    """The subscription id a receiver name stands for, or None for a configured receiver."""
    return receiver.removeprefix(RECEIVER_PREFIX) if receiver.startswith(RECEIVER_PREFIX) else None


def check_filter(pattern: Any, path: str = "filter") -> Pattern:
    """Validate a subscription filter as routes' ``match`` is validated; PatternError if not."""
    compiled = compile_pattern(pattern, path)
    check_view_keys(pattern, path)
    return compiled


def check_kinds(kinds: Iterable[Any], path: str = "kinds") -> tuple[str, ...]:
    """Known ``kind`` values only: an unknown one would never match."""
    result = []
    for index, kind in enumerate(kinds):
        if not isinstance(kind, str) or kind not in KINDS:
            raise PatternError(f"{path}[{index}]: not a kind ({', '.join(KINDS)})")
        result.append(kind)
    return tuple(result)


@lru_cache(maxsize=1024)
def _compiled(text: str) -> Pattern:
    return compile_pattern(json.loads(text), "filter")


def matches(view: Mapping[str, Any], targets: Sequence[Target]) -> list[RouteMatch]:
    """One immediate, ungrouped obligation per subscription whose filter and kinds hold."""
    found = []
    for target in targets:
        if target.kinds and view.get("kind") not in target.kinds:
            continue
        try:
            pattern = _compiled(target.filter)
        except (ValueError, PatternError):  # checked on create: only a hand-edited row
            continue
        if pattern.matches(view):
            found.append(
                RouteMatch(
                    route=ROUTE,
                    name=None,
                    receiver=receiver_of(target.id),
                    group_key=str(view.get("event_id")),
                    group_labels=(),
                    group_wait=0.0,
                    group_interval=0.0,
                    repeat_interval=0.0,
                    muted=False,
                )
            )
    return found


def event_type(view: Mapping[str, Any]) -> str:
    """The webhook event type: ``{kind}.{status}`` (``batch.failed``, ``task.succeeded``,
    ``alert.firing``, ``digest.finished``); ``ping`` for a test message."""
    return f"{view.get('kind') or 'unknown'}.{view.get('status') or 'unknown'}"
