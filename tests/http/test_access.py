"""Who may call what: writes need ``Bearer <api.token>``, reads the read token (or a user,
or the dashboard's session) when one is set. Routes are enumerated from the router, so a
route added later is held to the same rules without a test of its own."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from typing import Any

import bcrypt
import pytest

from batchrelay.sources.ice_auth import signature as ice_signature
from tests.conftest import SettingsFactory
from tests.rawhttp import request, send

TOKEN = "write-token-0123"
READ = "read-token-4567"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPEN_PATHS = {"/healthz", "/readyz", "/-/healthy", "/-/ready", "/-/login"}
SAFE = {"GET", "HEAD", "OPTIONS"}


def concrete(path: str) -> str:
    """A route's path with each {placeholder} filled in."""
    return re.sub(r"\{[^}]+\}", lambda m: "batches.js" if "name" in m[0] else "x", path)


def routes(client: Any, *, writes: bool) -> list[tuple[str, str]]:
    found = set()
    for route in client.app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        if info.startswith("/ingest/") or info in OPEN_PATHS or route.method == "HEAD":
            continue
        if (route.method not in SAFE) == writes:
            found.add((route.method, concrete(info)))
    return sorted(found)


@pytest.fixture
async def relay(make_settings: SettingsFactory, start_daemon: Any) -> Any:
    return await start_daemon(make_settings(api={"token": TOKEN}))


@pytest.fixture
async def closed(make_settings: SettingsFactory, start_daemon: Any) -> Any:
    hashed = bcrypt.hashpw(b"pa55word", bcrypt.gensalt(rounds=4)).decode()
    api = {"token": TOKEN, "read_token": READ, "read_users": {"ops": hashed}}
    return await start_daemon(make_settings(api=api))


# --- writes: Bearer <token> and nothing else (defects 2 and 4) -----------------------------


async def test_every_write_route_refuses_a_bare_token(relay: Any) -> None:
    writes = routes(relay, writes=True)
    assert ("POST", "/api/v1/silences") in writes
    for method, path in writes:
        for header in ({}, {"Authorization": TOKEN}, {"Authorization": f"Token {TOKEN}"}):
            resp = await relay.request(method, path, data=b"{}", headers=header)
            assert resp.status == 401, (method, path, header)
        resp = await relay.request(method, path, data=b"{}", headers={"Authorization": "Bearer x"})
        assert resp.status == 403, (method, path)


@pytest.mark.parametrize(
    "value", [b"Bearer \xff\xfe", b"\xc3\x28", b"Bearer", b"Bearer a b", b"Basic \xff"]
)
async def test_every_write_route_answers_a_malformed_authorization_with_4xx(
    relay: Any, value: bytes
) -> None:
    for method, path in routes(relay, writes=True):
        answer = await send(
            relay.server.port, request(method, path, [(b"Authorization", value)], b"{}")
        )
        assert answer.status in (400, 401), (method, path, answer)
        assert TOKEN.encode() not in answer.body


async def test_mutating_calls_are_refused_without_a_configured_token(daemon: Any) -> None:
    resp = await daemon.post("/api/v1/silences", data=b"{}", headers=AUTH)
    assert resp.status == 403


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"matchers": [], "duration": "9" * 400 + "s"}).encode(),
        json.dumps({"matchers": [], "duration": "9" * 400}).encode(),
        json.dumps({"starts_at": "9999-12-31T00:00:00Z", "duration": "2d"}).encode(),
        json.dumps(
            {
                "starts_at": "9999-12-31T00:00:00+00:00",
                "ends_at": "9999-12-31T23:00Z",
                "batch_key": "b",
            }
        ).encode(),
        b"\xff\xfe{}",
    ],
)
async def test_hostile_silence_bodies_are_400(relay: Any, body: bytes) -> None:
    resp = await relay.post("/api/v1/silences", data=body, headers=AUTH)
    assert resp.status in (400, 201), await resp.text()  # a far-future silence may be valid
    assert resp.status != 500


# --- reads ---------------------------------------------------------------------------------


async def test_reads_are_open_by_default(relay: Any) -> None:
    for method, path in routes(relay, writes=False):
        if path == "/api/v1/stream":
            continue  # a stream that never ends; see test_the_stream_needs_the_read_token
        resp = await relay.request(method, path)
        assert resp.status != 401, (method, path)


async def test_every_read_route_refuses_without_the_read_token(closed: Any) -> None:
    reads = routes(closed, writes=False)
    assert {"/api/v1/quarantine", "/metrics", "/", "/api/v1/stream"} <= {p for _, p in reads}
    for method, path in reads:
        resp = await closed.request(method, path)
        assert resp.status == 401, (method, path)
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
        for wrong in ({"Authorization": "Bearer nope"}, basic("ops", "wrong")):
            assert (await closed.request(method, path, headers=wrong)).status == 401


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    "header", [{"Authorization": f"Bearer {READ}"}, {"Authorization": f"Bearer {TOKEN}"}]
)
async def test_the_read_token_or_the_write_token_opens_every_read(
    closed: Any, header: dict[str, str]
) -> None:
    for method, path in routes(closed, writes=False):
        if path == "/api/v1/stream":
            continue
        resp = await closed.request(method, path, headers=header)
        assert resp.status not in (401, 403), (method, path)


async def test_a_user_with_a_bcrypt_hash_may_read(closed: Any) -> None:
    resp = await closed.get("/api/v1/quarantine", headers=basic("ops", "pa55word"))
    assert resp.status == 200
    assert (await closed.get("/metrics", headers=basic("ops", "pa55word"))).status == 200
    assert (await closed.get("/metrics", headers=basic("nobody", "pa55word"))).status == 401
    # a read credential is never a write credential
    resp = await closed.post("/api/v1/silences", data=b"{}", headers=basic("ops", "pa55word"))
    assert resp.status == 401


async def test_surfaces_can_be_left_open(make_settings: SettingsFactory, start_daemon: Any) -> None:
    api = {"read_token": READ, "open_reads": ["metrics", "dashboard"]}
    client = await start_daemon(make_settings(api=api))
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/")).status == 200
    assert (await client.get("/static/dashboard/batches.js")).status == 200
    assert (await client.get("/api/v1/batches")).status == 401


async def test_the_dashboard_logs_in_with_the_read_token(closed: Any) -> None:
    page = await closed.get("/alerts?x=1", headers={"Accept": "text/html"})
    assert page.status == 401
    text = await page.text()
    assert 'action="/-/login"' in text and 'value="/alerts?x=1"' in text
    wrong = await closed.post("/-/login", data={"token": "nope", "next": "/alerts"})
    assert wrong.status == 401
    resp = await closed.post(
        "/-/login", data={"token": READ, "next": "/alerts"}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == "/alerts"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert READ not in cookie
    # the client keeps the cookie: pages, static files, the API and the stream open
    assert (await closed.get("/alerts")).status == 200
    assert (await closed.get("/static/dashboard/alerts.js")).status == 200
    assert (await closed.get("/api/v1/alerts")).status == 200
    async with closed.get("/api/v1/stream") as stream:
        assert stream.status == 200
        first = await asyncio.wait_for(stream.content.readuntil(b"event: hello"), 5)
        assert first.endswith(b"event: hello")
    # but a session is never enough for a write
    assert (await closed.post("/api/v1/silences", data=b"{}")).status == 401


async def test_login_redirects_only_within_the_site(closed: Any) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        resp = await closed.post(
            "/-/login", data={"token": READ, "next": target}, allow_redirects=False
        )
        assert resp.headers["Location"] == "/"


async def test_the_stream_needs_the_read_token(closed: Any) -> None:
    assert (await closed.get("/api/v1/stream")).status == 401
    async with closed.get("/api/v1/stream", headers={"Authorization": f"Bearer {READ}"}) as s:
        assert s.status == 200


# --- 3. a quarantined ICE push cannot be replayed from the API ----------------------------


async def test_a_quarantined_ice_push_cannot_be_replayed(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    url = "https://relay.example.com/ingest/ice"
    client = await start_daemon(
        make_settings(
            api={"read_token": READ},
            ingress={"ice": {"auth_key": "Test123Key", "callback_url": url}},
        )
    )
    stamp = str(int(time.time()))
    signed = {"X-ICE-TIMESTAMP": stamp, "X-ICE-SIGNATURE": ice_signature(url, stamp, "Test123Key")}
    resp = await client.post("/ingest/ice", data=b"{not json", headers=signed)
    assert resp.status == 400
    # without the read token the quarantine is not there to read
    assert (await client.get("/api/v1/quarantine")).status == 401
    page = await client.get("/api/v1/quarantine", headers={"Authorization": f"Bearer {READ}"})
    [record] = (await page.json())["quarantine"]
    assert signed["X-ICE-SIGNATURE"] not in json.dumps(record)
    assert stamp not in json.dumps(record["headers"])
    # what the API shows does not sign a forged body
    forged = json.dumps({"EventType": "ProduceMediaComplete", "MessageBody": "{}"}).encode()
    replay = await client.post("/ingest/ice", data=forged, headers=record["headers"])
    assert replay.status == 403
    assert hashlib.md5(forged).hexdigest() not in json.dumps(record)
