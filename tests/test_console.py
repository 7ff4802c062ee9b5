"""The daemon at a terminal: a banner, a summary line, quiet per-input lines, highlighted
alerts and dead letters, readable notifications; JSON lines unchanged off a terminal."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from batchrelay import log as logconf
from batchrelay.briefing import Summary, banner_fields
from batchrelay.config import load
from batchrelay.console import ConsoleRenderer, quiet_per_input
from batchrelay.metrics import Metrics
from tests.http.test_batches import task_event

from .processes import free_port, wait_ready, write_config

LOCAL = Path(__file__).parents[1] / "config" / "local.yaml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def render(event: dict[str, Any], colors: bool = False) -> str:
    return ConsoleRenderer(colors=colors)(None, "info", {"timestamp": "12:00:00", **event})


def test_the_banner_names_what_a_newcomer_needs() -> None:
    fields = banner_fields(load(LOCAL, env={}), "config/local.yaml")
    text = render({"event": "daemon.banner", **fields})
    assert text.splitlines()[0] == "12:00:00 batchrelay 0.1.0"
    for line in ("  config     config/local.yaml",
                 "  store      sqlite:///data/batchrelay.db",
                 "  sources    MNS queue imm-notify at http://127.0.0.1:8090 (2 pollers)",
                 "             pushes to /ingest/mns, /ingest/eventbridge, /ingest/ice",
                 "  receivers  terminal (log), nowhere (null)",
                 "  alerts     4 rules: submit-failures, failure-ratio, stalled, "
                 "failed-or-suspended",
                 "  dashboard  http://127.0.0.1:8080/"):  # fmt: skip
        assert line in text.splitlines(), line


def test_the_banner_hides_a_database_password() -> None:
    settings = load(LOCAL, env={}).model_copy(update={"store": load(None).store.model_copy(
        update={"url": "postgresql://relay:s3cret@db:5432/relay"})})  # fmt: skip
    assert banner_fields(settings, None)["store"] == "postgresql://relay:***@db:5432/relay"


def test_per_input_lines_only_at_debug() -> None:
    drop = quiet_per_input("info")
    with pytest.raises(structlog.DropEvent):
        drop(None, "info", {"event": "input.committed"})
    assert drop(None, "warning", {"event": "input.quarantined"})
    assert quiet_per_input("debug")(None, "info", {"event": "input.committed"})


def test_alerts_and_dead_letters_stand_out() -> None:
    firing = render({"event": "alerts.firing", "rule": "stalled", "batch_key": "b-1"}, True)
    assert "\x1b[1m\x1b[31mALERT stalled firing for batch b-1" in firing
    dead = render({"event": "delivery.dead", "receiver": "ops", "delivery_id": "d1",
                   "reason": "client_error", "attempt": 3}, True)  # fmt: skip
    assert "\x1b[1m\x1b[31mDEAD LETTER to ops (delivery d1)" in dead
    assert ANSI.sub("", dead).endswith(": client_error after 3 tries")


def test_a_notification_reads_as_a_message() -> None:
    text = render({"event": "notification", "receiver": "terminal", "title": "2 tasks failed",
                   "text": "- Batch: b-1\n- State: running"})  # fmt: skip
    assert text.splitlines() == ["12:00:00 ▶ terminal: 2 tasks failed",
                                 "    - Batch: b-1", "    - State: running"]  # fmt: skip


def test_the_summary_counts_what_happened_since_the_last_line() -> None:
    metrics = Metrics()
    summary = Summary(metrics, 10)
    metrics.inputs.labels(ingress="mns-queue", outcome="committed").inc(40)
    metrics.inputs.labels(ingress="mns-push", outcome="quarantined").inc(1)
    metrics.deliveries.labels(receiver="terminal", outcome="delivered", reason="").inc(3)
    metrics.alerts.labels(rule="stalled", state="firing").set(2)
    line = summary.line()
    assert line == {"inputs": 40, "duplicates": 0, "quarantined": 1, "sent": 3, "dead": 0,
                    "firing": 2, "seconds": 10}  # fmt: skip
    assert ANSI.sub("", render({"event": "daemon.summary", **line})) == (
        "12:00:00 summary last 10s: 40 inputs (1 quarantined) · 3 notifications sent · "
        "0 dead letters · 2 alerts firing"
    )
    assert summary.line()["inputs"] == 0


def test_configure_says_whether_the_output_is_for_a_person() -> None:
    assert logconf.configure("info", "console") is True
    assert logconf.configure("info", "json") is False


def daemon_config(tmp_path: Path, port: int, fmt: str) -> Path:
    return write_config(tmp_path, port, log={"level": "info", "format": fmt,
                                             "summary_interval": 1})  # fmt: skip


async def post_a_task(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        body = task_event(1, "batch-1", "Failed", "oss://in/a.docx", code="X")
        async with session.post(f"http://127.0.0.1:{port}/ingest/eventbridge", data=body) as r:
            assert r.status == 200


def read_for(fd: int, seconds: float) -> str:
    out, end = b"", time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return ANSI.sub("", out.decode("utf-8", "replace"))


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_on_a_terminal_banner_and_summary_no_per_input_lines(tmp_path: Path) -> None:
    port = free_port()
    config = daemon_config(tmp_path, port, "auto")
    main, child = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batchrelay", "run", "-c", str(config),
        stdin=subprocess.DEVNULL, stdout=child, stderr=child,
    )  # fmt: skip
    os.close(child)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/healthz")
        await post_a_task(port)
        text = await asyncio.to_thread(read_for, main, 2.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
        os.close(main)
    assert "batchrelay 0.1.0" in text and f"  dashboard  http://127.0.0.1:{port}/" in text
    assert "summary last 1s: 1 inputs · 0 notifications sent" in text
    assert "input.committed" not in text


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_off_a_terminal_json_lines_as_before(tmp_path: Path) -> None:
    port = free_port()
    config = daemon_config(tmp_path, port, "auto")
    out = tmp_path / "out.log"
    with out.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "batchrelay", "run", "-c", str(config),
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            await wait_ready(f"http://127.0.0.1:{port}/healthz")
            await post_a_task(port)
            await asyncio.sleep(1.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 20)
    events = [json.loads(line)["event"] for line in out.read_text().splitlines()]
    assert "input.committed" in events
    assert not {"daemon.banner", "daemon.summary"} & set(events)
