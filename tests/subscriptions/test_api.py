"""The subscription API against the whole daemon in-process: shapes, access, bad input,
and deliveries verified by the reference Standard Webhooks library."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes import running_sink

from .support import AUTH, LOCAL, TOKEN, Subscriber, failed, running_batch

BASE = "/api/v1/subscriptions"


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    async with running_sink(Subscriber()) as sub:
        yield sub


@pytest.fixture
async def relay(make_settings: Any, start_daemon: Any) -> Any:
    settings = make_settings(api={"token": TOKEN}, subscriptions=LOCAL, delivery={"tick": 0.05})
    return await start_daemon(settings)


async def create(relay: Any, body: dict[str, Any]) -> dict[str, Any]:
    resp = await relay.post(BASE, json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    created: dict[str, Any] = await resp.json()
    return created


async def push(relay: Any, *bodies: bytes) -> None:
    for body in bodies:
        resp = await relay.post("/ingest/eventbridge", data=body)
        assert resp.status == 200, await resp.text()


async def test_create_answers_the_secret_once(relay: Any, subscriber: Subscriber) -> None:
    created = await create(relay, {"url": subscriber.url, "description": "cms"})
    assert created["id"].startswith("sub_") and created["secret"].startswith("whsec_")
    assert created["enabled"] is True and created["filter"] == {}
    shown = await (await relay.get(f"{BASE}/{created['id']}")).json()
    listed = (await (await relay.get(BASE)).json())["subscriptions"]
    assert "secret" not in shown and [s["id"] for s in listed] == [created["id"]]
    assert shown["description"] == "cms"


async def test_a_given_secret_is_kept(relay: Any, subscriber: Subscriber) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    created = await create(relay, {"url": subscriber.url, "secret": secret})
    assert created["secret"] == secret


async def test_every_delivery_verifies_and_the_filter_narrows(
    relay: Any, subscriber: Subscriber
) -> None:
    created = await create(relay, {"url": subscriber.url, "filter": {"status": ["failed"]}})
    subscriber.secrets.append(created["secret"])
    await push(relay, failed(1), running_batch(2, "b-2"), failed(3, "b-3"))
    await subscriber.wait_for(2)
    await asyncio.sleep(0.3)  # nothing else comes
    assert sorted(subscriber.event_ids()) == ["e1", "e3"]  # type: ignore[type-var]
    [first] = [r for r in subscriber.received if r.event_id == "e1"]
    assert first.body["type"] == "batch.failed"
    assert first.body["data"]["event"]["batch_key"] == "b-1"
    assert first.body["data"]["batch"]["batch_key"] == "b-1"
    assert first.body["data"]["subscription"] == created["id"]
    assert subscriber.unverified == 0


async def test_kinds_narrow_too(relay: Any, subscriber: Subscriber) -> None:
    created = await create(relay, {"url": subscriber.url, "kinds": ["task"]})
    other = await create(relay, {"url": subscriber.url, "kinds": ["batch"]})
    subscriber.secrets += [created["secret"], other["secret"]]
    await push(relay, failed(1))
    await subscriber.wait_for(1)
    await asyncio.sleep(0.3)
    [only] = subscriber.received
    assert only.verified_by == {other["secret"]}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "url: Field required"),
        ({"url": "http://127.0.0.1/x", "filter": {"nope": ["x"]}}, "filter.nope"),
        ({"url": "http://127.0.0.1/x", "filter": {"status": ["failedd"]}}, "filter.status"),
        ({"url": "http://127.0.0.1/x", "kinds": ["tasks"]}, "kinds[0]"),
        ({"url": "http://127.0.0.1/x", "secret": "plain"}, "secret: must start with"),
        ({"url": "http://127.0.0.1/x", "colour": "red"}, "colour: unknown field"),
        ({"url": "http://127.0.0.1/x", "headers": {"webhook-id": "x"}}, "headers"),
        ({"url": "ftp://example.com/x"}, "url: must be an absolute"),
        ({"url": "http://10.1.2.3/x"}, "internal address"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "internal address"),
        ({"url": "http://user:pw@127.0.0.1/x"}, "credentials"),
    ],
)
async def test_bad_bodies_get_a_clear_400(relay: Any, body: Any, words: str) -> None:
    resp = await relay.post(BASE, json=body, headers=AUTH)
    assert resp.status == 400, await resp.text()
    assert words in (await resp.json())["detail"]


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"Authorization": "Bearer x"}, 403)])
async def test_changes_need_the_token(relay: Any, headers: Any, status: int) -> None:
    assert (await relay.post(BASE, json={"url": "http://127.0.0.1/"}, headers=headers)).status == (
        status
    )
    assert (await relay.delete(f"{BASE}/sub_x", headers=headers)).status == status


async def test_update_delete_and_unknown_ids(relay: Any, subscriber: Subscriber) -> None:
    created = await create(relay, {"url": subscriber.url})
    url = f"{BASE}/{created['id']}"
    resp = await relay.patch(url, json={"description": "v2", "kinds": ["batch"]}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["description"] == "v2"
    assert (await relay.delete(url, headers=AUTH)).status == 204
    assert (await relay.get(url)).status == 404
    assert (await relay.patch(url, json={}, headers=AUTH)).status == 404
    assert (await relay.post(f"{url}/test", headers=AUTH)).status == 404


async def test_the_test_ping_is_signed_and_answered(relay: Any, subscriber: Subscriber) -> None:
    created = await create(relay, {"url": subscriber.url})
    subscriber.secrets.append(created["secret"])
    resp = await relay.post(f"{BASE}/{created['id']}/test", headers=AUTH)
    answer = await resp.json()
    assert resp.status == 200 and answer["ok"] is True and answer["status"] == 200, answer
    assert answer["body"] == "ok" and answer["latency_ms"] >= 0
    [ping] = subscriber.received
    assert ping.body["type"] == "ping" and ping.msg_id == answer["message_id"]
    subscriber.status = 503
    answer = await (await relay.post(f"{BASE}/{created['id']}/test", headers=AUTH)).json()
    assert answer["ok"] is False and answer["status"] == 503
    assert "on purpose" in answer["body"]


async def test_a_token_in_the_url_is_not_shown(relay: Any, subscriber: Subscriber) -> None:
    created = await create(relay, {"url": f"{subscriber.url}?token=abcdef123456"})
    subscriber.secrets.append(created["secret"])
    listed = await (await relay.get(BASE)).text()
    assert "abcdef123456" not in listed and "abcdef123456" not in str(created)
    assert created["url"] == f"{subscriber.url}?<redacted>"
    await push(relay, failed(1))
    await subscriber.wait_for(1)  # it is still sent to the URL as given
