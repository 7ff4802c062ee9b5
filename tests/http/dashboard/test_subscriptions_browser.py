"""The subscriptions page in Chromium: a subscription made over the API is listed, its
test ping answered, and it is disabled from the page (token asked for once)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .browser import http, screenshot
from .conftest import TOKEN, Relay
from .test_browser import token_dialog


def test_a_subscription_is_tested_and_disabled_from_the_page(relay: Relay, page: Page) -> None:
    created = http(
        "POST",
        f"{relay.base}/api/v1/subscriptions",
        {
            "url": relay.sink.url.replace("/hook", "/ok"),
            "description": "ui test",
            "filter": {"batch_key": ["no-such-batch"]},
        },
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    sid = created["id"]
    page.goto(f"{relay.base}/subscriptions")
    row = page.locator(f'tr[data-subscription-id="{sid}"]')
    expect(row).to_contain_text("ui test")
    row.get_by_role("button", name=f"Test {sid}").click()
    token_dialog(page)
    expect(page.locator("#subscription-message")).to_contain_text("answered 200")
    screenshot(page, "subscriptions")
    row.get_by_role("button", name=f"Disable {sid}").click()
    expect(page.locator("#subscription-message")).to_contain_text("disabled")
    assert http("GET", f"{relay.base}/api/v1/subscriptions/{sid}")["enabled"] is False
    expect(row.get_by_role("button", name=f"Enable {sid}")).to_be_visible()
