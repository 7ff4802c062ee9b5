"""The README's quick start: config/local.yaml shows simulated batches within 60 seconds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from .processes import Child, children, free_port, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LOCAL = Path(__file__).parents[1] / "config" / "local.yaml"


def local_config_on_free_ports(folder: Path) -> tuple[Path, int]:
    """config/local.yaml as shipped, moved to free ports and a temp store."""
    config: dict[str, Any] = yaml.safe_load(LOCAL.read_text())
    port, mns_port = free_port(), free_port()
    config["server"]["port"] = port
    config["store"]["url"] = f"sqlite:///{folder}/relay.db"
    config["demo"]["emulator_port"] = mns_port
    emulator = f"http://127.0.0.1:{mns_port}"
    prefixes = config["ingress"]["mns_push"]["cert_url_prefixes"]
    config["ingress"]["mns_push"]["cert_url_prefixes"] = [
        f"{emulator}/" if "127.0.0.1" in p else p for p in prefixes
    ]
    for source in config["sources"]["mns_queues"]:
        source["endpoint"] = emulator
    path = folder / "local.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, port


async def test_local_config_shows_progressing_batches_within_a_minute(tmp_path: Path) -> None:
    config, port = local_config_on_free_ports(tmp_path)
    base = f"http://127.0.0.1:{port}"
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    started = time.monotonic()
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/healthz")
        seen: dict[str, Any] = {}
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - started < 60:
                async with session.get(f"{base}/api/v1/batches") as resp:
                    seen = {b["batch_key"]: b for b in (await resp.json())["batches"]}
                sources = {b["source"] for b in seen.values()}
                done = [b for b in seen.values() if b["state"] in ("succeeded", "finished")]
                # Both channels at work: IMM batches by the queue, ICE jobs by topic push.
                if {"acs.imm", "acs.ice"} <= sources and done:
                    break
                await asyncio.sleep(1)
        assert {"acs.imm", "acs.ice"} <= {b["source"] for b in seen.values()}, seen
        assert any(sum(b["task_counts"].values()) > 0 for b in seen.values())
        assert daemon.terminate() == 0
    print(f"batches visible after {time.monotonic() - started:.1f}s")
