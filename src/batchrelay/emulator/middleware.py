"""Cross-cutting request handling, outermost first:

1. ``mns_errors``: every answer gets ``x-mns-request-id``; every failure becomes an MNS
   ``<Error>`` body with the right status (unknown routes, oversized bodies and bugs too).
2. ``mns_auth``: the request signature, Date, version and Content-MD5 are checked.
3. ``mns_faults``: injected latency and 5xx answers, only for authenticated API calls so
   a fault never hides an authentication problem.

The certificate URL is public: push receivers fetch it without credentials.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from batchrelay.emulator import xml
from batchrelay.emulator.backend import CERT_PATH
from batchrelay.emulator.context import XML_CONTENT_TYPE, backend
from batchrelay.emulator.errors import MnsError, internal_error, invalid_argument

log = structlog.get_logger(__name__)

PUBLIC_PATHS = frozenset({CERT_PATH})


@web.middleware
async def mns_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = backend(request)
    request_id = state.ids.request_id()
    try:
        response = await handler(request)
    except MnsError as exc:
        response = _error_response(exc, request_id, state.base_url)
    except web.HTTPException as exc:
        response = _error_response(_translate(exc), request_id, state.base_url)
    except Exception:
        # A bug in the emulator must still look like MNS to the client under test.
        log.exception("emulator.request.crashed", method=request.method, path=request.path)
        response = _error_response(internal_error(), request_id, state.base_url)
    response.headers["x-mns-request-id"] = request_id
    return response


@web.middleware
async def mns_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in PUBLIC_PATHS:
        body = await request.read()
        backend(request).verifier.verify(request.method, request.headers, request.raw_path, body)
    return await handler(request)


@web.middleware
async def mns_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    faults = backend(request).faults
    if request.path not in PUBLIC_PATHS:
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if faults.server_error():
            raise internal_error("Internal error (injected fault).")
    return await handler(request)


def _translate(exc: web.HTTPException) -> MnsError:
    if exc.status == 413:
        return invalid_argument("The request body is larger than the emulator accepts.")
    if exc.status in (404, 405):
        return MnsError(400, "InvalidRequestURL", "Http request URL format invalid.")
    return MnsError(exc.status, "InvalidArgument", exc.reason)


def _error_response(error: MnsError, request_id: str, host_id: str) -> web.Response:
    body = xml.error(error.code, error.message, request_id, host_id)
    return web.Response(
        body=body, status=error.status, content_type=XML_CONTENT_TYPE, charset="utf-8"
    )
