"""Every page at phone, laptop and wide-screen widths in both themes: screenshots saved to
``artifacts/screenshots/``, no horizontal scrolling, and no serious or critical axe-core
violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from .axe import axe_source, severe_violations
from .browser import http, screenshot, wait_for
from .conftest import Relay, finished_batch, open_tab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WIDTHS = (390, 1280, 1920)
THEMES = ("light", "dark")


@pytest.fixture(scope="module")
def pages(relay: Relay) -> dict[str, tuple[str, str]]:
    """name -> (path, a selector present once the page has its data)."""
    http("POST", f"{relay.base}/ingest/eventbridge", b"{not json")  # one for the quarantine
    key = finished_batch(relay)["batch_key"]
    wait_for(lambda: relay.get("/api/v1/alerts?state=firing")["alerts"], timeout=60)
    wait_for(lambda: relay.get("/api/v1/deadletters")["deliveries"], timeout=60)
    return {
        "batches": ("/", "#batches tbody tr"),
        "batch": (f"/batches/{key}", "#code-table tbody tr"),
        "alerts": ("/alerts", "#alert-table tbody tr"),
        "deadletters": ("/deadletters", "#dead-table tbody tr"),
        "quarantine": ("/quarantine", "#quarantine-table tbody tr"),
    }


@pytest.fixture(params=THEMES)
def themed(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Browser]]:
    yield request.param, browser


def settle(page: Page, ready: str) -> None:
    expect(page.locator(ready).first).to_be_visible()
    expect(page.locator("#overview [data-figure=running]")).to_be_visible()
    page.wait_for_timeout(300)  # the sparklines and the chart draw after their data


@pytest.mark.parametrize("name", ["batches", "batch", "alerts", "deadletters", "quarantine"])
def test_no_page_scrolls_sideways_at_any_width(
    relay: Relay, pages: dict[str, tuple[str, str]], themed: tuple[str, Browser], name: str
) -> None:
    theme, browser = themed
    path, ready = pages[name]
    for width in WIDTHS:
        for page in open_tab(browser, width, theme):
            page.goto(f"{relay.base}{path}")
            settle(page, ready)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            screenshot(page, f"{name}-{width}-{theme}")
            assert overflow <= 0, f"{name} at {width}px ({theme}) scrolls sideways by {overflow}px"


@pytest.mark.parametrize("name", ["batches", "batch", "alerts", "deadletters", "quarantine"])
def test_axe_finds_no_serious_violation(
    relay: Relay, pages: dict[str, tuple[str, str]], themed: tuple[str, Browser], name: str
) -> None:
    theme, browser = themed
    path, ready = pages[name]
    for page in open_tab(browser, 1280, theme):
        page.context.add_init_script(script=axe_source())
        page.goto(f"{relay.base}{path}")
        settle(page, ready)
        assert severe_violations(page) == []
