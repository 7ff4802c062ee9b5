"""Hostile bodies at the push endpoints: no amplification, no 500, nothing lost.

Each test here failed before the fix it names (issue 13's numbered defects)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from batchrelay.http.common import STORE

from .conftest import SettingsFactory, sample
from .rawhttp import request, send

# /ingest/mns needs a signed push: see tests/http/test_ingest.py for its variant
ENDPOINTS = ["/ingest/eventbridge", "/ingest/ice"]


def store_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("relay.db*"))


async def quarantine(client: Any) -> list[dict[str, Any]]:
    page = await (await client.get("/api/v1/quarantine")).json()
    items: list[dict[str, Any]] = page["quarantine"]
    return items


async def raw_inputs(client: Any) -> int:
    def count(conn: Any) -> int:
        return int(conn.execute("SELECT count(*) FROM raw_inputs").fetchone()[0])

    result: int = await client.app[STORE].read(count)
    return result


# --- 1. amplification --------------------------------------------------------------------


async def test_a_body_of_bad_items_is_one_quarantine_record_and_stored_once(
    make_settings: SettingsFactory, start_daemon: Any, tmp_path: Path
) -> None:
    client = await start_daemon(make_settings())
    await client.post("/ingest/eventbridge", data=b"{warm-up")  # schema and first pages
    before = store_bytes(tmp_path)
    items: list[Any] = [1] * 299 + [{"specversion": "1.0", "id": "x", "data": "y" * 100_000}]
    body = json.dumps(items).encode()
    resp = await client.post("/ingest/eventbridge", data=body)
    assert resp.status == 400
    answer = await resp.json()
    assert answer["failed"] == 300
    [record, _warm_up] = await quarantine(client)
    assert record["failed"] == 300
    assert len(record["failures"]) == 100  # listed up to a bound, all counted
    assert record["failures"][0] == {
        "index": 0, "reason": "wrong_type", "detail": "array element 0: a JSON number"
    }  # fmt: skip
    assert base64.b64decode(record["raw_base64"]) == body
    growth = store_bytes(tmp_path) - before
    assert growth < 3 * len(body) + 256 * 1024, (growth, len(body))


async def test_many_events_of_one_body_share_one_raw_record(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    client = await start_daemon(make_settings(server={"max_events_per_body": 20_000}))
    body = json.dumps([{"n": n, "kind": "hostile"} for n in range(20_000)]).encode()
    small = sample("imm-task-eventbridge.json")
    big = asyncio.create_task(client.post("/ingest/eventbridge", data=body))
    waits: list[float] = []
    while not big.done():
        started = time.monotonic()
        resp = await client.post("/ingest/eventbridge", data=small)
        assert resp.status == 200
        await resp.read()  # the connection goes back to the pool, not to the collector
        waits.append(time.monotonic() - started)
        await asyncio.sleep(0.05)
    resp = await big
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"committed": 20_000, "duplicates": 0}
    assert await raw_inputs(client) == 2  # the large body once, the small push once
    assert waits and max(waits) < 1.0, waits
    again = await client.post("/ingest/eventbridge", data=body)  # redelivered: stores nothing
    assert await again.json() == {"committed": 0, "duplicates": 20_000}
    assert await raw_inputs(client) == 2


async def test_more_events_than_a_body_may_hold_is_413_and_quarantined(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    client = await start_daemon(make_settings(server={"max_events_per_body": 10}))
    body = json.dumps([{"n": n} for n in range(11)]).encode()
    resp = await client.post("/ingest/eventbridge", data=body)
    assert resp.status == 413
    assert (await resp.json())["error"] == "too_many_events"
    [record] = await quarantine(client)
    assert record["reason"] == "too_many_events"
    assert base64.b64decode(record["raw_base64"]) == body
    ok = json.dumps([{"n": n} for n in range(10)]).encode()
    assert (await client.post("/ingest/eventbridge", data=ok)).status == 200


# --- 2. malformed input is a 400 with a quarantine record, never a 500 -----------------


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json", b"7"])
async def test_ce_headers_with_a_structured_content_type_and_a_bad_body(
    daemon: Any, body: bytes
) -> None:
    headers = {
        "Content-Type": "application/cloudevents+json",
        "ce-id": "1", "ce-source": "acs.imm", "ce-type": "t", "ce-specversion": "1.0",
    }  # fmt: skip
    resp = await daemon.post("/ingest/eventbridge", data=body, headers=headers)
    assert resp.status == 400, await resp.text()
    assert len(await quarantine(daemon)) == 1


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("encoding", ["deflate", "gzip", "br"])
async def test_a_corrupt_encoded_body_is_400_and_kept_as_sent(
    daemon: Any, path: str, encoding: str
) -> None:
    sent = b"\x78\x9c\x0bgarbage-not-compressed"
    answer = await send(
        daemon.server.port,
        request("POST", path, [(b"Content-Encoding", encoding.encode())], sent),
    )
    assert answer.status == 400, answer.body
    [record] = await quarantine(daemon)
    assert record["reason"] == "bad_encoding"
    assert base64.b64decode(record["raw_base64"]) == sent  # 9: byte for byte, not decoded
    assert record["encoding"] == encoding


@pytest.mark.parametrize("compress", [gzip.compress, zlib.compress])
async def test_an_encoded_body_is_decoded_and_committed(daemon: Any, compress: Any) -> None:
    name = "gzip" if compress is gzip.compress else "deflate"
    sent = compress(sample("imm-task-eventbridge.json"))
    resp = await daemon.post(
        "/ingest/eventbridge", data=sent, headers={"Content-Encoding": name}, compress=None
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["committed"] == 1


async def test_a_compressed_body_may_not_expand_past_the_bound(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    client = await start_daemon(make_settings(server={"max_body_bytes": 65536}))
    bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
    assert len(bomb) < 65536
    resp = await client.post("/ingest/eventbridge", data=bomb, headers={"Content-Encoding": "gzip"})
    assert resp.status == 400
    [record] = await quarantine(client)
    assert record["reason"] == "too_large"
    assert base64.b64decode(record["raw_base64"]) == bomb


# --- 3. secrets never come back out ------------------------------------------------------


async def test_signature_headers_are_redacted_in_the_quarantine(daemon: Any) -> None:
    headers = {
        "X-ICE-SIGNATURE": "c587b80d2d0ede300e8967937da7219b",
        "X-ICE-TIMESTAMP": str(int(time.time())),
        "x-eventbridge-signature": "sig", "x-eventbridge-signature-v2": "sig2",
        "x-eventbridge-signature-token": "tok", "Cookie": "session=abc",
        "Authorization": "Bearer abc", "X-Trace": "t-1",
    }  # fmt: skip
    resp = await daemon.post("/ingest/ice", data=b"{broken", headers=headers)
    assert resp.status == 400
    [record] = await quarantine(daemon)
    shown = {k.lower(): v for k, v in record["headers"].items()}
    for name in headers:
        if name != "X-Trace":
            assert shown[name.lower()] == "<redacted>", name
    assert shown["x-trace"] == "t-1"


async def test_a_lone_ice_timestamp_is_kept(daemon: Any) -> None:
    await daemon.post("/ingest/ice", data=b"{broken", headers={"X-ICE-TIMESTAMP": "1700000000"})
    [record] = await quarantine(daemon)
    assert record["headers"]["X-ICE-TIMESTAMP"] == "1700000000"
