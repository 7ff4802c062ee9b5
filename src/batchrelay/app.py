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
import gc
import sys
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from batchrelay import log as logconf
from batchrelay.config import Settings
from batchrelay.delivery.dispatcher import Dispatcher
from batchrelay.delivery.router import Router
from batchrelay.demo import running_demo
from batchrelay.metrics import Metrics
from batchrelay.notifiers.registry import build_notifier
from batchrelay.pipeline import Pipeline
from batchrelay.routing.tree import RouteTree
from batchrelay.sources.http import Gate, ingest_routes
from batchrelay.sources.mns_queue import MnsQueueSource
from batchrelay.sources.verifiers import Verifiers, endpoints
from batchrelay.store.sqlite import SQLiteStore
from batchrelay.web import SOURCES, create_app

log = structlog.get_logger(__name__)


def open_store(
    settings: Settings, registry: Metrics | None = None, router: Router | None = None
) -> SQLiteStore:
    cfg = settings.store
    return SQLiteStore(
        cfg.sqlite_path,
        synchronous=cfg.synchronous,
        max_group=cfg.max_group,
        queue_size=cfg.queue_size,
        on_group_commit=registry.observe_group_commit if registry else None,
        on_commit=router,
    )


def route_tree(settings: Settings) -> RouteTree | None:
    return RouteTree(settings.routing) if settings.routing is not None else None


@contextlib.asynccontextmanager
async def running_dispatcher(
    settings: Settings, store: SQLiteStore, tree: RouteTree | None, registry: Metrics
) -> AsyncIterator[Dispatcher | None]:
    """Build the receivers and run the dispatcher until the block ends."""
    if not settings.receivers:
        yield None
        return
    async with aiohttp.ClientSession() as session:
        notifiers = {name: build_notifier(name, cfg, session)
                     for name, cfg in settings.receivers.items()}  # fmt: skip
        dispatcher = Dispatcher(store, tree, settings.receivers, notifiers, registry,
                                tick=settings.delivery.tick, lease=settings.delivery.lease,
                                max_in_flight=settings.delivery.max_in_flight)  # fmt: skip
        task = asyncio.create_task(dispatcher.run(), name="dispatcher")
        try:
            yield dispatcher
        finally:
            dispatcher.stop()
            await asyncio.gather(task, return_exceptions=True)
            for notifier in notifiers.values():
                await notifier.close()


def build(settings: Settings) -> web.Application:
    """The whole daemon as one aiohttp application (also used by tests)."""
    registry = Metrics()
    tree = route_tree(settings)
    router = Router(tree) if tree is not None else None
    store = open_store(settings, registry, router)
    gate = Gate()
    pipeline = Pipeline(store, registry, settings.batch_key)
    verifiers = Verifiers(settings.ingress)
    sources = [MnsQueueSource(q, pipeline, registry) for q in settings.sources.mns_queues]
    max_body = settings.server.max_body_bytes
    app = create_app(store, registry, gate, max_body, settings.api.token)
    app[SOURCES] = sources
    app.add_routes(ingest_routes(endpoints(settings.ingress, verifiers), pipeline, gate, max_body))

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await store.start()
            stack.push_async_callback(store.close)
            await verifiers.start()
            stack.push_async_callback(verifiers.close)
            if settings.demo.enabled:
                push_url = f"http://127.0.0.1:{settings.server.port}/ingest/mns"
                await stack.enter_async_context(running_demo(settings.demo, push_url))
            await stack.enter_async_context(running_dispatcher(settings, store, tree, registry))
            for source in sources:
                await source.start()
            gate.open = True
            log.info("daemon.started", host=settings.server.host, port=settings.server.port)
            yield
        log.info("daemon.stopped")

    async def stop_taking_input(_: web.Application) -> None:
        gate.open = False
        log.info("daemon.draining")
        for source in sources:
            await source.stop(grace=settings.server.drain_timeout)

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


def run(settings: Settings) -> None:
    logconf.configure(settings.log.level, settings.log.format)
    app = build(settings)
    tune_runtime()
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        shutdown_timeout=settings.server.drain_timeout,
        print=None,
        access_log=None,
    )
