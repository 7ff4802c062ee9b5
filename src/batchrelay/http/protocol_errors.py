"""Requests that are not valid HTTP, answered like every other error: JSON, nothing echoed.

aiohttp answers a request it cannot parse (a request line or header over its 8190-byte
limit, a malformed header) with a plain-text 400 that quotes the offending bytes, which
can be the start of an ``Authorization`` header. :class:`JsonErrors` is aiohttp's own
protocol handler with only that answer changed: the same status, logged the same way
(one line naming the error's type), and a JSON body that names the kind of problem only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

ERRORS = {400: "bad_request", 413: "too_large", 431: "too_large", 500: "internal",
          504: "timeout"}  # fmt: skip


def detail(status: int, exc: BaseException | None) -> str:
    if isinstance(exc, LineTooLong):
        return "the request line or a header is too long"
    if status == 500:
        return "unexpected error; see the daemon's log"
    if 400 <= status < 500:
        return "the request is not valid HTTP/1.1"
    return "the request could not be handled"


class JsonErrors(RequestHandler):
    """aiohttp's protocol handler, answering its own errors as JSON (see the module)."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        super().handle_error(request, status, exc, None)  # logs it; raises if already answering
        body = {"error": ERRORS.get(status, "bad_request"), "detail": detail(status, exc)}
        response = web.json_response(body, status=status)
        response.force_close()
        return response


def handler_for(server: web.Server) -> RequestHandler:
    """What ``server()`` makes, as :class:`JsonErrors` (the same arguments)."""
    kwargs: dict[str, Any] = server._kwargs  # the runner's handler arguments
    return JsonErrors(server, loop=server._loop, **kwargs)
