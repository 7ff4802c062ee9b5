"""Run the emulator inside a test or tool: ``async with running_emulator(config) as emu``."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from batchrelay.emulator.app import create_app
from batchrelay.emulator.attributes import QueueAttributes
from batchrelay.emulator.backend import Backend
from batchrelay.emulator.cloud import CloudState
from batchrelay.emulator.config import EmulatorConfig
from batchrelay.emulator.context import BACKEND
from batchrelay.emulator.push import PushAttempt
from batchrelay.emulator.queues import Clock, Message, QueueCounts
from batchrelay.emulator.routes_openapi import OPENAPI
from batchrelay.emulator.signing import Signer

# Long polls end at once on shutdown, so in-flight requests finish well within this.
SHUTDOWN_TIMEOUT = 2.0


@dataclass(frozen=True)
class RunningEmulator:
    """A started emulator: where to reach it, and direct access to its state.

    The helpers touch state directly, so call them from the event loop's thread (not from
    inside an ``asyncio.to_thread`` call that drives the SDK).
    """

    url: str
    backend: Backend
    cloud: CloudState  # IMM batches and triggers, ICE batch jobs (the OpenAPI's records)

    @property
    def cert_url(self) -> str:
        """Where the push-signing certificate is served; allow-list it in receivers."""
        return self.backend.cert_url

    @property
    def cert_pem(self) -> bytes:
        return self.backend.signer.cert_pem

    @property
    def account_id(self) -> str:
        return self.backend.config.account_id

    @property
    def region(self) -> str:
        return self.backend.config.region

    def queue_endpoint(self, queue: str) -> str:
        """``acs:mns:{region}:{account}:queues/{queue}``, to subscribe a queue to a topic."""
        return self.backend.queue_endpoint(queue)

    def create_queue(self, name: str, attributes: QueueAttributes | None = None) -> None:
        self.backend.create_queue(name, attributes or QueueAttributes())

    def send(self, queue: str, body: str, delay: int | None = None) -> Message:
        """Enqueue a raw (not base64-encoded) body without going through HTTP."""
        return self.backend.queue(queue).send(body, delay)

    def counts(self, queue: str) -> QueueCounts:
        return self.backend.queue(queue).counts()

    def messages(self, queue: str) -> list[Message]:
        """Every live message of ``queue`` in arrival order (visible, in flight, delayed)."""
        return self.backend.queue(queue).snapshot()

    @property
    def push_attempts(self) -> list[PushAttempt]:
        return list(self.backend.pusher.attempts)

    async def drain_pushes(self) -> None:
        """Wait until every HTTP push has succeeded or given up (bound it by a timeout)."""
        await self.backend.pusher.drain()


@asynccontextmanager
async def running_emulator(
    config: EmulatorConfig | None = None,
    *,
    rng: random.Random | None = None,
    clock: Clock | None = None,
    signer: Signer | None = None,
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator on ``config.host:config.port`` until the block ends.

    With ``port=0`` a free port is picked; ``emu.url`` tells which.
    """
    config = config or EmulatorConfig(port=0)
    app = create_app(config, rng=rng, clock=clock, signer=signer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        state = app[BACKEND]
        state.base_url = config.base_url(port=runner.addresses[0][1])
        yield RunningEmulator(state.base_url, state, app[OPENAPI].cloud)
    finally:
        await runner.cleanup()
