"""``server.stop_timeout`` bounds the whole stop: a shutdown stage that never ends is cut
off, logged, and the process exits (in its own process: the test sends it SIGTERM)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from batchrelay.config import ServerConfig, from_mapping
from batchrelay.errors import ConfigError

from ..processes import free_port, wait_ready

STUCK = """
import asyncio, sys
from aiohttp import web
from batchrelay import log
from batchrelay.http.listener import ListenerConfig, serve

async def stuck(app):  # a stop stage that never ends
    await asyncio.sleep(3600)

async def ok(request):
    return web.Response(text="ok")

log.configure("info", "json")
app = web.Application()
app.router.add_get("/", ok)
app.on_shutdown.append(stuck)
asyncio.run(serve(app, "127.0.0.1", int(sys.argv[1]), ListenerConfig(), 1.0, None, 2.0))
"""


@pytest.mark.timeout(60)
async def test_a_stop_that_never_ends_is_cut_off_at_stop_timeout(tmp_path: Path) -> None:
    port = free_port()
    with (tmp_path / "out.log").open("wb") as out:
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", STUCK, str(port),
                                                     stdout=out, stderr=out)  # fmt: skip
    try:
        await wait_ready(f"http://127.0.0.1:{port}/")
        child.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(child.wait(), 30)  # the stage would take an hour
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    lines = [json.loads(x) for x in (tmp_path / "out.log").read_text().splitlines()]
    assert status == 0
    assert [(x["event"], x["seconds"]) for x in lines] == [("daemon.stop_timeout", 2.0)]


def test_stop_timeout_is_at_least_the_drain_timeout() -> None:
    with pytest.raises(ConfigError, match="server: stop_timeout must be at least drain_timeout"):
        from_mapping({"server": {"drain_timeout": 30, "stop_timeout": 20}})
    assert ServerConfig(drain_timeout=10).stop_timeout >= 2 * 10  # both drain stages
