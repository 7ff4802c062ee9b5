"""``POST /-/reload``: read the config file again and apply it, as SIGHUP does.

It is a write (``access.py``): ``Authorization: Bearer <api.token>``. The answer is 200 with
the settings that changed but need a restart (the rest applied), or 400 with the messages
``batchrelay check-config`` prints for the file, the running config kept (503 while the
daemon starts or stops). What a reload swaps is decided above the HTTP layer
(``reload.py``); this module only asks for it, and lets the routes read what a reload
replaced (:func:`swap`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from batchrelay.http import alerts
from batchrelay.http.access import ACCESS, AccessConfig
from batchrelay.http.common import error_response
from batchrelay.routing.inhibit import InhibitRule


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one reload did: applied (``errors`` empty) or refused, and what waits for a
    restart."""

    errors: Sequence[str] = ()
    needs_restart: Sequence[str] = ()
    busy: bool = False  # refused for now (starting or stopping), not for the config

    @property
    def ok(self) -> bool:
        return not self.errors


Reload = Callable[[], Coroutine[Any, Any, ReloadOutcome]]
RELOAD: web.AppKey[Reload] = web.AppKey("reload")


def routes() -> list[web.RouteDef]:
    return [web.post("/-/reload", reload)]


async def reload(request: web.Request) -> web.Response:
    run = request.app.get(RELOAD)
    if run is None:
        return error_response(404, "not_configured", "this server has no config to reload")
    # A client that hangs up must not leave a reload half applied.
    outcome = await asyncio.shield(run())
    if outcome.busy:
        return error_response(503, "not_ready", "; ".join(outcome.errors))
    if not outcome.ok:
        return web.json_response(
            {"error": "invalid_config", "detail": "; ".join(outcome.errors),
             "messages": list(outcome.errors)},
            status=400,
        )  # fmt: skip
    return web.json_response({"status": "reloaded", "needs_restart": list(outcome.needs_restart)})


def swap(app: web.Application, access: AccessConfig, inhibit_rules: Sequence[InhibitRule]) -> None:
    """Let the routes of ``app`` read the reloaded access rules and inhibit rules."""
    app[ACCESS].replace(access)
    app[alerts.ALERTS].inhibit_rules = inhibit_rules
