"""Batch actions from the dashboard, in headless Chromium: the emulator, the simulator and the
daemon are processes; the Resume and Suspend buttons change the emulator's batch (read back
with the official SDK) and the ledger follows; the history shows who asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_imm20200930 import models as imm_models
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_tea_openapi.utils_models import Config
from playwright.sync_api import Browser, Page, expect, sync_playwright

from batchrelay.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from batchrelay.simulate import SimulateOptions, generate
from tests.processes import Child, free_port, write_config

from .browser import CHROMIUM, CHROMIUM_ARGS, http, screenshot, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TOKEN = "actions-t0ken"
QUEUE = "imm-notify"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
SIM = {"kind": "imm-batch", "batches": 4, "tasks": 5, "failure_ratio": 0.5,
       "fast_fail_ratio": 0.5, "seed": 3}  # fmt: skip
KEYS = {"access_key_id": DEFAULT_ACCESS_KEY_ID, "access_key_secret": DEFAULT_ACCESS_KEY_SECRET}


@dataclass
class Setup:
    base: str
    imm: ImmClient
    project: str
    batch: str  # ended Failed

    def service_state(self) -> str:
        request = imm_models.GetBatchRequest(project_name=self.project, id=self.batch)
        return str(self.imm.get_batch(request).body.batch.state)

    def ledger_state(self) -> str:
        return str(http("GET", f"{self.base}/api/v1/batches/{self.batch}").get("raw_state"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("actions")
    emu_port, port = free_port(), free_port()
    emu, base = f"http://127.0.0.1:{emu_port}", f"http://127.0.0.1:{port}"
    expected = generate(SimulateOptions(start_time=START, **SIM).spec(START)).expected  # type: ignore[arg-type]
    failed = next(b for b in expected if b.state == "failed")
    api = {"region": "cn-shanghai", "endpoint": f"127.0.0.1:{emu_port}", "protocol": "http",
           "credentials": KEYS, "interval": 3600, "projects": [failed.project]}  # fmt: skip
    config = write_config(folder, port, api={"token": TOKEN}, sources={
        "mns_queues": [{"endpoint": emu, "queue": QUEUE, "wait_seconds": 1, **KEYS}],
        "imm_api": api})  # fmt: skip
    emulator = Child(["emulator", "--port", str(emu_port), "--queue", QUEUE], folder / "emu.log")
    daemon = Child(["run", "-c", str(config)], folder / "daemon.log")
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SIM.items()]
    simulator = Child(["simulate", "--target", "mns-queue", "--endpoint", emu, "--emulator", emu,
                       "--start-time", START.isoformat(), *flags], folder / "sim.log")  # fmt: skip
    try:
        emulator.start()
        # listening once it answers at all (an unsigned request is refused with a 4xx)
        wait_for(lambda: http("GET", f"{emu}/").get("status") != 0, timeout=30)
        daemon.start()
        wait_for(lambda: http("GET", f"{base}/readyz").get("status") == "ready", timeout=30)
        simulator.start()
        assert simulator.proc is not None and simulator.proc.wait(timeout=60) == 0
        wait_for(lambda: http("GET", f"{base}/api/v1/batches/{failed.batch_key}").get(
            "raw_state") == "Failed", timeout=60)  # fmt: skip
        credential = CredentialClient(CredentialConfig(type="access_key", **KEYS))
        imm = ImmClient(Config(credential=credential, endpoint=f"127.0.0.1:{emu_port}",
                               protocol="http", region_id="cn-shanghai"))  # fmt: skip
        yield Setup(base, imm, failed.project, failed.batch_key)
    finally:
        for child in (simulator, daemon, emulator):
            child.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(30_000)
    yield tab
    context.close()
    assert errors == []


def click(page: Page, name: str, token: bool = False) -> Any:
    page.get_by_role("button", name=name, exact=True).click()
    if token:
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Bearer token").fill(TOKEN)
        dialog.get_by_role("button", name="Save").click()


def test_resume_and_suspend_from_the_batch_page(setup: Setup, page: Page) -> None:
    page.goto(f"{setup.base}/batches/{setup.batch}")
    section = page.locator("#actions")
    expect(section).to_be_visible()
    expect(page.locator("#action-suspend")).to_be_disabled()  # Failed: only resume, update
    page.get_by_label("Your name").fill("fay")
    click(page, "Resume", token=True)
    expect(page.locator("#action-message")).to_contain_text("resume: done")
    assert setup.service_state() == "Running"
    wait_for(lambda: setup.ledger_state() == "Running", timeout=10)
    expect(page.locator("#action-update")).to_be_disabled()  # Running: no update
    click(page, "Suspend")
    expect(page.locator("#action-message")).to_contain_text("Suspended")
    assert setup.service_state() == "Suspended"
    wait_for(lambda: setup.ledger_state() == "Suspended", timeout=10)
    rows = page.locator("#action-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("suspend")
    expect(rows.first).to_contain_text("fay")
    screenshot(page, "batch-actions")
