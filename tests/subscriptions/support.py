"""What the subscription tests share: a subscriber that verifies every delivery with the
``standardwebhooks`` reference library, and the calls that make a subscription."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.test_alerts_e2e import batch_event

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LOCAL = {"allow_http": True, "allowed_networks": ["127.0.0.0/8"]}

__all__ = ["AUTH", "LOCAL", "TOKEN", "Received", "Subscriber", "batch_event"]


@dataclass(frozen=True)
class Received:
    """One verified delivery: its ``webhook-id``, body, and which secrets verified it."""

    msg_id: str
    body: dict[str, Any]
    verified_by: frozenset[str]
    signatures: int

    @property
    def event_id(self) -> str | None:
        event = self.body["data"]["event"]
        return event["event_id"] if event else None


@dataclass
class Subscriber:
    """A subscriber endpoint on 127.0.0.1. Each request is verified against every secret
    in ``secrets`` (the reference library); none verifying is a 401 and a test failure.
    It answers ``status`` (200 unless a test changes it)."""

    secrets: list[str] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0  # seconds per request: sends are in flight for a moment
    received: list[Received] = field(default_factory=list)
    unverified: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = dict(request.headers)
        verified = set()
        for secret in self.secrets:
            try:
                Webhook(secret).verify(raw, headers)
            except WebhookVerificationError:
                continue
            verified.add(secret)
        if not verified:
            self.unverified += 1
            return web.Response(status=401, text="no signature verified")
        if self.status >= 300:
            return web.Response(status=self.status, text=f"answering {self.status} on purpose")
        signatures = len(headers["webhook-signature"].split(" "))
        self.received.append(
            Received(headers["webhook-id"], json.loads(raw), frozenset(verified), signatures)
        )
        return web.Response(status=200, text="ok")

    def event_ids(self) -> list[str | None]:
        return [r.event_id for r in self.received]

    def ids_by_event(self) -> dict[str | None, set[str]]:
        """event_id -> the webhook-ids it arrived under (one, however often it came)."""
        found: dict[str | None, set[str]] = {}
        for r in self.received:
            found.setdefault(r.event_id, set()).add(r.msg_id)
        return found

    async def wait_for(self, count: int, seconds: float = 20) -> None:
        async with asyncio.timeout(seconds):
            while len(self.received) < count:
                await asyncio.sleep(0.05)


async def create(base: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/api/v1/subscriptions", json=body, headers=AUTH) as resp,
    ):
        assert resp.status == 201, await resp.text()
        created: dict[str, Any] = await resp.json()
        return created


async def push(base: str, *bodies: bytes) -> None:
    async with aiohttp.ClientSession() as session:
        for body in bodies:
            async with session.post(f"{base}/ingest/eventbridge", data=body) as resp:
                assert resp.status == 200, await resp.text()


def failed(n: int, batch: str = "b-1") -> bytes:
    return batch_event(f"e{n}", batch, "Failed", f"2026-11-20T03:{n % 60:02d}:00Z")


def running_batch(n: int, batch: str = "b-1") -> bytes:
    return batch_event(f"e{n}", batch, "Running", f"2026-11-20T03:{n % 60:02d}:00Z")
