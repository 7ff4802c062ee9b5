"""Reload: read the config again and apply it to the running daemon (SIGHUP and
``POST /-/reload``).

What can change live is swapped in by the daemon (``app.Daemon.apply``): receivers and
their templates, routes and time intervals, alert and inhibit rules, the ``delivery``
section, the API's tokens, the log level, ingress verification, and the MNS queue sources.
What cannot (the listener, the store, the batch key, the demo, webhook subscriptions (their
routes and the commit hook are set up at start), the IMM and ICE clients, the log format,
an ingress endpoint turned on or off) keeps its running value and is
reported as needing a restart; the rest still applies. A config that does not load is
refused whole: the running one stays, and the reason is logged at error and returned in
the words ``batchrelay check-config`` uses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from batchrelay.config import Settings
from batchrelay.errors import ConfigError
from batchrelay.http.reload import ReloadOutcome
from batchrelay.metrics import Metrics

log = structlog.get_logger(__name__)

#: Sections the daemon reads once, at start.
RESTART_SECTIONS = ("server", "store", "batch_key", "demo", "subscriptions")
ENDPOINTS = ("mns_push", "eventbridge", "ice")


class Reloadable(Protocol):
    """The running daemon, as a reload sees it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def running(self) -> bool: ...

    async def apply(self, settings: Settings) -> None: ...


def needs_restart(old: Settings, new: Settings) -> list[str]:
    """The settings that differ between ``old`` and ``new`` but only apply at start."""
    changed = [name for name in RESTART_SECTIONS if getattr(old, name) != getattr(new, name)]
    changed += [f"sources.{name}" for name in ("imm_api", "ice_api")
                if getattr(old.sources, name) != getattr(new.sources, name)]  # fmt: skip
    changed += [f"log.{name}" for name in ("format", "summary_interval")
                if getattr(old.log, name) != getattr(new.log, name)]  # fmt: skip
    for name in ENDPOINTS:
        if getattr(old.ingress, name).enabled != getattr(new.ingress, name).enabled:
            changed.append(f"ingress.{name}.enabled")
    if old.alerting != new.alerting:  # the store marks batches for the evaluator, or not
        changed.append("alerts (evaluation turned on or off)")
    return changed


def applicable(old: Settings, new: Settings) -> Settings:
    """``new``, with what only applies at start kept as it runs (see :func:`needs_restart`)."""
    ingress = new.ingress.model_copy(update={
        name: getattr(new.ingress, name).model_copy(
            update={"enabled": getattr(old.ingress, name).enabled})
        for name in ENDPOINTS
    })  # fmt: skip
    sources = new.sources.model_copy(
        update={"imm_api": old.sources.imm_api, "ice_api": old.sources.ice_api}
    )
    logs = new.log.model_copy(
        update={"format": old.log.format, "summary_interval": old.log.summary_interval}
    )
    kept = {name: getattr(old, name) for name in RESTART_SECTIONS}
    return new.model_copy(update={**kept, "ingress": ingress, "sources": sources, "log": logs})


class Reloader:
    """Loads the config with ``load`` and applies it to ``daemon``, one reload at a time."""

    def __init__(
        self,
        daemon: Reloadable,
        load: Callable[[], Settings],
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.daemon, self.load, self.metrics, self.clock = daemon, load, metrics, clock
        self.lock = asyncio.Lock()

    async def __call__(self) -> ReloadOutcome:
        async with self.lock:
            if not self.daemon.running:  # the config is not at fault: the metric stays
                log.warning("config.reload_refused", reason="starting or stopping")
                return ReloadOutcome(errors=["the daemon is starting or stopping"], busy=True)
            try:
                new = await asyncio.to_thread(self.load)  # reads files: off the event loop
            except ConfigError as exc:
                return self._failed(f"configuration error: {exc}")
            old = self.daemon.settings
            waiting = needs_restart(old, new)
            try:
                await self.daemon.apply(applicable(old, new))
            except ConfigError as exc:  # found while building the new parts; none swapped
                return self._failed(f"configuration error: {exc}")
            except Exception as exc:  # a bug, not the file: say so, without its text
                log.exception("config.apply_failed")
                return self._failed(f"could not apply the config: {type(exc).__name__}")
            self.metrics.reload_successful.set(1)
            self.metrics.reload_success_time.set(self.clock())
            log.info("config.reloaded", needs_restart=waiting)
            if waiting:
                log.warning("config.needs_restart", settings=waiting)
            return ReloadOutcome(needs_restart=waiting)

    def _failed(self, message: str) -> ReloadOutcome:
        self.metrics.reload_successful.set(0)
        log.error("config.reload_failed", error=message)
        return ReloadOutcome(errors=[message])
