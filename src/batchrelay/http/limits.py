"""Bounds on every request, and the last line of defence.

* A request body must arrive within ``server.body_timeout`` seconds and fit in
  ``server.max_body_bytes``: :func:`read_body` reads it so (408 or 413 otherwise). The
  ``bodies`` middleware reads every body that way before the handler runs, so no handler
  can be held by a slow sender; the push endpoints read their own, with the same function,
  to count what they refuse.
* An exception no handler expected becomes a logged 500 with a JSON body: one log line
  naming the error's type and where it was raised, never a traceback and never the
  exception's text (it may quote the request).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from batchrelay.http.access import SAFE_METHODS

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    timeout: float  # seconds for the whole body to arrive


BODY_LIMITS: web.AppKey[BodyLimits] = web.AppKey("body_limits", BodyLimits)


class BodyRefused(Exception):
    """The body could not be read: too slow (408) or too large (413)."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


async def read_body(request: web.Request, limits: BodyLimits) -> bytes:
    """The whole body as sent, within the time and size ``limits``; else ``BodyRefused``.

    The application's ``client_max_size`` must be ``limits.max_bytes``: aiohttp's
    ``request.read()`` enforces it while reading a body of unknown length."""
    limit, timeout = limits.max_bytes, limits.timeout
    if request.content_length is not None and request.content_length > limit:
        raise BodyRefused(413, "too_large", f"body over {limit} bytes")
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyRefused(413, "too_large", f"body over {limit} bytes") from None
    except TimeoutError:
        raise BodyRefused(408, "body_timeout", f"body not received within {timeout:g} s") from None


def refusal_response(refusal: BodyRefused) -> web.Response:
    response = web.json_response(
        {"error": refusal.reason, "detail": refusal.detail}, status=refusal.status
    )
    response.force_close()  # the rest of the body may still be on its way: do not read it
    return response


@web.middleware
async def bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read each request body (bounded in time and size) before its handler runs."""
    if request.method in SAFE_METHODS or not request.body_exists:
        return await handler(request)
    if request.path.startswith("/ingest/"):
        return await handler(request)  # the push endpoints read and count their own
    try:
        await read_body(request, request.app[BODY_LIMITS])  # kept for request.read()
    except BodyRefused as refusal:
        return refusal_response(refusal)
    return await handler(request)


@web.middleware
async def last_resort(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An unexpected error: one log line without the payload, and a JSON 500."""
    try:
        return await handler(request)
    except (web.HTTPException, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.error(
            "http.unexpected_error",
            method=request.method,
            route=_route(request),
            error=type(exc).__name__,
            at=_where(exc),
        )
        return web.json_response(
            {"error": "internal", "detail": "unexpected error; see the daemon's log"}, status=500
        )


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "(no route)"


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"
