"""Quarantined input over HTTP: ``GET /api/v1/quarantine``, newest first, paged."""

from __future__ import annotations

from aiohttp import web

from batchrelay.http.common import STORE, max_results, page_json, param


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/quarantine", list_quarantine)]


async def list_quarantine(request: web.Request) -> web.Response:
    q = request.query
    token = param(q, "next_token", "NextToken") or ""
    page = await request.app[STORE].list_quarantine(max_results(q), token)
    return page_json(page, "quarantine")
