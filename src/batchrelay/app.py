"""Wire settings into a running daemon and own its lifecycle.

Start: open the store (migrations), start the certificate caches, the optional demo
(emulator + simulator) and the MNS queue pollers, then open the gate. Stop (SIGTERM or
SIGINT, handled by ``web.run_app``): close the gate so pushes get 503 and stop the pollers
(batches in hand are committed and deleted, or left to become visible again), let
in-flight requests finish within ``server.drain_timeout``, then close the store, which
commits everything already queued. Exit status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from batchrelay import log as logconf
from batchrelay import store as stores
from batchrelay.alerts.evaluator import AlertEvaluator
from batchrelay.briefing import Console, Summary, banner_fields
from batchrelay.cloudapi import reconciler as reconcile
from batchrelay.cloudapi.actions import BatchActions
from batchrelay.cloudapi.clients import IceApi, ImmApi
from batchrelay.config import Settings
from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.delivery.hold import NotificationHold
from batchrelay.demo.run import running_demo
from batchrelay.http.ingest import Gate
from batchrelay.http.limits import BodyLimits
from batchrelay.http.listener import serve
from batchrelay.http.routes import Surface, create_app
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import Notifier
from batchrelay.notifiers.config import AlertmanagerConfig
from batchrelay.notifiers.registry import build_notifier
from batchrelay.routing.obligations import Router
from batchrelay.routing.tree import RouteTree
from batchrelay.sources.mns_queue import MnsQueueSource
from batchrelay.sources.pipeline import Pipeline
from batchrelay.sources.verifiers import Verifiers, endpoints
from batchrelay.store import Store
from batchrelay.store.contracts import AlertStore
from batchrelay.store.coordination import LeaseKeeper
from batchrelay.store.retention import Pruner

log = structlog.get_logger(__name__)


def route_tree(settings: Settings) -> RouteTree | None:
    if settings.routing is None:
        return None
    nowhere = [name for name, cfg in settings.receivers.items() if cfg.type == "null"]
    return RouteTree(settings.routing, discard=nowhere)


@contextlib.asynccontextmanager
async def running_receivers(settings: Settings) -> AsyncIterator[dict[str, Notifier]]:
    """The configured receivers, sharing one HTTP session, closed when the block ends."""
    async with aiohttp.ClientSession() as session:
        notifiers = {name: build_notifier(name, cfg, session)
                     for name, cfg in settings.receivers.items()}  # fmt: skip
        try:
            yield notifiers
        finally:
            for notifier in notifiers.values():
                await notifier.close()


@contextlib.asynccontextmanager
async def running_task(
    name: str, run: Coroutine[Any, Any, None], stop: Callable[[], None]
) -> AsyncIterator[None]:
    task = asyncio.create_task(run, name=name)
    try:
        yield
    finally:
        stop()
        await asyncio.gather(task, return_exceptions=True)


def open_store(settings: Settings, registry: Metrics, tree: RouteTree | None) -> Store:
    """The configured store, not yet started: its commits write the route tree's
    obligations, and mark batches for the alert evaluator when alerting."""
    router = Router(tree, dropped=registry.count_dropped) if tree is not None else None
    hooks = stores.CommitHooks(route=router, mark_dirty=settings.alerting)
    return stores.open(settings.store, hooks, on_group_commit=registry.observe_group_commit)


def dispatcher_for(
    settings: Settings,
    store: Store,
    tree: RouteTree | None,
    notifiers: dict[str, Notifier],
    registry: Metrics,
    active: Callable[[], bool],
) -> Dispatcher:
    hold = NotificationHold(store.alerts, settings.alerts.inhibitors)
    return Dispatcher(store, tree, settings.receivers, notifiers, registry,
                      config=settings.delivery, hold=hold, active=active,
                      public_url=settings.server.public_url)  # fmt: skip


def evaluator_for(
    settings: Settings,
    alert_store: AlertStore,
    tree: RouteTree | None,
    notifiers: dict[str, Notifier],
    registry: Metrics,
    active: Callable[[], bool],
) -> AlertEvaluator:
    alertmanagers = {n: c for n, c in settings.receivers.items()
                     if isinstance(c, AlertmanagerConfig) and n in notifiers}  # fmt: skip
    return AlertEvaluator(alert_store, settings.alerts, tree, registry,
                          alertmanagers=alertmanagers, active=active)  # fmt: skip


def cloud_apis(settings: Settings) -> tuple[ImmApi | None, IceApi | None]:
    """The IMM and ICE clients the config asks for (building one makes no call)."""
    imm, ice = settings.sources.imm_api, settings.sources.ice_api
    return (ImmApi(imm) if imm else None), (IceApi(ice) if ice else None)


@dataclasses.dataclass
class Daemon:
    """The parts of one daemon, built from settings and not yet started."""

    settings: Settings
    console: Console | None
    registry: Metrics
    tree: RouteTree | None
    store: Store
    coordinator: LeaseKeeper
    gate: Gate
    pipeline: Pipeline
    verifiers: Verifiers
    sources: list[MnsQueueSource]
    imm_api: ImmApi | None
    ice_api: IceApi | None

    def active(self) -> bool:
        """Whether this replica runs the timers now (it holds the coordinator lease)."""
        return self.coordinator.held

    def surface(self) -> Surface:
        """What the HTTP routes serve."""
        settings, server = self.settings, self.settings.server
        actions = (BatchActions(self.imm_api, self.pipeline, self.store, self.registry)
                   if self.imm_api else None)  # fmt: skip
        return Surface(
            store=self.store, registry=self.registry, gate=self.gate,
            body=BodyLimits(server.max_body_bytes, server.body_timeout), access=settings.api,
            inhibit_rules=settings.alerts.inhibitors, sources=list(self.sources),
            actions=actions, pipeline=self.pipeline,
            endpoints=endpoints(settings.ingress, self.verifiers),
        )  # fmt: skip

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Start everything on ``stack`` (so it stops in reverse order), then open the gate."""
        settings = self.settings
        await self.store.start()
        stack.push_async_callback(self.store.close)
        await self.verifiers.start()
        stack.push_async_callback(self.verifiers.close)
        if settings.demo.enabled:
            push_url = f"http://127.0.0.1:{settings.server.port}/ingest/mns"
            await stack.enter_async_context(running_demo(settings.demo, push_url))
        await self.coordinator.renew()  # before the timers' first tick, if it can be had
        stack.push_async_callback(self.coordinator.release)  # after its task has ended
        await stack.enter_async_context(
            running_task("lease", self.coordinator.run(), self.coordinator.stop)
        )
        await self._start_timers(stack)
        for source in self.sources:
            await source.start()
        self.gate.open = True
        log.info("daemon.started", host=settings.server.host, port=settings.server.port)
        if self.console is not None:
            log.info("daemon.banner", **banner_fields(settings, self.console.config_path))
            summary = Summary(self.registry, self.console.summary_interval)
            await stack.enter_async_context(running_task("summary", summary.run(), summary.stop))

    async def _start_timers(self, stack: contextlib.AsyncExitStack) -> None:
        """The work the lease holder runs: delivery, alert evaluation, reconciliation,
        retention."""
        settings, registry, active = self.settings, self.registry, self.active
        notifiers = await stack.enter_async_context(running_receivers(settings))
        runs: list[tuple[str, Coroutine[Any, Any, None], Callable[[], None]]] = []
        if notifiers:
            dispatcher = dispatcher_for(settings, self.store, self.tree, notifiers, registry,
                                        active)  # fmt: skip
            runs.append(("dispatcher", dispatcher.run(), dispatcher.stop))
        if settings.alerting:
            evaluator = evaluator_for(settings, self.store.alerts, self.tree, notifiers,
                                      registry, active)  # fmt: skip
            runs.append(("alerts", evaluator.run(), evaluator.stop))
        for timer in reconcile.timers(self.imm_api, self.ice_api, self.pipeline, self.store,
                                      registry, active):  # fmt: skip
            runs.append((f"reconcile-{timer.service}", timer.run(), timer.stop))
        pruner = Pruner(self.store.retention, settings.retention, active,
                        registry.count_pruned, registry.set_store_sizes)  # fmt: skip
        runs.append(("retention", pruner.run(), pruner.stop))
        for name, run, stop in runs:
            await stack.enter_async_context(running_task(name, run, stop))

    async def stop_taking_input(self) -> None:
        self.gate.open = False
        log.info("daemon.draining")
        for source in self.sources:
            await source.stop(grace=self.settings.server.drain_timeout)


def daemon(settings: Settings, console: Console | None = None) -> Daemon:
    """Every part of the daemon ``settings`` describe, wired together, not yet started."""
    registry = Metrics()
    tree = route_tree(settings)
    store = open_store(settings, registry, tree)
    coordinator = LeaseKeeper(store.lease, settings.store.lease,
                              on_change=registry.coordinator.set)  # fmt: skip
    pipeline = Pipeline(store, registry, settings.batch_key,
                        max_events=settings.server.max_events_per_body,
                        max_decoded=settings.server.max_body_bytes)  # fmt: skip
    sources = [MnsQueueSource(q, pipeline, registry) for q in settings.sources.mns_queues]
    imm_api, ice_api = cloud_apis(settings)
    return Daemon(settings, console, registry, tree, store, coordinator, Gate(), pipeline,
                  Verifiers(settings.ingress), sources, imm_api, ice_api)  # fmt: skip


def build(settings: Settings, console: Console | None = None) -> web.Application:
    """The whole daemon as one aiohttp application (also used by tests). With ``console``
    it also greets the person at the terminal and sums up now and then (briefing.py)."""
    parts = daemon(settings, console)
    app = create_app(parts.surface())

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await parts.start(stack)
            yield
        log.info("daemon.stopped")

    async def stop_taking_input(_: web.Application) -> None:
        await parts.stop_taking_input()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(stop_taking_input)
    return app


def tune_runtime() -> None:
    """Interpreter settings for a long-running ingest daemon, measured with bench/ingest.py.

    Objects built at start-up live as long as the process: freezing them keeps every later
    collection from walking them again. Per-request garbage is almost all freed by
    reference counting, so young collections can run far less often. A shorter switch
    interval hands the GIL to the SQLite writer thread sooner after its I/O, which keeps
    group commits flowing while the event loop is busy.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    sys.setswitchinterval(0.001)


def run(settings: Settings, config_path: str | None = None) -> None:
    on_terminal = logconf.configure(settings.log.level, settings.log.format)
    console = Console(config_path, settings.log.summary_interval) if on_terminal else None
    app = build(settings, console)
    tune_runtime()
    server = settings.server
    asyncio.run(serve(app, server.host, server.port, server, server.drain_timeout))
