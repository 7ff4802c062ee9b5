"""The emulator's signed topic pushes reach /ingest/mns: accepted, and 403 when tampered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from mns.account import Account
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMessage, TopicMeta

from batchrelay.emulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
    running_emulator,
)

from ..conftest import SettingsFactory, sample


class Relay:
    """Forwards each push to the daemon, optionally altered, and remembers the answers.

    It stands where a reverse proxy would: MNS signs the path it calls (the relay's), so
    the daemon is told that URL as ``ingress.mns_push.public_url``.
    """

    def __init__(self, alter: Callable[[bytes], bytes]) -> None:
        self.target = ""
        self.alter = alter
        self.answers: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = self.alter(await request.read())
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")
        }
        async with (
            ClientSession() as session,
            session.post(self.target, data=body, headers=headers) as resp,
        ):
            self.answers.append(resp.status)
            return web.Response(status=resp.status, body=await resp.read())


def subscribe_and_publish(endpoint: str, topic: str, push_url: str, body: str) -> None:
    account = Account(endpoint, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    account.get_topic(topic).create(TopicMeta())
    account.get_subscription(topic, "relay").subscribe(
        SubscriptionMeta(push_url, notify_content_format="XML")
    )
    account.get_topic(topic).publish_message(TopicMessage(body))
    account.mns_client.http.conn.close()


async def push_through(
    make_settings: SettingsFactory, start_daemon: Any, alter: Callable[[bytes], bytes]
) -> tuple[Relay, Any]:
    config = EmulatorConfig(port=0, retry_scale=0.001, legacy_cert=True)
    relay = Relay(alter)
    app = web.Application()
    app.router.add_post("/notifications", relay.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    push_url = str(server.make_url("/notifications"))
    async with running_emulator(config) as emu:
        prefix = emu.cert_url.rsplit("/", 1)[0] + "/"
        mns_push = {"cert_url_prefixes": [prefix], "public_url": push_url}
        daemon = await start_daemon(make_settings(ingress={"mns_push": mns_push}))
        relay.target = str(daemon.make_url("/ingest/mns"))
        try:
            body = sample("imm-task-mns-queue.json").decode()
            await asyncio.to_thread(subscribe_and_publish, emu.url, "t", push_url, body)
            async with asyncio.timeout(20):
                while not relay.answers:
                    await asyncio.sleep(0.05)
            await emu.drain_pushes()
        finally:
            await server.close()
    return relay, daemon


async def test_emulator_push_is_verified_and_committed(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    relay, daemon = await push_through(make_settings, start_daemon, lambda body: body)
    assert relay.answers[0] == 204
    batch = await (
        await daemon.get("/api/v1/batches/batch-7c1d2e3f-0a1b-4c2d-8e9f-001122334455")
    ).json()
    assert batch["task_counts"] == {"succeeded": 1}


async def test_tampered_emulator_push_is_403(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    relay, daemon = await push_through(
        make_settings, start_daemon, lambda body: body.replace(b"Succeeded", b"Failed")
    )
    assert relay.answers and set(relay.answers) == {403}
    page = await (await daemon.get("/api/v1/batches")).json()
    assert page["batches"] == []
