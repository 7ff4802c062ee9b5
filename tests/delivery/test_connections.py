"""Each receiver sends over its own pool of keep-alive connections, at most the dispatcher's
``max_in_flight`` open: a real HTTP sink counts the connections every receiver opened."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from batchrelay.app import running_receivers
from batchrelay.config import Settings
from batchrelay.notifiers.base import Notification
from tests.fakes import running_sink


@dataclass
class PeerSink:
    """Answers 200 a little later; notes the client port of each request, by receiver."""

    url: str = ""
    peers: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    requests: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        _, port = request.transport.get_extra_info("peername")[:2]  # type: ignore[union-attr]
        self.peers[request.query["r"]].add(port)
        self.requests += 1
        await asyncio.sleep(0.01)  # so that sends overlap
        return web.Response(status=200)


def note(n: int, receiver: str) -> Notification:
    return Notification(id=f"n{n}", receiver=receiver, route="root", group_key="g",
                        events=[], created_at=datetime.now(UTC))  # fmt: skip


async def test_each_receiver_reuses_its_own_bounded_pool_of_connections() -> None:
    async with running_sink(PeerSink()) as sink:
        settings = Settings.model_validate({
            "receivers": {name: {"type": "webhook", "url": f"{sink.url}?r={name}"}
                          for name in ("busy", "quiet")},
            "delivery": {"max_in_flight": 3},
        })  # fmt: skip
        async with running_receivers(settings) as notifiers:
            sends = [notifiers["busy"].send(note(n, "busy")) for n in range(40)]
            sends += [notifiers["quiet"].send(note(n, "quiet")) for n in range(2)]
            await asyncio.gather(*sends)
    assert sink.requests == 42
    assert 1 <= len(sink.peers["busy"]) <= 3  # kept alive and reused, never more than 3
    assert sink.peers["busy"].isdisjoint(sink.peers["quiet"])  # pools are not shared
