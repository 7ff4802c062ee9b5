"""The aiohttp application: routes, middlewares and the backend's lifecycle."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator

from aiohttp import web

from batchrelay.emulator import routes_queues, routes_topics, xml
from batchrelay.emulator.backend import CERT_PATH, Backend
from batchrelay.emulator.config import EmulatorConfig
from batchrelay.emulator.context import BACKEND, backend, no_content, xml_response
from batchrelay.emulator.middleware import mns_auth, mns_errors, mns_faults
from batchrelay.emulator.queues import Clock
from batchrelay.emulator.routes_openapi import OPENAPI, openapi_for, openapi_gateway
from batchrelay.emulator.signing import Signer

_misc = web.RouteTableDef()


@_misc.get(CERT_PATH)
async def certificate(request: web.Request) -> web.Response:
    """The PEM certificate whose key signs HTTP pushes (x-mns-signing-cert-url)."""
    return web.Response(
        body=backend(request).signer.cert_pem, content_type="application/x-pem-file"
    )


@_misc.get("/")
async def get_account_attributes(request: web.Request) -> web.Response:
    """GetAccountAttributes (``/?accountmeta=true``): no logging bucket is ever set."""
    return xml_response(xml.document("Account", xml.elements([("LoggingBucket", "")])))


@_misc.put("/")
async def set_account_attributes(request: web.Request) -> web.Response:
    return no_content()


def create_app(
    config: EmulatorConfig,
    *,
    rng: random.Random | None = None,
    clock: Clock | None = None,
    signer: Signer | None = None,
) -> web.Application:
    """An application serving the MNS REST API subset batchrelay relies on.

    ``rng`` drives faults and retry jitter (default: seeded with ``config.seed``);
    ``signer`` lets tests reuse one RSA key instead of generating one per app.
    """
    state = Backend(
        config,
        rng=rng or random.Random(config.seed),  # faults and jitter, not secrets
        clock=clock or time.time,
        signer=signer,
    )
    app = web.Application(
        middlewares=[openapi_gateway, mns_errors, mns_auth, mns_faults],
        client_max_size=config.max_body,
    )
    app[BACKEND] = state
    app[OPENAPI] = openapi_for(config, clock or time.time)  # IMM and ICE, on the same port
    app.add_routes(routes_queues.routes)
    app.add_routes(routes_topics.routes)
    app.add_routes(_misc)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_stop_polls)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[BACKEND]
    await state.start()
    yield
    await state.close()


async def _stop_polls(app: web.Application) -> None:
    # Runs before aiohttp waits for in-flight handlers: long polls answer at once.
    app[BACKEND].stop_polls()
