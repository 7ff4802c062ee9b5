"""The ``null`` receiver: where a route sends what nobody needs to hear about.

``route: {receiver: nowhere}`` with ``nowhere: {type: "null"}`` makes the route tree send
only what its child routes match ("failed tasks to DingTalk, nothing else"). What is routed
to a null receiver is dropped as it is routed, before anything is written to the outbox,
and counted in ``batchrelay_dropped_total{receiver}``; should a notification still reach
this notifier (an alert rule naming it with no routing section), it is accepted and
nothing is sent. YAML reads a bare ``null`` as "nothing", so ``type: null`` works as well
as ``type: "null"``.
"""

from __future__ import annotations

import aiohttp

from batchrelay.notifiers.base import Notification
from batchrelay.notifiers.config import NullConfig


class NullNotifier:
    kind = "null"

    def __init__(self, name: str, config: NullConfig, session: aiohttp.ClientSession) -> None:
        self.name = name
        self.config = config

    async def send(self, notification: Notification) -> None:
        return None

    async def close(self) -> None:
        return None
