"""The aiohttp application: ingest routes, health, metrics and the API."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from batchrelay import access, api, apidoc, dashboard, deadletters
from batchrelay.access import AccessConfig
from batchrelay.delivery.outboxes import outbox_for
from batchrelay.errors import StoreError
from batchrelay.exposition import exposition
from batchrelay.limits import BODY_LIMITS, BodyLimits, bodies, last_resort
from batchrelay.listener import track
from batchrelay.metrics import Metrics
from batchrelay.sources.http import Gate
from batchrelay.store.base import Store

METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
GATE: web.AppKey[Gate] = web.AppKey("gate", Gate)
SOURCES: web.AppKey[list[Any]] = web.AppKey("sources", list)  # pull sources with .running


async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers. Says nothing about the store."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: accepting input and the store answers."""
    if not request.app[GATE].open:
        return web.json_response(
            {"status": "not_ready", "reason": "starting or draining"}, status=503
        )
    stopped = [s.config.queue for s in request.app.get(SOURCES, []) if not s.running]
    if stopped:
        return web.json_response(
            {"status": "not_ready", "reason": f"sources not running: {stopped}"}, status=503
        )
    try:
        await request.app[api.STORE].ping()
    except StoreError as exc:
        return web.json_response({"status": "not_ready", "reason": str(exc)}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    # the store down: /readyz says so, and the other metrics are still worth serving
    with contextlib.suppress(StoreError):
        registry.set_batch_states(await request.app[api.STORE].batch_state_counts())
    body, content_type = exposition(registry.registry, request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})


def create_app(
    store: Store,
    registry: Metrics,
    gate: Gate,
    body: BodyLimits,
    access_config: AccessConfig | None = None,
) -> web.Application:
    """The middlewares run outermost first: the connection's timers stop, the last resort,
    access rules, bounded bodies, bad queries."""
    app = web.Application(
        # client_max_size bounds what request.read() accepts; handlers also check Content-Length
        client_max_size=body.max_bytes,
        middlewares=[track, last_resort, access.guard, bodies, api.bad_requests],
        # bodies are read as sent: the push endpoints decompress (bounded) themselves, and
        # quarantine what they cannot, byte for byte
        handler_args={"auto_decompress": False},
    )
    access.setup(app, access_config or AccessConfig())
    app[BODY_LIMITS] = body
    app[api.STORE] = store
    app[METRICS] = registry
    app[GATE] = gate
    app[deadletters.OUTBOX] = outbox_for(store)
    app.add_routes(
        [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]
    )
    # the same probes under the names Prometheus and Alertmanager use
    app.add_routes([web.get("/-/healthy", healthz), web.get("/-/ready", readyz)])
    app.add_routes(api.routes())
    app.add_routes(deadletters.routes())
    app.add_routes(apidoc.routes())  # the API's description, as a document and a page
    dashboard.setup(app)  # the dashboard at /, its reads and live stream
    return app
