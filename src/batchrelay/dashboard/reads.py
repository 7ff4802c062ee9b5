"""Read API the pages need: a batch's journaled events, its figures over time, and recent
activity of several batches (the batches page's sparklines)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from aiohttp import web

from batchrelay.api import STORE, BadQuery, error_response, max_results

DEFAULT_POINTS = 200
MAX_POINTS = 1000
ACTIVITY_BUCKET = timedelta(minutes=2)
ACTIVITY_BUCKETS = 30  # an hour
MAX_ACTIVITY_KEYS = 100


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/batches/{batch_key}/events", list_events),
        web.get("/api/v1/batches/{batch_key}/history", history),
        web.get("/api/v1/activity", activity),
    ]


def max_points(query: Mapping[str, str]) -> int:
    raw = query.get("max_points", str(DEFAULT_POINTS))
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(
            f"max_points must be an integer from 2 to {MAX_POINTS} (got {raw!r})"
        ) from None
    if not 2 <= value <= MAX_POINTS:
        raise BadQuery(f"max_points must be from 2 to {MAX_POINTS} (got {value})")
    return value


async def list_events(request: web.Request) -> web.Response:
    """Newest first, raw bytes as base64; ``max_results`` 0–100, ``next_token`` opaque."""
    q = request.query
    limit = max_results(q)
    token = q.get("next_token") or q.get("NextToken") or ""
    page = await request.app[STORE].list_batch_events(request.match_info["batch_key"], limit, token)
    items = [event.model_dump(mode="json") for event in page.items]
    return web.json_response({"events": items, "next_token": page.next_token})


async def history(request: web.Request) -> web.Response:
    """The batch's points over event time; 404 for a batch the ledger does not know."""
    key = request.match_info["batch_key"]
    points = max_points(request.query)
    store = request.app[STORE]
    if await store.get_batch(key) is None:
        return error_response(404, "not_found", "no such batch")
    found = await store.batch_history(key, points)
    return web.json_response(
        {"batch_key": key, "points": [p.model_dump(mode="json") for p in found]}
    )


async def activity(request: web.Request) -> web.Response:
    """Events per ``ACTIVITY_BUCKET`` of event time over the last hour, for each
    ``batch_key`` given (repeat it, up to ``MAX_ACTIVITY_KEYS``): the batches page's
    sparklines. The last bucket is the current, partial one."""
    keys = request.query.getall("batch_key", [])
    if not 1 <= len(keys) <= MAX_ACTIVITY_KEYS:
        raise BadQuery(f"give 1 to {MAX_ACTIVITY_KEYS} batch_key parameters (got {len(keys)})")
    now = datetime.now(UTC)
    width = ACTIVITY_BUCKET.total_seconds()
    current = datetime.fromtimestamp(now.timestamp() // width * width, UTC)
    since = current - ACTIVITY_BUCKET * (ACTIVITY_BUCKETS - 1)
    found = await request.app[STORE].batch_activity(keys, since, ACTIVITY_BUCKET, ACTIVITY_BUCKETS)
    return web.json_response(
        {"since": since.isoformat(), "bucket_seconds": int(width), "batches": found}
    )
