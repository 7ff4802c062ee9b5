"""``/metrics`` and the probes follow the Prometheus ecosystem's conventions.

``promtool check metrics`` (Debian's ``prometheus`` package, the reference linter) reads
what a live daemon serves after real traffic; the OpenMetrics answer is parsed by
prometheus-client's own OpenMetrics parser.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as classic_families

from batchrelay import __version__

from .conftest import SAMPLES, SettingsFactory
from .livedaemon import live_daemon

PROMTOOL = "/usr/bin/promtool"
OPENMETRICS = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"


async def scrape(client: Any, accept: str | None = None) -> tuple[str, str]:
    headers = {"Accept": accept} if accept else {}
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200
    return resp.headers["Content-Type"], await resp.text()


async def test_build_process_and_platform_metrics_without_created_series(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    client = await start_daemon(make_settings())
    body = (SAMPLES / "imm-task-eventbridge.json").read_bytes()
    assert (await client.post("/ingest/eventbridge", data=body)).status == 200
    content_type, text = await scrape(client)
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in classic_families(text)}
    [build] = families["batchrelay_build_info"].samples
    assert build.value == 1
    assert build.labels["version"] == __version__
    assert build.labels["python"].count(".") == 2
    assert "python_info" in families
    for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds"):  # fmt: skip
        assert name in families, name
    assert "batchrelay_inputs" in families  # a counter with children: no _created beside them
    assert "_created" not in text


async def test_openmetrics_when_the_scraper_asks_for_it(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    client = await start_daemon(make_settings())
    content_type, text = await scrape(client, OPENMETRICS)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["batchrelay_build"].type == "info"
    assert "_created" not in text
    plain_type, _ = await scrape(client, "text/plain")
    assert plain_type.startswith("text/plain")


@pytest.mark.parametrize("path", ["/-/healthy", "/-/ready"])
async def test_prometheus_style_probes_answer_like_healthz_and_readyz(
    path: str, make_settings: SettingsFactory, start_daemon: Any
) -> None:
    closed = make_settings(api={"read_token": "reads-need-this"})  # probes stay open
    client = await start_daemon(closed)
    twin = {"/-/healthy": "/healthz", "/-/ready": "/readyz"}[path]
    resp, expected = await client.get(path), await client.get(twin)
    assert resp.status == expected.status == 200
    assert await resp.json() == await expected.json()
    assert (await client.get("/metrics")).status == 401  # while reads do need it


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    command = [PROMTOOL, "check", "metrics"]
    return subprocess.run(command, input=text, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


@pytest.mark.slow
async def test_promtool_accepts_what_a_live_daemon_serves(tmp_path: Path) -> None:
    assert shutil.which(PROMTOOL), "promtool is missing: scripts/test-deps installs prometheus"
    async with live_daemon(tmp_path, receivers={"log": {"type": "log"}},
                           routing={"route": {"receiver": "log", "group_wait": "0s"}},
                           alerts={"rules": [{"name": "failed", "condition": "tasks_failed >= 1"}]},
                           ) as live, aiohttp.ClientSession(live.url) as http:  # fmt: skip
        for name in ("imm-task-eventbridge.json", "imm-batch-notification.json"):
            async with http.post("/ingest/eventbridge", data=(SAMPLES / name).read_bytes()):
                pass
        async with http.post("/ingest/eventbridge", data=b"{not json"):
            pass
        async with http.get("/metrics") as resp:
            text = await resp.text()
    assert "batchrelay_inputs_total{" in text  # real children, not only empty families
    check = await asyncio.to_thread(promtool_check, text)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == ""
