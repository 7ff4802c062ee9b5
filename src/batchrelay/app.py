"""Wire settings into a running daemon and own its lifecycle.

Start: open the store (migrations), build the verifiers, open the gate. Stop (SIGTERM or
SIGINT, handled by ``web.run_app``): close the gate so pushes get 503, let in-flight
requests finish within ``server.drain_timeout``, then close the store, which commits
everything already queued. Exit status 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from batchrelay import log as logconf
from batchrelay.config import Settings
from batchrelay.metrics import Metrics
from batchrelay.pipeline import Pipeline
from batchrelay.sources.http import Gate, ingest_routes
from batchrelay.sources.verifiers import Verifiers, endpoints
from batchrelay.store.base import Store
from batchrelay.store.sqlite import SQLiteStore
from batchrelay.web import create_app

log = structlog.get_logger(__name__)


def open_store(settings: Settings, registry: Metrics | None = None) -> Store:
    cfg = settings.store
    path = cfg.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(
        path,
        synchronous=cfg.synchronous,
        max_group=cfg.max_group,
        queue_size=cfg.queue_size,
        on_group_commit=registry.observe_group_commit if registry else None,
    )


def build(settings: Settings) -> web.Application:
    """The whole daemon as one aiohttp application (also used by tests)."""
    registry = Metrics()
    store = open_store(settings, registry)
    gate = Gate()
    pipeline = Pipeline(store, registry, settings.batch_key)
    verifiers = Verifiers(settings.ingress)
    app = create_app(store, registry, gate, settings.server.max_body_bytes)
    app.add_routes(
        ingest_routes(
            endpoints(settings.ingress, verifiers), pipeline, gate, settings.server.max_body_bytes
        )
    )

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await store.start()
        await verifiers.start()
        gate.open = True
        log.info("daemon.started", host=settings.server.host, port=settings.server.port)
        yield
        await verifiers.close()
        await store.close()
        log.info("daemon.stopped")

    async def stop_taking_input(_: web.Application) -> None:
        gate.open = False
        log.info("daemon.draining")

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(stop_taking_input)
    return app


def run(settings: Settings) -> None:
    logconf.configure(settings.log.level, settings.log.format)
    web.run_app(
        build(settings),
        host=settings.server.host,
        port=settings.server.port,
        shutdown_timeout=settings.server.drain_timeout,
        print=None,
        access_log=None,
    )
