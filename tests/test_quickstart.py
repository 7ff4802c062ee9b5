"""The README's quick start: config/local.yaml, as shipped but on free ports, shows within two
minutes a failed-task notification, a firing alert and a completion digest at its local
receiver (the ``log`` receiver, whose lines are the daemon's output), the alert in the
alerts API, and batches arriving by both the MNS queue and the topic push."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from .processes import Child, children, free_port, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

LOCAL = Path(__file__).parents[1] / "config" / "local.yaml"
WITHIN = 120.0  # seconds from the start of the daemon


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


def notifications(log: Path) -> list[dict[str, Any]]:
    """What the local receiver printed: the daemon's ``notification`` lines."""
    lines = (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == "notification"]


def seen(printed: list[dict[str, Any]]) -> dict[str, bool]:
    return {
        "failed tasks": any("task" in n["kinds"] and " failed in batch " in n["title"]
                            for n in printed),
        "alert firing": any(a.endswith(" firing") for n in printed for a in n["alerts"]),
        "completion digest": any("digest" in n["kinds"] for n in printed),
    }  # fmt: skip


async def test_quick_start_shows_the_point_within_two_minutes(tmp_path: Path) -> None:
    config, port = local_config_on_free_ports(tmp_path)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "daemon.log"
    daemon = Child(["run", "-c", str(config)], log)
    started = time.monotonic()
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/healthz")
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - started < WITHIN:
                got = seen(notifications(log))
                async with session.get(f"{base}/api/v1/batches") as resp:
                    sources = {b["source"] for b in (await resp.json())["batches"]}
                if all(got.values()) and {"acs.imm", "acs.ice"} <= sources:
                    break
                await asyncio.sleep(1)
            async with session.get(f"{base}/api/v1/alerts?state=firing") as resp:
                firing = (await resp.json())["alerts"]
        took = time.monotonic() - started
        assert seen(notifications(log)) == dict.fromkeys(got, True), log.read_text()[-3000:]
        # Both channels at work: IMM batches by the queue, ICE jobs by the topic's pushes.
        assert {"acs.imm", "acs.ice"} <= sources
        assert firing, "the alert the terminal showed is in the alerts API (and dashboard)"
        assert daemon.terminate() == 0
    print(f"failed tasks, a firing alert and a completion digest after {took:.1f}s")
