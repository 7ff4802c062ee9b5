"""Webhook subscriptions over HTTP (writes need the API token, as every write).

``POST   /api/v1/subscriptions``                 create; 201 with ``secret`` (only here)
``GET    /api/v1/subscriptions``                 list
``GET    /api/v1/subscriptions/{id}``            one
``PATCH  /api/v1/subscriptions/{id}``            update; ``enabled: true`` resumes what is pending
``DELETE /api/v1/subscriptions/{id}``            remove; what it had pending ends dead
``POST   /api/v1/subscriptions/{id}/rotate``     new secret; the old one signs too for ``overlap``
``POST   /api/v1/subscriptions/{id}/test``       send a signed ping, answer with the response
``GET    /api/v1/subscriptions/{id}/deliveries`` its delivery log, newest first
``POST   /api/v1/subscriptions/{id}/replay``     re-send its events of a batch or a time range

The shapes are in the OpenAPI document (``apidoc/openapi.yaml``).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aiohttp import web

from batchrelay.delivery.config import SubscriptionsConfig
from batchrelay.delivery.subscriptions import egress_policy
from batchrelay.http.common import BadQuery, error_response, json_body, max_results
from batchrelay.http.subscription_input import (
    CreateBody,
    RotateBody,
    UpdateBody,
    changed_by,
    new_secret,
    new_subscription,
    overlap_seconds,
    parsed,
)
from batchrelay.notifiers.base import SendError, snippet
from batchrelay.notifiers.subscription import SubscriptionSender, message_id, ping
from batchrelay.store.contracts import SECOND
from batchrelay.store.subscriptions import Subscription, Subscriptions
from batchrelay.store.tokens import decode_token, encode_token

_TOKEN = {"at": int, "id": str}
PING_TIMEOUT = 5.0  # seconds a test ping may take: its caller waits for the answer
_STATUS = re.compile(r"HTTP (\d{3})")


@dataclass
class SubscriptionsApi:
    store: Subscriptions
    config: SubscriptionsConfig
    sender: SubscriptionSender = field(init=False)

    def __post_init__(self) -> None:
        timeout = min(self.config.timeout, PING_TIMEOUT)
        self.sender = SubscriptionSender(egress_policy(self.config), timeout)

    @staticmethod
    def now() -> int:
        return time.time_ns() // 1000


API: web.AppKey[SubscriptionsApi] = web.AppKey("subscriptions", SubscriptionsApi)


def routes() -> list[web.RouteDef]:
    base = "/api/v1/subscriptions"
    return [
        web.post(base, create),
        web.get(base, list_subscriptions),
        web.get(base + "/{id}", show),
        web.patch(base + "/{id}", update),
        web.delete(base + "/{id}", delete),
        web.post(base + "/{id}/rotate", rotate),
        web.post(base + "/{id}/test", test),
        web.get(base + "/{id}/deliveries", deliveries),
        web.post(base + "/{id}/replay", replay),
    ]


def setup(app: web.Application, store: Subscriptions, config: SubscriptionsConfig) -> None:
    api = app[API] = SubscriptionsApi(store, config)

    async def close(_: web.Application) -> None:
        await api.sender.close()

    app.on_cleanup.append(close)


async def _found(request: web.Request) -> Subscription | web.Response:
    sub = await request.app[API].store.get(request.match_info["id"])
    if sub is None:
        return error_response(404, "not_found", "no subscription with that id")
    return sub


async def _refused_url(api: SubscriptionsApi, url: str) -> web.Response | None:
    problem = await api.sender.policy.refusal(url)
    return error_response(400, "bad_request", f"url: {problem}") if problem else None


async def create(request: web.Request) -> web.Response:
    api = request.app[API]
    body: CreateBody = parsed(CreateBody, await json_body(request))
    refused = await _refused_url(api, body.url)
    if refused is not None:
        return refused
    if len(await api.store.all()) >= api.config.max_subscriptions:
        return error_response(
            409,
            "limit",
            f"at most {api.config.max_subscriptions}"
            " subscriptions (subscriptions.max_subscriptions)",
        )
    sub, secret = new_subscription(body, api.now())
    await api.store.create(sub)
    return web.json_response({**sub.public(), "secret": secret}, status=201)


async def list_subscriptions(request: web.Request) -> web.Response:
    subs = await request.app[API].store.all()
    return web.json_response({"subscriptions": [sub.public() for sub in subs]})


async def show(request: web.Request) -> web.Response:
    sub = await _found(request)
    return sub if isinstance(sub, web.Response) else web.json_response(sub.public())


async def update(request: web.Request) -> web.Response:
    api = request.app[API]
    body: UpdateBody = parsed(UpdateBody, await json_body(request))
    sub = await _found(request)
    if isinstance(sub, web.Response):
        return sub
    if "url" in body.model_fields_set:
        refused = await _refused_url(api, body.url)
        if refused is not None:
            return refused
    now = api.now()
    changed = replace(changed_by(sub, body), updated_at=now)
    if changed.enabled and not sub.enabled:  # a fresh start: its failures are forgiven
        changed = replace(changed, failing_since=None)
    if not await api.store.save(changed):
        return error_response(404, "not_found", "no subscription with that id")
    if changed.enabled and not sub.enabled:
        await api.store.resume(sub.id, now)  # what waited while it was disabled goes now
    return web.json_response(changed.public())


async def delete(request: web.Request) -> web.Response:
    if not await request.app[API].store.delete(request.match_info["id"]):
        return error_response(404, "not_found", "no subscription with that id")
    return web.Response(status=204)


async def rotate(request: web.Request) -> web.Response:
    api = request.app[API]
    raw = await json_body(request) if request.body_exists else {}
    body: RotateBody = parsed(RotateBody, raw)
    overlap = overlap_seconds(body.overlap, api.config.rotation_overlap)
    sub = await _found(request)
    if isinstance(sub, web.Response):
        return sub
    now, secret = api.now(), body.secret or new_secret()
    expires = now + int(overlap * SECOND)
    rotated = sub.rotated(secret, expires, now)
    if not await api.store.save(rotated):
        return error_response(404, "not_found", "no subscription with that id")
    return web.json_response({**rotated.public(), "secret": secret, "previous_expires_at": expires})


async def test(request: web.Request) -> web.Response:
    api = request.app[API]
    sub = await _found(request)
    if isinstance(sub, web.Response):
        return sub
    msg_id = "msg_test_" + uuid.uuid4().hex[:24]
    started = time.perf_counter()
    try:
        reply = await api.sender.exchange(
            sub.url, msg_id, ping(sub.id), sub.signing_secrets(api.now()), sub.headers
        )
    except SendError as exc:
        return web.json_response(
            {
                "ok": False,
                "message_id": msg_id,
                "status": None,
                "error": exc.reason.value,
                "detail": exc.detail,
                "latency_ms": _ms(time.perf_counter() - started),
            }
        )
    return web.json_response(
        {
            "ok": 200 <= reply.status < 300,
            "message_id": msg_id,
            "status": reply.status,
            "latency_ms": _ms(time.perf_counter() - started),
            "body": snippet(reply.body, 1000),
        }
    )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


async def deliveries(request: web.Request) -> web.Response:
    api = request.app[API]
    sub = await _found(request)
    if isinstance(sub, web.Response):
        return sub
    limit = max_results(request.query)
    token = request.query.get("next_token", "")
    before = "{at}:{id}".format(**decode_token(token, _TOKEN)) if token else ""
    rows = await api.store.deliveries(sub.id, limit, before)
    last = rows[-1] if len(rows) == limit else None
    token = encode_token({"at": last["updated_at"], "id": last["id"]}) if last else ""
    return web.json_response(
        {"deliveries": [_shown(sub.id, row) for row in rows], "next_token": token}
    )


def _shown(subscription_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """A delivery as the log shows it: its message id, and per attempt the status code,
    latency and response excerpt (kept in the attempt's detail)."""
    events = row.pop("event_ids")
    attempts = []
    for attempt in row.pop("attempt_log"):
        found = _STATUS.match(attempt["detail"] or "")  # failures only: "HTTP 503: ..."
        detail = attempt.pop("detail")
        attempts.append(
            {
                **attempt,
                "status": int(found[1]) if found else None,
                "latency_ms": _ms(attempt["seconds"]),
                "response": detail,
            }
        )
    pending = row["state"] in ("pending", "sending")
    next_attempt = row.pop("next_attempt_at")
    return {
        **row,
        "message_id": message_id(subscription_id, events[0]) if events else None,
        "event_id": events[0] if events else None,
        "next_retry_at": next_attempt if pending else None,
        "attempt_log": attempts,
    }


async def replay(request: web.Request) -> web.Response:
    api = request.app[API]
    body = await json_body(request)
    if not isinstance(body, dict) or not set(body) <= {"batch_key", "since", "until"} or not body:
        raise BadQuery("give batch_key, or since and/or until (RFC 3339 times)")
    since, until = _time(body, "since"), _time(body, "until")
    batch_key = body.get("batch_key")
    if "batch_key" in body and not isinstance(batch_key, str):
        raise BadQuery("batch_key: must be a string")
    sub = await _found(request)
    if isinstance(sub, web.Response):
        return sub
    count = await api.store.replay(sub.id, batch_key, since, until, api.now())
    return web.json_response({"replayed": count}, status=202)


def _time(body: dict[str, Any], key: str) -> int | None:
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, str) or "T" not in value.upper():
        raise BadQuery(f"{key}: not an RFC 3339 time such as 2026-12-07T10:00:00Z")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{key}: not an RFC 3339 time such as 2026-12-07T10:00:00Z") from None
    if at.tzinfo is None:
        raise BadQuery(f"{key}: give a time zone (Z or +08:00)")
    return int(at.timestamp() * SECOND)
