"""Batches over HTTP: ``/api/v1/batches`` with IMM ListBatches semantics, a batch, its
tasks, its journaled events and figures over time, and recent activity."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from aiohttp import web

from batchrelay.http.common import STORE, BadQuery, error_response, max_results, page_json, param
from batchrelay.store.base import BatchQuery, TaskQuery

DEFAULT_POINTS = 200
MAX_POINTS = 1000
ACTIVITY_BUCKET = timedelta(minutes=2)
ACTIVITY_BUCKETS = 30  # an hour
MAX_ACTIVITY_KEYS = 100


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/batches", list_batches),
        web.get("/api/v1/batches/{batch_key}", get_batch),
        web.get("/api/v1/batches/{batch_key}/tasks", list_tasks),
        web.get("/api/v1/batches/{batch_key}/events", list_events),
        web.get("/api/v1/batches/{batch_key}/history", history),
        web.get("/api/v1/activity", activity),
    ]


def tag_selector(raw: str | None) -> dict[str, str | None]:
    """``team=legal,env=prod`` or a JSON object; a bare ``key`` means the tag must exist."""
    if not raw:
        return {}
    if raw.lstrip().startswith("{"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise BadQuery("TagSelector is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise BadQuery("TagSelector JSON must be an object")
        return {str(k): None if v is None else str(v) for k, v in parsed.items()}
    selector: dict[str, str | None] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = part.partition("=")
        if not key.strip():
            raise BadQuery(f"TagSelector has an empty key in {part!r}")
        selector[key.strip()] = value.strip() if sep else None
    return selector


def _choice(query: Mapping[str, str], names: tuple[str, ...], allowed: dict[str, str]) -> str:
    raw = param(query, *names)
    if raw is None:
        return next(iter(allowed.values()))
    try:
        return allowed[raw.upper()]
    except KeyError:
        raise BadQuery(f"{names[0]} must be one of {sorted(set(allowed.values()))}") from None


def batch_query(query: Mapping[str, str]) -> BatchQuery:
    sort = _choice(
        query,
        ("Sort", "sort"),
        {"CREATETIME": "CreateTime", "UPDATETIME": "UpdateTime"},
    )
    # IMM's own SDK spells descending "DES"; accept both.
    order = _choice(query, ("Order", "order"), {"DESC": "DESC", "DES": "DESC", "ASC": "ASC"})
    return BatchQuery(
        state=param(query, "State", "state") or None,
        tags=tag_selector(param(query, "TagSelector", "tag_selector")),
        sort=sort,  # type: ignore[arg-type]
        order=order,  # type: ignore[arg-type]
        max_results=max_results(query),
        next_token=param(query, "NextToken", "next_token") or "",
        project=param(query, "ProjectName", "project") or None,
    )


async def list_batches(request: web.Request) -> web.Response:
    page = await request.app[STORE].list_batches(batch_query(request.query))
    return page_json(page, "batches")


async def get_batch(request: web.Request) -> web.Response:
    batch = await request.app[STORE].get_batch(request.match_info["batch_key"])
    if batch is None:
        return error_response(404, "not_found", "no such batch")
    return web.json_response(batch.model_dump(mode="json"))


def task_query(request: web.Request) -> TaskQuery:
    """A batch's task filter from the query string; ``code`` may be empty (no code)."""
    q = request.query
    return TaskQuery(
        batch_key=request.match_info["batch_key"],
        status=param(q, "status", "Status") or None,
        search=param(q, "search", "q") or None,
        code=param(q, "code", "Code"),
        max_results=max_results(q),
        next_token=param(q, "next_token", "NextToken") or "",
    )


async def list_tasks(request: web.Request) -> web.Response:
    return page_json(await request.app[STORE].list_tasks(task_query(request)), "tasks")


# ------------------------------------------------------------------ what the pages read:
# a batch's journaled events, its figures over time, and recent activity of several batches
# (the batches page's sparklines)


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
