"""What every HTTP resource shares: the store key, errors as JSON, bad-request handling,
pagination parameters, bounded JSON bodies and the bearer check on writes."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from batchrelay.http.access import ACCESS, Refusal
from batchrelay.store.base import InvalidTokenError, Page, Store

STORE: web.AppKey[Store] = web.AppKey("store", Store)


class BadQuery(ValueError):
    """A query parameter is invalid; the message names it."""


def param(query: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` present, so both IMM spelling (MaxResults) and snake_case work."""
    for name in names:
        if name in query:
            return query[name]
    return None


def max_results(query: Mapping[str, str]) -> int:
    """IMM semantics: 0–100, absent or 0 means 100."""
    raw = param(query, "MaxResults", "max_results") or "0"
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"MaxResults must be an integer from 0 to 100 (got {raw!r})") from None
    if not 0 <= value <= 100:
        raise BadQuery(f"MaxResults must be from 0 to 100 (got {value})")
    return value or 100


def page_json(page: Page[Any], key: str) -> web.Response:
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


def authorized(request: web.Request) -> web.Response | None:
    """None when the request carries ``Bearer <api.token>``; else the 4xx answer to give.

    ``access.guard`` already refuses every write without it; this is the same check, for
    handlers that want to say so where they act."""
    try:
        request.app[ACCESS].check_write(request)
    except Refusal as refusal:
        return error_response(refusal.status, refusal.error, refusal.detail)
    return None
