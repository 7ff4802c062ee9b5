"""Hostile bodies and headers against every ingress and every API route of a live daemon.

A seeded generator (the same cases every run, so a failure reproduces) sends a few
thousand requests in all, written byte by byte (non-UTF-8 headers, corrupt encodings).
MNS pushes are signed with a certificate the test serves, so their bodies reach the
decoder. The daemon must answer every one below 500, log no traceback, keep exactly one
quarantine record per 400 at an ingress, be ready at the end, and not grow without bound.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import random
import zlib
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from batchrelay.app import build
from batchrelay.config import from_mapping
from batchrelay.sources.mns_signature import sign_push

from .conftest import SAMPLES
from .livedaemon import Live, live_daemon
from .rawhttp import Answer, request, send
from .sources.support import CertServer, cert_pem, make_key

SEED = 13
CASES_PER_INGRESS = 1200
CASES_PER_API_ROUTE = 150
AT_ONCE = 6
TOKEN = "fuzz-write-token"
RSS_GROWTH_KIB = 200 * 1024  # the store's caches and the allocator's arenas fill up first

HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**64, 1e308, -0.0, "", " ", "x" * 5000, "\u0000", "\ud800",
    "\u202e", "9" * 400, "2026-13-45T99:99:99Z", "1970-01-01T00:00:00Z", "PRC", [], {},
    [[[[[[]]]]]], {"a": {"b": {"c": None}}}, "<x/>", "${ENV}", "{{ 7*7 }}", "%00", "../..",
]  # fmt: skip
RAW_TEXTS = [
    b"", b" ", b"{", b"[", b"[" * 3000, b"{}" * 2000, b'{"a":' * 200, b"1e99999", b"NaN",
    b'"\\ud800"', b'{"x": "\\u0000"}', b"null", b"[]", b"[1,2,3]", b"\xff\xfe\x00",
    b"<Notification/>", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
    b"<Notification xmlns='http://mns.aliyuncs.com/doc/v1/'><Message>e30=</Message></Notification>",
    b"PD94bWw+", b"AAAA====", b"\x1f\x8b\x08\x00garbage", b"\x00" * 100,
]  # fmt: skip
CONTENT_TYPES = [
    b"application/json", b"application/cloudevents+json", b"application/cloudevents-batch+json",
    b"text/xml;charset=utf-8", b"text/plain", b"application/json; charset=\xff", b"",
]  # fmt: skip


def samples() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SAMPLES.iterdir()) if p.suffix in (".json", ".xml")]


def mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict) and value and depth < 6:
        key = rng.choice(list(value))
        copy = dict(value)
        roll = rng.random()
        if roll < 0.3:
            copy[key] = rng.choice(HOSTILE_VALUES)
        elif roll < 0.45:
            del copy[key]
        elif roll < 0.55:
            copy[rng.choice(["specversion", "content", "MessageBody", "Message", "TopicOwner"])] = (
                rng.choice(HOSTILE_VALUES)
            )
        else:
            copy[key] = mutate(rng, value[key], depth + 1)
        return copy
    if isinstance(value, list) and value:
        copy = list(value)
        copy[rng.randrange(len(copy))] = mutate(rng, rng.choice(copy), depth + 1)
        return copy
    if isinstance(value, str) and value.startswith("{") and rng.random() < 0.7:
        try:
            return json.dumps(mutate(rng, json.loads(value), depth + 1))
        except ValueError:
            return value
    return rng.choice(HOSTILE_VALUES) if rng.random() < 0.5 else value


def body(rng: random.Random, bases: list[bytes]) -> bytes:
    roll = rng.random()
    base = rng.choice(bases)
    if roll < 0.1:
        return rng.randbytes(rng.randrange(0, 2000))
    if roll < 0.25:
        return rng.choice(RAW_TEXTS)
    if base.lstrip().startswith(b"<"):
        text = base
        if rng.random() < 0.5:
            text = text.replace(b"<Message>", b"<Message>" + rng.choice(RAW_TEXTS)[:50])
        cut = rng.randrange(len(text) + 1) if rng.random() < 0.3 else len(text)
        return text[:cut]
    value = json.loads(base)
    for _ in range(rng.randrange(1, 5)):
        value = mutate(rng, value)
    if rng.random() < 0.2:
        value = [
            mutate(rng, json.loads(rng.choice(bases[:-1]))) for _ in range(rng.randrange(1, 40))
        ]
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:
        text = text[: rng.randrange(len(text) + 1)]
    if rng.random() < 0.1:
        text = base64.b64encode(text)
    return text


def headers_for(rng: random.Random, payload: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    headers: list[tuple[bytes, bytes]] = []
    if rng.random() < 0.6:
        headers.append((b"Content-Type", rng.choice(CONTENT_TYPES)))
    if rng.random() < 0.15:
        for name in rng.sample([b"id", b"source", b"type", b"specversion", b"time"], 3):
            value = rng.choice(
                [b"1.0", b"x", b"", b"\xff\xfe", b"acs.imm", b"2026-01-01T00:00:00Z"]
            )
            headers.append((b"ce-" + name, value))
    if rng.random() < 0.15:
        coding = rng.choice([b"gzip", b"deflate", b"br", b"identity", b"gzip, deflate", b"\xff"])
        if rng.random() < 0.5 and coding == b"gzip":
            payload = gzip.compress(payload)
        elif rng.random() < 0.5 and coding == b"deflate":
            payload = zlib.compress(payload)
        headers.append((b"Content-Encoding", coding))
    if rng.random() < 0.1:
        headers.append((b"X-ICE-SIGNATURE", rng.randbytes(16).hex().encode()))
        headers.append((b"X-ICE-TIMESTAMP", rng.choice([b"1", b"99999999999", b"\xff", b""])))
    if rng.random() < 0.1:
        headers.append(
            (b"Authorization", rng.choice([b"Bearer \xff", b"x", b"Basic ::", TOKEN.encode()]))
        )
    if rng.random() < 0.05:
        headers.append((b"X-Long", b"v" * rng.randrange(100, 4000)))
    return headers, payload


def mns_signed(
    key: Any, cert_url: str, headers: list[tuple[bytes, bytes]], payload: bytes
) -> list[tuple[bytes, bytes]]:
    """The MNS push headers for ``payload``, signed, after the hostile ones."""
    signed = {
        "Content-MD5": base64.b64encode(hashlib.md5(payload).hexdigest().encode()).decode(),
        "Content-Type": "text/xml;charset=utf-8",
        "Date": formatdate(usegmt=True),
        "x-mns-signing-cert-url": base64.b64encode(cert_url.encode()).decode(),
        "x-mns-version": "2015-06-06",
    }
    signed["Authorization"] = sign_push(key, "POST", "/ingest/mns", signed)
    names = {name.lower() for name in signed}
    kept = [(n, v) for n, v in headers if n.decode().lower() not in names]
    return kept + [(n.encode(), v.encode()) for n, v in signed.items()]


# --- API routes ----------------------------------------------------------------------------

PATH_VALUES = ["x", "b-1", "%00", "..%2F..", "a" * 300, "%ff%fe", "%E4%B8%AD", "1" * 30]
QUERY_NAMES = ["MaxResults", "max_results", "NextToken", "next_token", "State", "TagSelector",
               "Sort", "Order", "status", "search", "max_points", "state", "batch_key", "rule",
               "ProjectName", "since"]  # fmt: skip
QUERY_VALUES = ["", "0", "101", "-1", "1e9", "9" * 400, "abc", "%ff", "{", '{"a":1}', "[1]",
                "a=b,c", "=", "eyJ4IjoxfQ", "ZZZZ", "DES", "ASC", "\u202e", "x" * 2000]  # fmt: skip


def api_routes(tmp_path: Path) -> list[tuple[str, str]]:
    settings = from_mapping({"store": {"url": f"sqlite:///{tmp_path}/routes.db"}})
    app = build(settings)
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith(("/ingest/", "/-/")) or route.method == "HEAD":
            continue
        if path == "/api/v1/stream":
            continue  # never ends by design: its cursor parsing is covered in its own tests
        found.add((route.method, path))
    return sorted(found)


def api_request(rng: random.Random, method: str, path: str) -> bytes:
    filled = path
    while "{" in filled:
        start, end = filled.index("{"), filled.index("}")
        filled = filled[:start] + rng.choice(PATH_VALUES) + filled[end + 1 :]
    params = [
        f"{rng.choice(QUERY_NAMES)}={rng.choice(QUERY_VALUES)}" for _ in range(rng.randrange(4))
    ]
    target = filled + ("?" + "&".join(params) if params else "")
    headers: list[tuple[bytes, bytes]] = []
    payload = b""
    if method not in ("GET", "HEAD"):
        auth = rng.choice([f"Bearer {TOKEN}".encode()] * 4 + [b"Bearer \xff", TOKEN.encode()])
        headers.append((b"Authorization", auth))
        silence = {"matchers": ['alertname="x"'], "duration": "1h", "comment": "fuzz"}
        payload = rng.choice(
            [json.dumps(mutate(rng, silence)).encode(), rng.choice(RAW_TEXTS), b"{}"]
        )
    if rng.random() < 0.2:
        headers.append((b"Accept", rng.choice([b"text/html", b"*/*", b"\xff"])))
    return request(
        method, target.encode("utf-8", "surrogateescape").decode("latin-1"), headers, payload
    )


# --- the run -------------------------------------------------------------------------------


@pytest.fixture
async def signer() -> AsyncIterator[tuple[Any, CertServer]]:
    key = make_key()
    app = web.Application()
    server = TestServer(app, host="127.0.0.1", port=0)
    certs = CertServer(server)
    certs.files["/signing.pem"] = cert_pem(key)
    app.router.add_route("GET", "/{tail:.*}", certs.handle)
    await server.start_server()
    try:
        yield key, certs
    finally:
        await server.close()


async def run_cases(live: Live, cases: list[tuple[str, bytes]]) -> list[tuple[str, Answer]]:
    slots = asyncio.Semaphore(AT_ONCE)

    async def one(kind: str, data: bytes) -> tuple[str, Answer]:
        async with slots:
            return kind, await send(live.port, data, timeout=30)

    return list(await asyncio.gather(*(one(kind, data) for kind, data in cases)))


async def quarantine_ids(live: Live) -> list[int]:
    ids: list[int] = []
    token = ""
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{live.url}/api/v1/quarantine?next_token={token}") as resp:
                page = await resp.json()
            ids += [q["id"] for q in page["quarantine"] if q["ingress"] != "mns-queue"]
            token = page["next_token"]
            if not token:
                return ids


@pytest.mark.slow
async def test_fuzz_every_ingress_and_api_route(
    tmp_path: Path, signer: tuple[Any, CertServer]
) -> None:
    key, certs = signer
    rng = random.Random(SEED)
    bases = samples()
    config = {
        "api": {"token": TOKEN},
        "ingress": {"mns_push": {"cert_url_prefixes": [certs.root]}},
        "server": {"max_events_per_body": 20},
    }
    cases: list[tuple[str, bytes]] = []
    for path in ("/ingest/eventbridge", "/ingest/ice", "/ingest/mns"):
        for _ in range(CASES_PER_INGRESS):
            headers, payload = headers_for(rng, body(rng, bases))
            if path == "/ingest/mns" and rng.random() < 0.85:
                headers = mns_signed(key, certs.url("/signing.pem"), headers, payload)
            cases.append(("ingress", request("POST", path, headers, payload)))
    for method, path in api_routes(tmp_path):
        cases += [("api", api_request(rng, method, path)) for _ in range(CASES_PER_API_ROUTE)]
    rng.shuffle(cases)
    async with live_daemon(tmp_path, **config) as live:
        warm = await run_cases(live, cases[:300])
        rss_before = live.rss_kib()
        answers = warm + await run_cases(live, cases[300:])
        rss_after = live.rss_kib()
        server_errors = [(kind, a) for kind, a in answers if a.status >= 500]
        assert not server_errors, server_errors[:5]
        claimed = [
            a.json()["quarantine_id"]
            for kind, a in answers
            if kind == "ingress" and a.status in (400, 413) and a.body.startswith(b"{")
            and "quarantine_id" in a.json()
        ]  # fmt: skip
        ingress_400s = [a for kind, a in answers if kind == "ingress" and a.status == 400]
        assert len(ingress_400s) > 500  # the generator reaches the decoders
        assert all(b"quarantine_id" in a.body for a in ingress_400s)
        stored = await quarantine_ids(live)
        assert sorted(claimed) == sorted(stored)  # exactly one record per 400 (and per 413)
        assert (await send(live.port, request("GET", "/readyz"))).status == 200
        assert rss_after - rss_before < RSS_GROWTH_KIB, (rss_before, rss_after)
        statuses: dict[int, int] = {}
        for _, answer in answers:
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
        print(
            "answers by status:", dict(sorted(statuses.items())), "rss KiB:", rss_before, rss_after
        )
    output = live.output()
    assert "Traceback" not in output, output[-3000:]
    assert TOKEN not in output
