"""Deliveries and dead letters over HTTP: list them, replay a dead letter (token required)."""

from __future__ import annotations

import time

from aiohttp import web

from batchrelay.http.common import authorized, error_response, max_results
from batchrelay.store.contracts import SECOND, Outbox
from batchrelay.store.tokens import decode_token, encode_token

OUTBOX: web.AppKey[Outbox] = web.AppKey("outbox", Outbox)
_TOKEN = {"at": int, "id": str}


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/deadletters", list_dead_letters),
        web.post("/api/v1/deadletters/{id}/replay", replay_dead_letter),
        web.get("/api/v1/deliveries", list_deliveries),
    ]


async def _deliveries(request: web.Request, state: str | None) -> web.Response:
    limit = max_results(request.query)  # a BadQuery becomes a 400 in common.bad_requests
    token = request.query.get("next_token", "")
    # the store pages by "updated_at:id"; callers see an opaque token like every listing's
    before = "{at}:{id}".format(**decode_token(token, _TOKEN)) if token else ""
    batch_key = request.query.get("batch_key") or None
    rows = await request.app[OUTBOX].list_deliveries(state, batch_key, limit, before)
    last = rows[-1] if len(rows) == limit else None
    token = encode_token({"at": last["updated_at"], "id": last["id"]}) if last else ""
    return web.json_response({"deliveries": rows, "next_token": token})


async def list_dead_letters(request: web.Request) -> web.Response:
    return await _deliveries(request, "dead")


async def list_deliveries(request: web.Request) -> web.Response:
    return await _deliveries(request, request.query.get("state") or None)


async def replay_dead_letter(request: web.Request) -> web.Response:
    refused = authorized(request)
    if refused is not None:
        return refused
    delivery_id = request.match_info["id"]
    now = int(time.time() * SECOND)
    replayed = await request.app[OUTBOX].replay(delivery_id, now)
    if not replayed:
        return error_response(404, "not_found", "no dead letter with that id")
    return web.json_response({"replayed": delivery_id}, status=202)
