"""One log stream: a daemon's libraries log through structlog's formatter.

A daemon in its own process, run with ``--log-level debug --log-format json``, is made to
log from aiohttp (malformed requests, a client gone mid-answer) and from asyncio (its
event loop at debug level, a connection reset): every line it writes to stdout and
stderr is one JSON object, the libraries' lines among them, none quoting a request.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from .processes import Child, children, free_port, wait_ready, write_config
from .rawhttp import request, send

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

TOKEN = "s3cret-log-token-7"


def lines_of(path: Path) -> list[dict[str, Any]]:
    """Every line of ``path`` as JSON; fails on the first that is not one object."""
    found = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            value = json.loads(line)
        except ValueError:
            raise AssertionError(f"line {number} is not JSON: {line[:300]!r}") from None
        assert isinstance(value, dict), line
        found.append(value)
    return found


async def reset_mid_request(port: int) -> None:
    """Half a request, then a TCP reset (SO_LINGER 0): the server sees the peer vanish."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /ingest/eventbridge HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await asyncio.sleep(0.2)


async def test_libraries_log_json_lines_only(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, api={"token": TOKEN},
                          log={"level": "warning", "format": "console"})  # fmt: skip
    log = tmp_path / "daemon.log"
    daemon = Child(["run", "-c", str(config), "--log-level", "debug", "--log-format", "json"], log)
    with children(daemon):
        daemon.start()
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        for raw in (
            f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A\x01: {TOKEN}\r\n\r\n".encode("latin-1"),
            f"GET /he\x00althz?{TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1"),
            b"POST /ingest/eventbridge HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            request("POST", "/api/v1/silences", [(b"Authorization", b"Bearer \xff")], b"{}"),
        ):
            assert 400 <= (await send(port, raw)).status < 500
        await reset_mid_request(port)
        assert daemon.terminate() == 0
    lines = lines_of(log)  # stdout and stderr both
    loggers = {line.get("logger", "") for line in lines if line["event"] == "library.log"}
    assert "asyncio" in loggers, loggers
    assert any(name.startswith("aiohttp") for name in loggers), loggers
    assert any(line["level"] == "debug" for line in lines)  # --log-level over the file's
    assert TOKEN not in log.read_text()
    assert "Traceback" not in log.read_text()
