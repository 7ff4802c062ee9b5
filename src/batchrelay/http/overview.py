"""``GET /api/v1/overview``: the figures at the top of every dashboard page.

Every open page asks for them every few seconds, so one answer serves this process for
``FRESH`` seconds: however many pages are open, the store computes them about once a
second (see :meth:`Store.overview` for what that costs).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from batchrelay.http.common import STORE
from batchrelay.store.base import INGEST_WINDOW, QUARANTINE_WINDOW, Store

FRESH = 1.0


@dataclass
class Latest:
    at: float = float("-inf")
    body: dict[str, Any] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


LATEST: web.AppKey[Latest] = web.AppKey("dashboard_overview", Latest)


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/overview", overview)]


async def figures(store: Store, now: datetime) -> dict[str, Any]:
    found = await store.overview(now)
    window = INGEST_WINDOW.total_seconds()
    return {
        "time": now.isoformat(),
        "batches": found.batches,
        "running": found.batches.get("running", 0),
        "failed": found.batches.get("failed", 0),
        "suspended": found.batches.get("suspended", 0),
        "alerts_firing": found.alerts_firing,
        "dead_letters": found.dead_letters,
        "quarantined": found.quarantined,
        "quarantine_window_seconds": int(QUARANTINE_WINDOW.total_seconds()),
        "ingest": {
            "window_seconds": int(window),
            "events": found.received,
            "per_second": round(found.received / window, 3),
            "at_least": found.received_capped,  # more arrived than the bounded scan reads
        },
    }


async def overview(request: web.Request) -> web.Response:
    latest = request.app[LATEST]
    async with latest.lock:
        if time.monotonic() - latest.at >= FRESH:
            latest.body = await figures(request.app[STORE], datetime.now(UTC))
            latest.at = time.monotonic()
        return web.json_response(latest.body)
