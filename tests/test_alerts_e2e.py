"""Alerts end to end: daemon processes, a SIGKILL, and a real Alertmanager.

- An alert firing before SIGKILL is still firing after the restart and is not notified
  again before its repeat_interval (its state and its notice were committed together).
- Debian's ``prometheus-alertmanager`` on 127.0.0.1 receives batchrelay's firing alert and
  then its resolution; both are read back through Alertmanager's own API.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.http.test_batches import BATCH_SAMPLE

from .fakes import WebhookSink, running_sink
from .processes import Child, children, free_port, wait_ready, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
FAILED_RULE = {"name": "failed-or-suspended", "condition": 'status in ["failed", "suspended"]',
               "severity": "critical", "repeat_interval": "1h",
               "annotations": {"summary": "{{ batch_key }} is {{ status }}"}}  # fmt: skip


def batch_event(event_id: str, batch: str, state: str, updated: str) -> bytes:
    """An IMM batch notification as EventBridge delivers it."""
    content = json.loads(BATCH_SAMPLE["content"])
    content.update(Id=batch, State=state, UpdateTime=updated)
    return json.dumps({
        "specversion": "1.0", "id": event_id, "source": "acs.imm",
        "type": "imm:Batch:Notification", "time": updated,
        "subject": "acs.imm:cn-shanghai:1234567890123456:docs-prod", "data": content,
    }).encode()  # fmt: skip


def alerting_daemon(folder: Path, port: int, name: str, receiver: dict[str, Any]) -> Child:
    """A daemon whose only rule, "failed-or-suspended", goes straight to ``receiver``."""
    config = write_config(
        folder, port,
        receivers={name: receiver},
        alerts={"evaluation_interval": "1s", "rules": [FAILED_RULE | {"receiver": name}],
                "digest": {"enabled": False}},
        delivery={"tick": 0.1},
    )  # fmt: skip
    return Child(["run", "-c", str(config)], folder / "daemon.log")


async def push(base: str, body: bytes) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/ingest/eventbridge", data=body) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.fixture
async def sink() -> AsyncIterator[tuple[WebhookSink, str]]:
    async with running_sink(WebhookSink()) as running:
        yield running, running.url


async def test_a_firing_alert_survives_sigkill_without_a_second_notice(
    tmp_path: Path, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = alerting_daemon(tmp_path, port, "hook", {"type": "webhook", "url": url})
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/readyz")
        await push(base, batch_event("e1", "b-1", "Failed", "2026-11-20T03:00:00Z"))
        async with asyncio.timeout(30):
            while not recorder.notices:
                await asyncio.sleep(0.05)
        [before] = (await get_json(f"{base}/api/v1/alerts?state=firing"))["alerts"]
        daemon.kill()
        daemon.start()
        await wait_ready(f"{base}/readyz")
        # another event for the batch makes the evaluator look at it again at once
        await push(base, batch_event("e2", "b-1", "Failed", "2026-11-20T03:05:00Z"))
        await asyncio.sleep(4)  # four timer passes and many dispatcher ticks
        [after] = (await get_json(f"{base}/api/v1/alerts?state=firing"))["alerts"]
    assert len(recorder.notices) == 1, recorder.notices  # one notice, one webhook-id
    [[notice]] = recorder.notices.values()
    assert (notice["notice"], notice["alertname"], notice["batch_key"]) == (
        "firing", "failed-or-suspended", "b-1")  # fmt: skip
    assert after["fired_at"] == before["fired_at"]
    assert after["last_notified_at"] == before["last_notified_at"]


# -- a real Alertmanager -------------------------------------------------------------------


@pytest.fixture
async def alertmanager(tmp_path: Path) -> AsyncIterator[str]:
    assert shutil.which(ALERTMANAGER), (
        "prometheus-alertmanager is missing: apt-get install prometheus-alertmanager"
    )
    folder = tmp_path / "alertmanager"
    folder.mkdir()
    config = {
        "route": {"receiver": "nowhere", "group_wait": "1s", "group_interval": "1s"},
        "receivers": [{"name": "nowhere"}],
    }
    (folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (folder / "alertmanager.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        ALERTMANAGER, f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=", stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(f"{base}/-/ready")
        yield base
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
        log.close()


async def am_alerts(base: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await get_json(
        f"{base}/api/v2/alerts?filter=alertname%3D%22failed-or-suspended%22"
    )
    return found


async def test_alertmanager_sees_the_alert_fire_and_resolve(
    tmp_path: Path, alertmanager: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    am = {"type": "alertmanager", "url": alertmanager, "labels": {"source_system": "batchrelay"},
          "generator_url": base}  # fmt: skip
    daemon = alerting_daemon(tmp_path, port, "am", am)
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/readyz")
        await push(base, batch_event("e1", "b-am", "Failed", "2026-11-20T03:00:00Z"))
        async with asyncio.timeout(30):
            while not (firing := await am_alerts(alertmanager)):
                await asyncio.sleep(0.2)
        [alert] = firing
        assert alert["labels"] == {
            "alertname": "failed-or-suspended", "batch_key": "b-am", "severity": "critical",
            "project": "docs-prod", "kind": "batch", "source_system": "batchrelay",
        }  # fmt: skip
        assert alert["status"]["state"] == "active"
        assert alert["annotations"]["summary"] == "b-am is failed"
        assert alert["generatorURL"] == f"{base}/batches/b-am"
        # the batch is resumed: batchrelay resolves the alert and tells Alertmanager
        await push(base, batch_event("e2", "b-am", "Running", "2026-11-20T03:10:00Z"))
        async with asyncio.timeout(30):
            while await am_alerts(alertmanager):
                await asyncio.sleep(0.2)
        [ours] = (await get_json(f"{base}/api/v1/alerts"))["alerts"]
        assert ours["status"] == "resolved"
