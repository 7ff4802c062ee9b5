"""The read API under ``/api/v1``: batches (IMM ListBatches semantics), tasks, quarantine."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from batchrelay.store.base import BatchQuery, InvalidTokenError, Page, Store, TaskQuery

STORE: web.AppKey[Store] = web.AppKey("store", Store)


class BadQuery(ValueError):
    """A query parameter is invalid; the message names it."""


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/batches", list_batches),
        web.get("/api/v1/batches/{batch_key}", get_batch),
        web.get("/api/v1/batches/{batch_key}/tasks", list_tasks),
        web.get("/api/v1/quarantine", list_quarantine),
    ]


def _param(query: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` present, so both IMM spelling (MaxResults) and snake_case work."""
    for name in names:
        if name in query:
            return query[name]
    return None


def max_results(query: Mapping[str, str]) -> int:
    """IMM semantics: 0–100, absent or 0 means 100."""
    raw = _param(query, "MaxResults", "max_results") or "0"
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"MaxResults must be an integer from 0 to 100 (got {raw!r})") from None
    if not 0 <= value <= 100:
        raise BadQuery(f"MaxResults must be from 0 to 100 (got {value})")
    return value or 100


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
    raw = _param(query, *names)
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
        state=_param(query, "State", "state") or None,
        tags=tag_selector(_param(query, "TagSelector", "tag_selector")),
        sort=sort,  # type: ignore[arg-type]
        order=order,  # type: ignore[arg-type]
        max_results=max_results(query),
        next_token=_param(query, "NextToken", "next_token") or "",
        project=_param(query, "ProjectName", "project") or None,
    )


def _page_json(page: Page[Any], key: str) -> web.Response:
    items = [
        item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in page.items
    ]
    return web.json_response({key: items, "next_token": page.next_token})


#: JSON bodies of API calls nest no deeper than this (checked before parsing, so a hostile
#: body never drives the parser into a RecursionError).
MAX_BODY_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; a ``BadQuery`` (400) when it is not UTF-8 JSON."""
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadQuery("the body is not valid JSON: not UTF-8") from None
    if _too_deep(text):
        raise BadQuery(f"the body nests deeper than {MAX_BODY_DEPTH}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadQuery("the body is not valid JSON") from None


def _too_deep(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_BODY_DEPTH:
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match[0] in "[{" else -1
        if depth > MAX_BODY_DEPTH:
            return True
    return False


def error_response(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


@web.middleware
async def bad_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Bad parameters and tampered page tokens become 400s, never tracebacks."""
    try:
        return await handler(request)
    except (BadQuery, InvalidTokenError) as exc:
        return error_response(400, "bad_request", str(exc))


async def list_batches(request: web.Request) -> web.Response:
    page = await request.app[STORE].list_batches(batch_query(request.query))
    return _page_json(page, "batches")


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
        status=_param(q, "status", "Status") or None,
        search=_param(q, "search", "q") or None,
        code=_param(q, "code", "Code"),
        max_results=max_results(q),
        next_token=_param(q, "next_token", "NextToken") or "",
    )


async def list_tasks(request: web.Request) -> web.Response:
    return _page_json(await request.app[STORE].list_tasks(task_query(request)), "tasks")


async def list_quarantine(request: web.Request) -> web.Response:
    q = request.query
    token = _param(q, "next_token", "NextToken") or ""
    page = await request.app[STORE].list_quarantine(max_results(q), token)
    return _page_json(page, "quarantine")
