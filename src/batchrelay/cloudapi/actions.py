"""Batch actions: suspend, resume or update an IMM batch for a user, and remember who asked.

The service's rules are checked against the ledger first, and a batch that breaks them is
refused before any call, in the service's own words (IMM: an update is allowed only in
``Ready`` or ``Failed`` and does not resume the batch; ``ResumeBatch`` does; suspending
stops new tasks while submitted ones finish). Then the SDK call is made, the outcome is
recorded in the batch's history (``done``, ``refused`` or ``failed``, with the actor), and
the ledger follows at once: the batch is read back with ``GetBatch`` and the difference is
ingested as a synthesized notification, exactly as the reconciler does. Alerts follow the
new state through their usual lifecycle (a resumed batch's ``failed`` alert resolves).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import structlog

from batchrelay.cloudapi.clients import ImmApi
from batchrelay.cloudapi.reconciler import apply_imm_batch
from batchrelay.errors import ActionRefused, CloudApiError
from batchrelay.metrics import Metrics
from batchrelay.sources.pipeline import Pipeline
from batchrelay.store.base import ActionRecord, BatchView, Store

log = structlog.get_logger(__name__)

Action = Literal["suspend", "resume", "update"]
ACTIONS: tuple[str, ...] = get_args(Action)
MAX_ACTOR = 200

#: The service's rules: the raw states each action is allowed in, and how IMM words a refusal.
ALLOWED: dict[str, frozenset[str]] = {
    "suspend": frozenset({"Ready", "Running"}),
    "resume": frozenset({"Suspended", "Failed"}),
    "update": frozenset({"Ready", "Failed"}),
}
UPDATE_RULE = "You can update a batch processing task only when its status is Ready or Failed."
#: What UpdateBatch accepts, and the JSON type each must have.
CHANGES: dict[str, type] = {"Actions": list, "Input": dict, "Tags": dict}


class UnknownBatch(LookupError):
    """The ledger has no batch by that key."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    batch_key: str
    action: str
    outcome: str  # done
    state: str  # the ledger's state afterwards
    raw_state: str


def refusal(action: str, raw_state: str) -> str:
    if action == "update":
        return UPDATE_RULE
    states = " or ".join(sorted(ALLOWED[action]))
    return (f"You can {action} a batch processing task only when its status is {states}; "
            f"it is {raw_state or 'unknown'}.")  # fmt: skip


def check_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` for UpdateBatch: only Actions, Input, Tags, each of its JSON type."""
    if not changes:
        raise ValueError("update needs at least one of Actions, Input, Tags")
    for name, value in changes.items():
        expected = CHANGES.get(name)
        if expected is None:
            raise ValueError(f"update cannot change {name!r}: only Actions, Input, Tags")
        if not isinstance(value, expected):
            kind = "a list" if expected is list else "an object"
            raise ValueError(f"{name} must be {kind}")
    return dict(changes)


def check_actor(actor: str) -> str:
    actor = actor.strip()
    if not actor or len(actor) > MAX_ACTOR or not actor.isprintable():
        raise ValueError(f"actor must be 1 to {MAX_ACTOR} printable characters")
    return actor


class BatchActions:
    """Runs batch actions against IMM; one instance per daemon (or per CLI command)."""

    def __init__(
        self,
        api: ImmApi,
        pipeline: Pipeline,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api, self.pipeline, self.store, self.metrics, self.clock = (
            api, pipeline, store, metrics, clock)  # fmt: skip

    async def run(
        self, batch_key: str, action: Action, actor: str, changes: Mapping[str, Any] | None = None
    ) -> ActionResult:
        """Do ``action``; raises UnknownBatch, ActionRefused or CloudApiError (recorded)."""
        actor = check_actor(actor)
        update = check_changes(changes or {}) if action == "update" else {}
        view = await self.store.get_batch(batch_key)
        if view is None:
            raise UnknownBatch(batch_key)
        project = self._check_rules(view, action)
        if project is None:
            message = refusal(action, view.raw_state) if view.kind == "batch" and view.project \
                else "Only IMM batches with a known project can be acted on."  # fmt: skip
            await self._record(batch_key, action, actor, "refused", message)
            raise ActionRefused(message)
        try:
            await self._call(action, project, batch_key, update)
        except CloudApiError as exc:
            await self._record(batch_key, action, actor, "failed", f"{exc.code}: {exc.message}")
            raise
        detail = f"changed {', '.join(sorted(update))}: {json.dumps(update)}" if update else ""
        await self._record(batch_key, action, actor, "done", detail[:2000])
        after = await self._follow(project, batch_key)
        return ActionResult(batch_key, action, "done", after.state, after.raw_state)

    def _check_rules(self, view: BatchView, action: str) -> str | None:
        """The batch's project when ``action`` is allowed in its state, else None."""
        if view.kind != "batch" or view.source != "acs.imm" or not view.project:
            return None
        return view.project if view.raw_state in ALLOWED[action] else None

    async def _call(self, action: str, project: str, key: str, changes: dict[str, Any]) -> None:
        if action == "suspend":
            await self.api.suspend(project, key)
        elif action == "resume":
            await self.api.resume(project, key)
        else:
            await self.api.update(project, key, changes)

    async def _follow(self, project: str, key: str) -> BatchView:
        """Bring the ledger to what IMM now says (read the ledger first: see drift.py)."""
        view = await self.store.get_batch(key)
        try:
            batch = await self.api.get_batch(project, key)
        except CloudApiError as exc:  # the action is done; the reconciler will catch up
            log.warning("batch_action.follow_failed", batch_key=key, reason=exc.reason)
        else:
            await apply_imm_batch(self.pipeline, batch, view, kind="batch", project=project,
                                  region=self.api.config.region, now=self.clock())  # fmt: skip
        found = await self.store.get_batch(key)
        if found is None:  # it was there before, and batches are never deleted
            raise UnknownBatch(key)
        return found

    async def _record(self, key: str, action: str, actor: str, outcome: str, detail: str) -> None:
        await self.store.record_action(ActionRecord(key, action, actor, outcome, detail,
                                                    self.clock()))  # fmt: skip
        self.metrics.batch_actions.labels(action=action, outcome=outcome).inc()
        log.info("batch_action." + outcome, batch_key=key, action=action, actor=actor)
