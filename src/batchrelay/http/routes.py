"""Every route of the daemon, registered in one place, and the middlewares around them.

:class:`Surface` names what the routes serve; :func:`create_app` builds the aiohttp
application from it. Each resource's handlers live in a module of their own (``batches``,
``deliveries``, ``alerts``, ``quarantine``, ``stream``, ``ingest`` …); what they share is
in ``common``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from batchrelay.cloudapi.actions import BatchActions
from batchrelay.delivery.config import SubscriptionsConfig
from batchrelay.http import (
    access,
    actions,
    alerts,
    apidoc,
    batch_failures,
    batches,
    dashboard,
    deliveries,
    health,
    ingest,
    overview,
    quarantine,
    reload,
    stream,
    subscriptions,
    task_export,
)
from batchrelay.http.access import AccessConfig
from batchrelay.http.common import STORE, bad_requests
from batchrelay.http.limits import BODY_LIMITS, BodyLimits, bodies, last_resort
from batchrelay.http.listener import track
from batchrelay.metrics import Metrics
from batchrelay.routing.inhibit import InhibitRule
from batchrelay.sources.pipeline import Pipeline
from batchrelay.sources.verifiers import Endpoint
from batchrelay.store.base import Store


@dataclass(frozen=True)
class Surface:
    """What the HTTP surface serves: the store (and its outbox and alert state), the
    metrics, the gate that opens ingest, the bounds on bodies, who may read and write, the
    pull sources ``/readyz`` watches, batch actions (when ``sources.imm_api`` is set), and
    the push endpoints feeding ``pipeline``, and the reload ``POST /-/reload`` runs."""

    store: Store
    registry: Metrics
    gate: ingest.Gate
    body: BodyLimits
    access: AccessConfig = field(default_factory=AccessConfig)
    inhibit_rules: Sequence[InhibitRule] = ()
    sources: list[Any] = field(default_factory=list)  # pull sources, with ``.running``
    actions: BatchActions | None = None
    pipeline: Pipeline | None = None
    endpoints: Sequence[Endpoint] = ()
    reload: reload.Reload | None = None  # POST /-/reload
    subscriptions: SubscriptionsConfig | None = None  # None or not enabled: no such routes


def create_app(surface: Surface) -> web.Application:
    """The middlewares run outermost first: the connection's timers stop, the last resort,
    access rules, bounded bodies, bad queries."""
    app = web.Application(
        # client_max_size bounds what request.read() accepts; handlers also check Content-Length
        client_max_size=surface.body.max_bytes,
        middlewares=[track, last_resort, access.guard, bodies, bad_requests],
        # bodies are read as sent: the push endpoints decompress (bounded) themselves, and
        # quarantine what they cannot, byte for byte
        handler_args={"auto_decompress": False},
    )
    store = surface.store
    access.setup(app, surface.access)
    app[BODY_LIMITS] = surface.body
    app[STORE] = store
    app[health.METRICS] = surface.registry
    app[health.GATE] = surface.gate
    app[health.SOURCES] = surface.sources
    app[deliveries.OUTBOX] = store.outbox
    app[alerts.ALERTS] = alerts.AlertsApi(store.alerts, surface.inhibit_rules)
    app[actions.ACTIONS_KEY] = surface.actions
    app[stream.HUB] = stream.Hub()
    app[overview.LATEST] = overview.Latest()
    if surface.reload is not None:
        app[reload.RELOAD] = surface.reload
    app.on_shutdown.append(stream.end_streams)
    for resource in (health, batches, quarantine, deliveries, alerts, actions, overview,
                     batch_failures, task_export, stream, dashboard, apidoc, access,
                     reload):  # fmt: skip
        app.add_routes(resource.routes())
    if surface.subscriptions is not None and surface.subscriptions.enabled:
        subscriptions.setup(app, store.subscriptions, surface.subscriptions)
        app.add_routes(subscriptions.routes())
    if surface.pipeline is not None:
        app.add_routes(ingest.ingest_routes(list(surface.endpoints), surface.pipeline,
                                            surface.gate, surface.body))  # fmt: skip
    return app
