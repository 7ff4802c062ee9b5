"""Requests aiohttp cannot parse are answered as JSON, quoting nothing they carried."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..livedaemon import live_daemon
from ..rawhttp import send

SECRET = b"s3cret-" * 1400  # an Authorization header over aiohttp's 8190-byte line limit


@pytest.mark.slow
async def test_unparseable_requests_get_json_that_echoes_nothing(tmp_path: Path) -> None:
    requests = {
        "long request line": b"GET /api/v1/batches?q=" + SECRET + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "long header": b"GET /api/v1/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + SECRET + b"\r\n\r\n",
        "malformed header": b"GET /api/v1/batches HTTP/1.1\r\nHost: x\r\nX-Token: s3cret-\r\n"
        b"not a header\r\n\r\n",
    }  # fmt: skip
    async with live_daemon(tmp_path) as live:
        for name, raw in requests.items():
            answer = await send(live.port, raw)
            assert answer.status == 400, name
            assert answer.headers["content-type"].startswith("application/json"), name
            assert answer.json()["error"] == "bad_request", name
            assert b"s3cret" not in answer.body and b"batches" not in answer.body, name
        assert (await send(live.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n")).status == 200  # fmt: skip
        output = live.output()
    assert "s3cret" not in output
    assert output.count('"error":"LineTooLong"') == 2  # each logged once, by its type
