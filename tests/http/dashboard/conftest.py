"""The dashboard's browser fixtures: a daemon fed by the traffic simulator, with a local
webhook sink that fails until told otherwise, and the system Chromium driven by Playwright.

Each test module gets its own daemon (module scope); every tab fails its test on any console
error, CSP violations included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.http.test_batches import TASK_SAMPLE
from tests.processes import Child, free_port, write_config

from .browser import CHROMIUM, CHROMIUM_ARGS, Sink, http, wait_for

TOKEN = "dashboard-t0ken"
DLQ_BATCH = "batch-dlq"


@dataclass
class Relay:
    base: str
    sink: Sink
    daemon: Child
    simulator: Child

    def get(self, path: str) -> Any:
        return http("GET", f"{self.base}{path}")

    def restart(self) -> None:
        self.daemon.terminate()
        self.daemon.start()
        ready(self.base)


def ready(base: str) -> None:
    """Sync: Playwright's sync API runs an event loop on this thread already."""
    wait_for(lambda: http("GET", f"{base}/readyz").get("status") == "ready", timeout=30)


def task_body(n: int, batch: str, status: str = "Failed") -> bytes:
    data = dict(
        TASK_SAMPLE["data"], TaskId=f"UiTask-{n}", Status=status, EventSourceId=batch,
        Sources=[{"URI": f"oss://in/ui/{n}.docx"}], Code="InvalidFile.Corrupted",
    )  # fmt: skip
    return json.dumps(dict(TASK_SAMPLE, id=f"ui-event-{n}", data=data)).encode()


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    folder = tmp_path_factory.mktemp("dashboard")
    sink = Sink()
    sink.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(
        folder, port, api={"token": TOKEN},
        receivers={"hook": {"type": "webhook", "url": sink.url,
                            "retry": {"max_attempts": 1000, "max_age": 3, "initial_delay": 0.2,
                                      "max_delay": 0.5}, "breaker": {"failures": 1000}},
                   "rest": {"type": "webhook", "url": sink.url.replace("/hook", "/ok")}},
        routing={"route": {"receiver": "rest", "group_wait": "1s", "routes": [
            {"receiver": "hook", "group_wait": "100ms", "match": {"batch_key": [DLQ_BATCH]}}]}},
        delivery={"tick": 0.1},
        subscriptions={"allow_http": True, "allowed_networks": ["127.0.0.0/8"]},
        alerts={"rules": [{"name": "failure-ratio", "severity": "critical",
                           "condition": "failure_ratio > 0.02 && processed >= 20"}]},
    )  # fmt: skip
    daemon = Child(["run", "-c", str(config)], folder / "daemon.log")
    simulator = Child(
        ["simulate", "--target", "eventbridge", "--endpoint", base, "--kind", "imm-batch",
         "--batches", "3", "--tasks", "80", "--rate", "10", "--seed", "11"],
        folder / "simulator.log",
    )  # fmt: skip
    try:
        daemon.start()
        ready(base)
        http("POST", f"{base}/ingest/eventbridge", task_body(1, DLQ_BATCH))
        simulator.start()
        yield Relay(base, sink, daemon, simulator)
    finally:
        simulator.stop()
        daemon.stop()
        sink.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # a missing browser fails, as a missing PostgreSQL does: .ci/run installs both
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (its own sessionStorage); any console error, CSP violations included,
    fails the test."""
    yield from open_tab(browser, 1440)


def open_tab(browser: Browser, width: int, scheme: str = "light", **options: Any) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme=scheme, **options
    )  # type: ignore[arg-type]
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(30_000)
    yield tab
    context.close()
    # a daemon restart makes the stream drop once: that is expected, nothing else is
    assert [e for e in errors if "ERR_CONNECTION_REFUSED" not in e] == []


def running_batch(relay: Relay) -> dict[str, Any]:
    def find() -> Any:
        batches = relay.get("/api/v1/batches?State=running")["batches"]
        return next((b for b in batches if b["task_counts"].get("running")), None)

    found: dict[str, Any] = wait_for(find, timeout=60)
    return found


def finished_batch(relay: Relay) -> dict[str, Any]:
    """A simulated batch that has closed, with failed tasks: its figures no longer move."""

    def find() -> Any:
        batches = relay.get("/api/v1/batches")["batches"]
        return next(
            (
                b
                for b in batches
                if b["state"] in ("succeeded", "failed", "finished")
                and b["task_counts"].get("failed")
                and b["batch_key"] != DLQ_BATCH
            ),
            None,
        )

    found: dict[str, Any] = wait_for(find, timeout=120)
    return found
