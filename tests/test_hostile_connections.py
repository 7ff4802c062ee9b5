"""Slow and greedy clients against a daemon in its own process: nothing holds it past its
bounds, and nothing it logs is a traceback or a secret (defects 5 and 7 of issue 13)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from .livedaemon import Live, live_daemon
from .rawhttp import parse, request, send

TOKEN = "s3cret-api-token-42"
LIMITS = {"header_timeout": 1, "body_timeout": 1, "idle_timeout": 2, "max_connections": 40}


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await reader.read()  # until the server closes
    except TimeoutError:
        return False
    return True


async def test_slow_headers_are_cut_off(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, server=LIMITS) as live:
        streams = []
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
            streams.append((reader, writer))
        started = time.monotonic()
        results = await asyncio.gather(*(closed_within(r, 10) for r, _ in streams))
        assert all(results)
        assert time.monotonic() - started < 8  # the header timeout is 1 s; margin for load
        for _, writer in streams:
            writer.close()
        answer = await send(live.port, request("GET", "/healthz"))
        assert answer.status == 200


async def test_a_slow_body_gets_408(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, server=LIMITS) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(
            b"POST /ingest/eventbridge HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n"
        )
        started = time.monotonic()
        received = b""
        with contextlib.suppress(ConnectionError):
            for _ in range(20):  # 20 KB over 10 s: a trickle
                writer.write(b"x" * 1024)
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    received += await asyncio.wait_for(reader.read(4096), 0.5)
                if reader.at_eof():
                    break
        elapsed = time.monotonic() - started
        writer.close()
        assert elapsed < 8  # the body timeout is 1 s; the server hung up long before 10 s
        if received:  # the answer, unless the hang-up reset the connection before it was read
            assert parse(received).status == 408
    assert '"reason":"body_timeout"' in live.output()


async def test_idle_connections_are_closed(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, server=LIMITS) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b'{"status": "ok"}')
        assert await closed_within(reader, 10)  # idle timeout 2 s
        writer.close()


async def test_connections_past_the_cap_get_503(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, server={**LIMITS, "header_timeout": 30}) as live:
        held = [await asyncio.open_connection("127.0.0.1", live.port) for _ in range(40)]
        await asyncio.sleep(0.3)
        answer = await send(live.port, request("GET", "/healthz"))
        assert answer.status == 503
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.5)
        assert (await send(live.port, request("GET", "/healthz"))).status == 200


async def test_malformed_requests_log_no_traceback_and_no_token(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, server=LIMITS, api={"token": TOKEN}) as live:
        hostile = [
            f"POST /api/v1/silences HTTP/1.1\r\nHost: x\r\nAuthorization Bearer {TOKEN}\r\n\r\n",
            f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A\x01: {TOKEN}\r\n\r\n",
            f"GET /he\x00althz?{TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n",
            f"POST /ingest/eventbridge HTTP/1.1\r\nContent-Length: -1\r\nX: {TOKEN}\r\n\r\n",
            f"POST /ingest/eventbridge HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz{TOKEN}\r\n",
        ]
        for text in hostile:
            raw = text.encode("latin-1")
            answer = await send(live.port, raw)
            assert 400 <= answer.status < 500, (text, answer)
        bad = request("POST", "/api/v1/silences", [(b"Authorization", b"Bearer \xff")], b"{}")
        answer = await send(live.port, bad)
        assert answer.status == 400
    check_output(live)


def check_output(live: Live) -> None:
    output = live.output()
    assert "Traceback" not in output, output[-3000:]
    assert TOKEN not in output
