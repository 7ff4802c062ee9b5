"""Alerts and silences over HTTP.

``GET /api/v1/alerts``            ?state=pending|firing|resolved &batch_key= &rule=
``GET /api/v1/silences``          ?state=active|pending|expired
``POST /api/v1/silences``         bearer token; JSON body, see :func:`silence_from_body`
``DELETE /api/v1/silences/{id}``  bearer token; ends the silence now

Each alert is its stored state plus ``silenced_by`` (ids of the silences muting it now)
and ``inhibited`` (a firing alert mutes it). A silence is shown with its ``state`` now.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from batchrelay.http.common import BadQuery, authorized, error_response, json_body
from batchrelay.routing.inhibit import InhibitRule, inhibited
from batchrelay.routing.silences import Silence, silenced_by
from batchrelay.routing.tree import parse_duration
from batchrelay.store.contracts import AlertState, AlertStore

ALERT_STATES = ("pending", "firing", "resolved")
SILENCE_STATES = ("active", "pending", "expired")
MAX_SILENCE = timedelta(days=365)


@dataclass(slots=True)
class AlertsApi:  # inhibit_rules is replaced on reload
    store: AlertStore
    inhibit_rules: Sequence[InhibitRule] = ()
    clock: Callable[[], float] = time.time

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


ALERTS: web.AppKey[AlertsApi] = web.AppKey("alerts", AlertsApi)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/alerts", list_alerts),
        web.get("/api/v1/silences", list_silences),
        web.post("/api/v1/silences", create_silence),
        web.delete("/api/v1/silences/{id}", expire_silence),
    ]


def silence_state(silence: Silence, now: datetime) -> str:
    if silence.ends_at <= now:
        return "expired"
    return "active" if silence.starts_at <= now else "pending"


def silence_json(silence: Silence, now: datetime) -> dict[str, Any]:
    return {**silence.to_dict(), "state": silence_state(silence, now)}


def alert_json(
    alert: AlertState,
    silences: Sequence[Silence],
    firing: Sequence[Mapping[str, str]],
    rules: Sequence[InhibitRule],
    now: datetime,
) -> dict[str, Any]:
    return {
        **alert.to_dict(),
        "silenced_by": silenced_by(alert.labels, silences, now),
        "inhibited": inhibited(alert.labels, firing, rules),
    }


def _choice(query: Mapping[str, str], name: str, allowed: Sequence[str]) -> str | None:
    value = query.get(name) or None
    if value is not None and value not in allowed:
        raise BadQuery(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    return value


async def list_alerts(request: web.Request) -> web.Response:
    api = request.app[ALERTS]
    state = _choice(request.query, "state", ALERT_STATES)
    batch_key = request.query.get("batch_key") or None
    rule = request.query.get("rule") or None
    now = api.now()
    alerts = await api.store.alerts(state, batch_key, rule)
    silences = await api.store.silences(ended_after=now)
    firing = [a.labels for a in await api.store.alerts("firing")] if api.inhibit_rules else []
    body = [alert_json(a, silences, firing, api.inhibit_rules, now) for a in alerts]
    return web.json_response({"alerts": body})


async def list_silences(request: web.Request) -> web.Response:
    api = request.app[ALERTS]
    state = _choice(request.query, "state", SILENCE_STATES)
    now = api.now()
    shown = [silence_json(s, now) for s in await api.store.silences()]
    return web.json_response({"silences": [s for s in shown if state in (None, s["state"])]})


async def create_silence(request: web.Request) -> web.Response:
    refused = authorized(request)
    if refused is not None:
        return refused
    api = request.app[ALERTS]
    body = await json_body(request)  # a BadQuery is a 400
    now = api.now()
    try:
        silence = silence_from_body(body, now, uuid.uuid4().hex)
    except ValueError as exc:
        return error_response(400, "bad_request", str(exc))
    except OverflowError:  # a duration or a time past what a datetime holds
        return error_response(400, "bad_request", "a time or duration is out of range")
    await api.store.put_silence(silence, now)
    return web.json_response({"silence": silence_json(silence, now)}, status=201)


async def expire_silence(request: web.Request) -> web.Response:
    refused = authorized(request)
    if refused is not None:
        return refused
    api = request.app[ALERTS]
    silence = await api.store.silence(request.match_info["id"])
    if silence is None:
        return error_response(404, "not_found", "no silence with that id")
    now = api.now()
    expired = silence.expire(now)
    await api.store.put_silence(expired, now)
    return web.json_response({"silence": silence_json(expired, now)})


def silence_from_body(body: Any, now: datetime, silence_id: str) -> Silence:
    """A new silence from a request body (also the CLI's), or ``ValueError`` saying why.

    ``matchers``: a list of ``'name="value"'`` strings or ``[name, op, value]`` lists;
    ``ends_at`` (ISO 8601) or ``duration`` (``"2h"``); optional ``starts_at`` (default
    now), ``batch_key``, ``expire_on_batch_close``; ``created_by`` and ``comment``.
    """
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - {"matchers", "starts_at", "ends_at", "duration", "created_by",
                           "comment", "batch_key", "expire_on_batch_close"}  # fmt: skip
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    matchers = body.get("matchers", [])
    if not isinstance(matchers, list) or not all(map(_is_matcher, matchers)):
        raise ValueError('matchers must be a list of strings (name="value") or [name, op, value]')
    batch_key = _optional_str(body, "batch_key")
    if batch_key is not None and not matchers:
        matchers = [["batch_key", "=", batch_key]]  # a batch silence: everything about it
    starts_at = _time(body, "starts_at") or now
    ends_at = _time(body, "ends_at")
    duration = _optional_str(body, "duration")
    if (ends_at is None) == (duration is None):
        raise ValueError("give exactly one of ends_at and duration")
    if duration is not None:
        ends_at = starts_at + timedelta(seconds=_duration(duration))
    assert ends_at is not None  # one of the two was given
    if ends_at - starts_at > MAX_SILENCE:
        raise ValueError("a silence may last at most 365 days")
    expire = body.get("expire_on_batch_close", False)
    if not isinstance(expire, bool):
        raise ValueError("expire_on_batch_close must be true or false")
    return Silence.create(
        id=silence_id,
        matchers=[tuple(m) if isinstance(m, list) else m for m in matchers],
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=_optional_str(body, "created_by") or "",
        comment=_optional_str(body, "comment") or "",
        now=now,
        batch_key=batch_key,
        expire_on_batch_close=expire,
    )


def _is_matcher(value: Any) -> bool:
    if isinstance(value, list):
        return len(value) == 3 and all(isinstance(part, str) for part in value)
    return isinstance(value, str)


def _optional_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _time(body: Mapping[str, Any], name: str) -> datetime | None:
    text = _optional_str(body, name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} is not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} needs a time zone (for example Z)")
    return moment


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ValueError(f"duration is not a duration such as 30m or 2h: {text!r}") from None
    if seconds <= 0:
        raise ValueError("duration must be longer than zero")
    return seconds
