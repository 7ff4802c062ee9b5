"""The daemon's own health over HTTP: ``/healthz`` (alive), ``/readyz`` (taking input, the
store answering), the same two under the names Prometheus and Alertmanager use
(``/-/healthy``, ``/-/ready``), and ``/metrics`` (Prometheus text or OpenMetrics)."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from batchrelay.errors import StoreError
from batchrelay.exposition import exposition
from batchrelay.http.common import STORE
from batchrelay.http.ingest import Gate
from batchrelay.metrics import Metrics


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/-/healthy", healthz),
        web.get("/-/ready", readyz),
        web.get("/metrics", metrics),
    ]


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
        await request.app[STORE].ping()
    except StoreError as exc:
        return web.json_response({"status": "not_ready", "reason": str(exc)}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    # the store down: /readyz says so, and the other metrics are still worth serving
    with contextlib.suppress(StoreError):
        registry.set_batch_states(await request.app[STORE].batch_state_counts())
    body, content_type = exposition(registry.registry, request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})
