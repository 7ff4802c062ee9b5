"""With ``api.read_token`` set, a person in a browser logs in once and then sees the live
dashboard; without the token the data stays closed (issue 13: read access control)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.processes import Child, free_port, write_config

from .browser import http, wait_for
from .conftest import task_body

READ_TOKEN = "read-t0ken-for-people"
WRITE_TOKEN = "write-t0ken"
BATCH = "batch-login"


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A daemon whose reads need the read token, with one batch in it."""
    folder: Path = tmp_path_factory.mktemp("login")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(folder, port, api={"token": WRITE_TOKEN, "read_token": READ_TOKEN})
    daemon = Child(["run", "-c", str(config)], folder / "daemon.log")
    daemon.start()
    try:
        wait_for(lambda: http("GET", f"{base}/readyz").get("status") == "ready", timeout=30)
        http("POST", f"{base}/ingest/eventbridge", task_body(1, BATCH))  # ingest stays open
        yield base
    finally:
        daemon.stop()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    """A fresh tab; the login form is answered with 401 (it is what a refused read gets), so
    only those loads may show as console errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert [e for e in errors if "status of 401" not in e] == []


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def test_reads_are_closed_without_the_token(closed: str) -> None:
    for path in ("/api/v1/batches", "/api/v1/stream", "/metrics", "/static/dashboard/batch.js"):
        assert status_of(closed + path) == 401, path


def test_a_person_logs_in_once_and_sees_the_live_dashboard(closed: str, tab: Page) -> None:
    tab.goto(f"{closed}/batches/{BATCH}")
    expect(tab.locator("form[action='/-/login']")).to_be_visible()
    tab.fill("#token", "not-the-token")
    tab.click("button[type=submit]")
    expect(tab.locator(".message.error")).to_have_text("Wrong token.")
    tab.fill("#token", READ_TOKEN)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{closed}/batches/{BATCH}")  # back where the person was going
    expect(tab.locator("h1")).to_contain_text(BATCH)
    expect(tab.locator("#live")).to_have_text("live")  # the stream is open with the cookie
    tab.goto(f"{closed}/")
    expect(tab.locator(f'tr[data-batch-key="{BATCH}"]')).to_be_visible()
    cookies = {c["name"]: c for c in tab.context.cookies()}
    [session] = [c for c in cookies.values() if c["httpOnly"]]
    assert READ_TOKEN not in session["value"] and session["sameSite"] == "Strict"
