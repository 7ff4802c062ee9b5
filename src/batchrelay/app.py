"""Wire settings into a running daemon and own its lifecycle.

Start: open the store (migrations), start the certificate caches, the optional demo
(emulator + simulator) and the MNS queue pollers, then open the gate. Stop (SIGTERM or
SIGINT, handled by ``http/listener.serve``): close the gate so pushes get 503 and stop the
pollers (batches in hand are committed and deleted, or left to become visible again), let
in-flight requests finish within ``server.drain_timeout``, then close the store, which
commits everything already queued; all of it within ``server.stop_timeout``. Exit status 0.
Reload (SIGHUP, ``POST /-/reload``): ``reload.py`` decides, :meth:`Daemon.apply` swaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

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
from batchrelay.config import load as load_config
from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.delivery.hold import NotificationHold
from batchrelay.demo.run import running_demo
from batchrelay.http import reload as reload_routes
from batchrelay.http.ingest import Gate
from batchrelay.http.limits import BodyLimits
from batchrelay.http.listener import serve
from batchrelay.http.reload import Reload
from batchrelay.http.routes import Surface, create_app
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import Notifier
from batchrelay.notifiers.config import AlertmanagerConfig
from batchrelay.notifiers.http import receiver_session
from batchrelay.notifiers.registry import build_notifier
from batchrelay.reload import Reloader
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
    """The configured receivers, each with its own HTTP connection pool, closed when the
    block ends."""
    async with contextlib.AsyncExitStack() as sessions:
        notifiers: dict[str, Notifier] = {}
        for name, cfg in settings.receivers.items():
            pool = receiver_session(settings.delivery.max_in_flight)
            session = await sessions.enter_async_context(pool)
            notifiers[name] = build_notifier(name, cfg, session)
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


def open_store(settings: Settings, registry: Metrics, router: Router) -> Store:
    """The configured store, not yet started: its commits write the obligations of the
    router's tree (replaced on reload) and what enabled subscriptions are owed, and mark
    batches for the alert evaluator when alerting."""
    hooks = stores.CommitHooks(
        route=router, mark_dirty=settings.alerting, subscriptions=settings.subscriptions.enabled
    )
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
                      public_url=settings.server.public_url,
                      subscriptions=settings.subscriptions)  # fmt: skip


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
    sources: list[MnsQueueSource]  # the list /readyz watches: changed in place on reload
    imm_api: ImmApi | None
    ice_api: IceApi | None
    router: Router
    timers: contextlib.AsyncExitStack = dataclasses.field(default_factory=contextlib.AsyncExitStack)
    app: web.Application | None = None  # the routes, once built: a reload swaps what they read

    @property
    def running(self) -> bool:
        """Started and not draining: a reload may apply."""
        return self.gate.open

    def active(self) -> bool:
        """Whether this replica runs the timers now (it holds the coordinator lease)."""
        return self.coordinator.held

    def surface(self, reload: Reload | None = None) -> Surface:
        """What the HTTP routes serve."""
        settings, server = self.settings, self.settings.server
        actions = (BatchActions(self.imm_api, self.pipeline, self.store, self.registry)
                   if self.imm_api else None)  # fmt: skip
        return Surface(
            store=self.store, registry=self.registry, gate=self.gate,
            body=BodyLimits(server.max_body_bytes, server.body_timeout), access=settings.api,
            inhibit_rules=settings.alerts.inhibitors, sources=self.sources,
            actions=actions, pipeline=self.pipeline,
            endpoints=endpoints(settings.ingress, self.verifiers), reload=reload,
            subscriptions=settings.subscriptions,
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
        notifiers = await self.timers.enter_async_context(running_receivers(settings))
        await self._start_timers(self.timers, settings, self.tree, notifiers)
        stack.push_async_callback(lambda: self.timers.aclose())  # the timers running then
        for source in self.sources:
            await source.start()
        self.gate.open = True
        log.info("daemon.started", host=settings.server.host, port=settings.server.port)
        if self.console is not None:
            log.info("daemon.banner", **banner_fields(settings, self.console.config_path))
            summary = Summary(self.registry, self.console.summary_interval)
            await stack.enter_async_context(running_task("summary", summary.run(), summary.stop))

    async def _start_timers(
        self,
        stack: contextlib.AsyncExitStack,
        settings: Settings,
        tree: RouteTree | None,
        notifiers: dict[str, Notifier],
    ) -> None:
        """The work the lease holder runs: delivery, alert evaluation, reconciliation,
        retention."""
        registry, active = self.registry, self.active
        runs: list[tuple[str, Coroutine[Any, Any, None], Callable[[], None]]] = []
        if notifiers or settings.subscriptions.enabled:
            dispatcher = dispatcher_for(settings, self.store, tree, notifiers, registry,
                                        active)  # fmt: skip
            stack.push_async_callback(dispatcher.close)  # after its task has ended
            runs.append(("dispatcher", dispatcher.run(), dispatcher.stop))
        if settings.alerting:
            evaluator = evaluator_for(settings, self.store.alerts, tree, notifiers,
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

    async def apply(self, settings: Settings) -> None:
        """Run on ``settings`` from now on (``reload.py`` keeps what only applies at start).

        The parts that can fail are built first, so a failure changes nothing. Then the
        timers stop (a send in flight finishes and is recorded; what waits stays in the
        outbox) and start again on the new receivers and rules, and only then do new
        commits take the new routes, so no obligation reaches a sender that does not know
        its receiver. A delivery left for a removed receiver becomes a dead letter."""
        tree = route_tree(settings)
        timers = contextlib.AsyncExitStack()
        notifiers = await timers.enter_async_context(running_receivers(settings))
        try:
            self.verifiers.replace(settings.ingress)
        except BaseException:
            await timers.aclose()
            raise
        await self.timers.aclose()
        self.registry.breaker_state.clear()  # the new dispatcher sets its receivers' states
        self.timers = timers
        await self._start_timers(timers, settings, tree, notifiers)
        self.tree = self.router.tree = tree
        if self.app is not None:
            reload_routes.swap(self.app, settings.api, settings.alerts.inhibitors)
        logconf.set_level(settings.log.level)
        self.settings = settings
        await self._swap_sources(settings)

    async def _swap_sources(self, settings: Settings) -> None:
        """Stop the queue sources whose settings changed or went, start the new ones.
        Messages a stopped source holds are committed and deleted within the drain
        timeout, or become visible again and are taken again (and found duplicates)."""
        running = {(s.config.endpoint, s.config.queue): s for s in self.sources}
        wanted = [((c.endpoint, c.queue), c) for c in settings.sources.mns_queues]
        keep = {key for key, config in wanted if key in running and running[key].config == config}
        self.sources[:] = [running[key] for key in keep]  # /readyz: not those being replaced
        grace = settings.server.drain_timeout
        await asyncio.gather(*(s.stop(grace=grace) for k, s in running.items() if k not in keep))
        sources = []
        for key, config in wanted:
            source = running[key] if key in keep else MnsQueueSource(config, self.pipeline,
                                                                      self.registry)  # fmt: skip
            if key not in keep:
                await source.start()
            sources.append(source)
        self.sources[:] = sources

    async def stop_taking_input(self) -> None:
        self.gate.open = False
        log.info("daemon.draining")
        grace = self.settings.server.drain_timeout  # all at once: one drain_timeout in all
        await asyncio.gather(*(source.stop(grace=grace) for source in self.sources))


def daemon(settings: Settings, console: Console | None = None) -> Daemon:
    """Every part of the daemon ``settings`` describe, wired together, not yet started."""
    registry = Metrics()
    tree = route_tree(settings)
    router = Router(tree, dropped=registry.count_dropped)
    store = open_store(settings, registry, router)
    coordinator = LeaseKeeper(store.lease, settings.store.lease,
                              on_change=registry.coordinator.set)  # fmt: skip
    pipeline = Pipeline(store, registry, settings.batch_key,
                        max_events=settings.server.max_events_per_body,
                        max_decoded=settings.server.max_body_bytes)  # fmt: skip
    sources = [MnsQueueSource(q, pipeline, registry) for q in settings.sources.mns_queues]
    imm_api, ice_api = cloud_apis(settings)
    return Daemon(settings, console, registry, tree, store, coordinator, Gate(), pipeline,
                  Verifiers(settings.ingress), sources, imm_api, ice_api, router)  # fmt: skip


def build(
    settings: Settings,
    console: Console | None = None,
    load: Callable[[], Settings] | None = None,
) -> web.Application:
    """The whole daemon as one aiohttp application (also used by tests). With ``console``
    it also greets the person at the terminal and sums up now and then (briefing.py).
    With ``load`` (the config file read again) SIGHUP and ``POST /-/reload`` apply what
    it gives (reload.py)."""
    parts = daemon(settings, console)
    reloader = Reloader(parts, load, parts.registry) if load is not None else None
    app = parts.app = create_app(parts.surface(reloader))

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


def run(
    settings: Settings,
    config_path: str | None = None,
    log_level: str | None = None,
    log_format: str | None = None,
) -> None:
    """Run the daemon until SIGTERM or SIGINT. ``log_level`` and ``log_format`` (``run``'s
    flags) win over the file's ``log`` section, at start and on every reload."""

    def flagged(loaded: Settings) -> Settings:
        chosen = {"level": log_level, "format": log_format}
        update = {key: value for key, value in chosen.items() if value is not None}
        return loaded.model_copy(update={"log": loaded.log.model_copy(update=update)})

    settings = flagged(settings)
    on_terminal = logconf.configure(settings.log.level, settings.log.format)
    logconf.capture_process_errors()
    console = Console(config_path, settings.log.summary_interval) if on_terminal else None
    app = build(settings, console, load=lambda: flagged(load_config(config_path)))
    tune_runtime()
    server = settings.server
    reload = app.get(reload_routes.RELOAD)
    asyncio.run(serve(app, server.host, server.port, server, server.drain_timeout, reload,
                      server.stop_timeout))  # fmt: skip
