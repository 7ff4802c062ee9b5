"""Batch actions over HTTP.

``GET /api/v1/batches/{key}/actions``   the batch's history of actions, newest first
                                        (``max_results``, ``next_token``)
``POST /api/v1/batches/{key}/actions``  bearer token; JSON ``{"action": "suspend" | "resume"
                                        | "update", "actor": "who", "changes": {"Tags": …}}``

Answers to a POST: 200 with the batch's state afterwards; 404 unknown batch; 409 the
service's rules refuse the action in the batch's state (nothing was called; the service's
own wording); 502 the service refused or failed (its code and message); 404
``not_configured`` when no ``sources.imm_api`` is configured (a client error: the daemon
itself is fine). Every outcome but a 404 is in the batch's history.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from batchrelay.cloudapi.actions import ACTIONS, BatchActions, UnknownBatch
from batchrelay.errors import ActionRefused, CloudApiError
from batchrelay.http.common import STORE, authorized, error_response, json_body, max_results

ACTIONS_KEY: web.AppKey[BatchActions | None] = web.AppKey("batch_actions", BatchActions)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/batches/{batch_key}/actions", list_actions),
        web.post("/api/v1/batches/{batch_key}/actions", run_action),
    ]


async def list_actions(request: web.Request) -> web.Response:
    key = request.match_info["batch_key"]
    token = request.query.get("next_token", "")
    page = await request.app[STORE].list_batch_actions(key, max_results(request.query), token)
    items = [item.model_dump(mode="json") for item in page.items]
    return web.json_response({"actions": items, "next_token": page.next_token})


async def run_action(request: web.Request) -> web.Response:
    refused = authorized(request)
    if refused is not None:
        return refused
    actions = request.app[ACTIONS_KEY]
    if actions is None:
        return error_response(404, "not_configured", "batch actions need sources.imm_api")
    try:
        action, actor, changes = _fields(await json_body(request))  # deep JSON is a 400 too
    except ValueError as exc:
        return error_response(400, "bad_request", str(exc))
    key = request.match_info["batch_key"]
    try:
        result = await actions.run(key, action, actor, changes)
    except ValueError as exc:
        return error_response(400, "bad_request", str(exc))
    except UnknownBatch:
        return error_response(404, "not_found", "no batch with that key")
    except ActionRefused as exc:
        return error_response(409, "refused", str(exc))
    except CloudApiError as exc:
        return web.json_response({"error": "service_error", "reason": exc.reason,
                                  "code": exc.code, "detail": exc.message}, status=502)  # fmt: skip
    return web.json_response({"batch_key": key, "action": result.action, "outcome": "done",
                              "state": result.state, "raw_state": result.raw_state})  # fmt: skip


def _fields(body: Any) -> tuple[Any, str, dict[str, Any]]:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    action = body.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    actor = body.get("actor", "api")
    changes = body.get("changes") or {}
    if not isinstance(actor, str) or not isinstance(changes, dict):
        raise ValueError("actor must be a string and changes an object")
    return action, actor, changes
