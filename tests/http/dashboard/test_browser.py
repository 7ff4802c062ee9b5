"""The dashboard end to end: headless Chromium (Playwright) against a daemon process fed by
the traffic simulator, with a local webhook sink that fails until told otherwise.

Every page is screenshotted into ``artifacts/screenshots/``. Nothing here asserts time.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .browser import http, screenshot, wait_for
from .conftest import DLQ_BATCH, TOKEN, Relay, finished_batch, running_batch, task_body

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_batches_page_renders_the_simulated_batches(relay: Relay, page: Page) -> None:
    wait_for(lambda: len(relay.get("/api/v1/batches")["batches"]) >= 3, timeout=60)
    page.goto(f"{relay.base}/")
    rows = page.locator("#batches tbody tr")
    expect(rows.first).to_be_visible()
    keys = [b["batch_key"] for b in relay.get("/api/v1/batches")["batches"]]
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.batchKey)")
    assert set(keys) <= set(shown) | {DLQ_BATCH}
    first = page.locator(f'tr[data-batch-key="{keys[0]}"]')
    expect(first.locator("th a")).to_have_text(keys[0])
    # the bar says in words what its segments show
    expect(first.locator("svg.bar")).to_have_attribute(
        "aria-label",
        re.compile(r"processed; \d+ succeeded, \d+ failed, \d+ skipped, \d+ remaining"),
    )
    expect(page.locator("#live")).to_have_text("live")
    screenshot(page, "batches")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "batches-dark")


def test_filters_follow_list_batches(relay: Relay, page: Page) -> None:
    page.goto(f"{relay.base}/?State=running")
    expect(page.locator("#batches tbody tr").first).to_be_visible()
    states = page.locator("#batches tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.state)"
    )
    assert states and set(states) == {"running"}
    # the state is said in text, with an icon: never by colour alone
    assert set(page.locator("#batches tbody td[data-col=state]").all_text_contents()) == {
        "▶running"
    }
    page.get_by_label("State").select_option("failed")
    expect(page).to_have_url(re.compile(r"State=failed"))


def test_a_running_batch_advances_without_a_reload(relay: Relay, page: Page) -> None:
    batch = running_batch(relay)
    key = batch["batch_key"]
    page.goto(f"{relay.base}/")
    bar = page.locator(f'tr[data-batch-key="{key}"] svg.bar')
    expect(bar).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    start = float(bar.get_attribute("data-processed") or 0)
    page.wait_for_function(
        "([key, start]) => Number(document.querySelector("
        '`tr[data-batch-key="${key}"] svg.bar`).dataset.processed) > start',
        arg=[key, start],
        timeout=60_000,
    )
    assert page.evaluate("window.__sameDocument") is True  # no reload happened


def test_task_search_narrows_the_table(relay: Relay, page: Page) -> None:
    key = running_batch(relay)["batch_key"]
    page.goto(f"{relay.base}/batches/{key}")
    rows = page.locator("#task-table tbody tr")
    expect(rows.first).to_be_visible()
    page.wait_for_function("() => document.querySelectorAll('#task-table tbody tr').length > 3")
    before = rows.count()
    path = rows.first.locator("td.path").inner_text()
    needle = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]  # the file's stem: one task
    page.get_by_label("Object path").fill(needle)
    page.wait_for_function(
        "(n) => document.querySelectorAll('#task-table tbody tr').length < n", arg=before
    )
    paths = page.locator("#task-table tbody td.path").all_inner_texts()
    assert paths and all(needle.lower() in p.lower() for p in paths)
    page.get_by_label("Object path").fill("")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#task-table tbody tr').length >= n", arg=before
    )
    expect(page.locator("#chart svg polyline").first).to_be_attached()
    expect(page.locator("#events tbody tr").first).to_be_visible()
    screenshot(page, "batch")
    page.locator("#events tbody tr button").first.click()
    expect(page.locator("dialog[open] pre")).to_contain_text('"id"')
    screenshot(page, "batch-raw-event")


def token_dialog(page: Page) -> None:
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Bearer token").fill(TOKEN)
    dialog.get_by_role("button", name="Save").click()


def test_replaying_a_dead_letter_from_the_ui_delivers_it(relay: Relay, page: Page) -> None:
    def dead() -> Any:
        return relay.get("/api/v1/deadletters")["deliveries"]

    [letter] = wait_for(dead, timeout=60)
    assert letter["batch_key"] == DLQ_BATCH
    relay.sink.failing = False
    page.goto(f"{relay.base}/deadletters")
    row = page.locator(f'tr[data-delivery-id="{letter["id"]}"]')
    expect(row).to_be_visible()
    screenshot(page, "deadletters")
    row.get_by_role("button", name=f"Replay {letter['id']}").click()
    token_dialog(page)
    expect(page.locator("#replay-message")).to_contain_text("Replaying")
    wait_for(lambda: letter["id"] in relay.sink.delivered, timeout=30)
    assert relay.sink.delivered[letter["id"]] == ["ui-event-1"]
    page.goto(f"{relay.base}/batches/{DLQ_BATCH}")
    expect(page.locator("#notifications tbody tr").first).to_be_visible()


def test_quarantine_page_shows_rejected_input(relay: Relay, page: Page) -> None:
    http("POST", f"{relay.base}/ingest/eventbridge", b'{"<script>alert(1)</script>": ')
    page.goto(f"{relay.base}/quarantine")
    row = page.locator("#quarantine-table tbody tr").first
    expect(row).to_be_visible()
    row.get_by_role("button").click()
    expect(page.locator("dialog[open] pre")).to_contain_text("<script>alert(1)</script>")
    screenshot(page, "quarantine")


def test_a_silence_created_in_the_ui_is_in_the_api(relay: Relay, page: Page) -> None:
    key = running_batch(relay)["batch_key"]
    page.goto(f"{relay.base}/alerts?batch_key={key}#new-silence")
    page.get_by_label("Matchers (one per line)").fill('alertname="stalled"')
    page.get_by_label("Created by").fill("dashboard-test")
    page.get_by_label("Comment").fill(f"quiet {key} from the UI")
    page.get_by_role("button", name="Create silence").click()
    token_dialog(page)
    expect(page.locator("#silence-message")).to_contain_text("created")
    silences = relay.get("/api/v1/silences")["silences"]
    mine = [s for s in silences if s["comment"] == f"quiet {key} from the UI"]
    assert len(mine) == 1 and mine[0]["batch_key"] == key
    row = page.locator(f'tr[data-silence-id="{mine[0]["id"]}"]')
    expect(row).to_be_visible()
    screenshot(page, "alerts")
    row.get_by_role("button", name=f"Expire silence {mine[0]['id']}").click()
    expect(page.locator("#silence-message")).to_contain_text("expired")
    expired = relay.get("/api/v1/silences?state=expired")["silences"]
    assert mine[0]["id"] in {s["id"] for s in expired}


def test_the_overview_follows_the_stream(relay: Relay, page: Page) -> None:
    page.goto(f"{relay.base}/deadletters")
    quarantined = page.locator("#overview [data-figure=quarantined]")
    expect(quarantined).to_have_attribute("href", "/quarantine")
    expect(quarantined.locator("strong")).not_to_have_text("")
    before = int(quarantined.locator("strong").inner_text().replace(",", ""))
    running = page.locator("#overview [data-figure=running] strong")
    page.evaluate("window.__sameDocument = true")
    http("POST", f"{relay.base}/ingest/eventbridge", b"{broken")
    expect(quarantined.locator("strong")).to_have_text(str(before + 1), timeout=15_000)
    # the running figure catches up with the store's as the simulator moves on
    wait_for(lambda: running.inner_text() == str(relay.get("/api/v1/overview")["running"]))
    assert page.evaluate("window.__sameDocument") is True
    page.locator("#overview [data-figure=failed]").click()
    expect(page).to_have_url(re.compile(r"/\?State=failed$"))


def test_the_batch_chart_advances_live(relay: Relay, page: Page) -> None:
    key = running_batch(relay)["batch_key"]
    page.goto(f"{relay.base}/batches/{key}")
    figure = page.locator("#chart figure")
    expect(figure).to_have_attribute("data-mode", "counts")
    page.evaluate("window.__sameDocument = true")
    start = int(figure.get_attribute("data-points") or 0) + int(
        figure.get_attribute("data-succeeded") or 0
    )
    page.wait_for_function(
        "(start) => { const f = document.querySelector('#chart figure');"
        " return Number(f.dataset.points) + Number(f.dataset.succeeded) > start; }",
        arg=start,
        timeout=60_000,
    )
    assert page.evaluate("window.__sameDocument") is True
    page.get_by_label("Rate per minute").check()
    expect(figure).to_have_attribute("data-mode", "rate")
    expect(page.locator("#chart figure svg")).to_have_attribute(
        "aria-label", re.compile("per minute")
    )


def test_failures_grouped_as_the_api_says_and_filter_the_tasks(relay: Relay, page: Page) -> None:
    key = finished_batch(relay)["batch_key"]
    expected = relay.get(f"/api/v1/batches/{key}/failures")
    page.goto(f"{relay.base}/batches/{key}")
    rows = page.locator("#code-table tbody tr")
    expect(rows).to_have_count(len(expected["codes"]))
    shown = rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.code, Number(r.cells[1].textContent.replace(/,/g, ''))])"
    )
    assert shown == [[c["code"], c["tasks"]] for c in expected["codes"]]
    prefixes = page.locator("#clusters li a").all_inner_texts()
    assert prefixes[: len(expected["clusters"]["prefixes"])] == [
        p["prefix"] for p in expected["clusters"]["prefixes"]
    ]
    code = expected["codes"][0]["code"]
    rows.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"[?&]code="))
    task_rows = page.locator("#task-table tbody tr")
    expect(task_rows).to_have_count(expected["codes"][0]["tasks"])
    assert set(task_rows.evaluate_all("rows => rows.map(r => r.dataset.status)")) == {"failed"}
    expect(task_rows.first).to_have_class(re.compile("task-failed"))
    # the deep link opens with the same filter
    page.goto(page.url)
    expect(page.locator("#task-code")).to_have_value(code)
    expect(task_rows).to_have_count(expected["codes"][0]["tasks"])


def test_export_downloads_every_task(relay: Relay, page: Page) -> None:
    batch = finished_batch(relay)
    key, total = batch["batch_key"], sum(batch["task_counts"].values())
    page.goto(f"{relay.base}/batches/{key}")
    expect(page.locator("#task-table tbody tr").first).to_be_visible()
    for fmt in ("csv", "json"):
        with page.expect_download() as download:
            page.locator(f"#task-export a[data-format={fmt}]").click()
        text = Path(download.value.path()).read_text("utf-8")
        rows = list(csv.DictReader(io.StringIO(text))) if fmt == "csv" else json.loads(text)
        assert len(rows) == total and len({r["task_id"] for r in rows}) == total


def test_a_silence_prefilled_from_an_alert_in_one_click(relay: Relay, page: Page) -> None:
    firing = wait_for(lambda: relay.get("/api/v1/alerts?state=firing")["alerts"], timeout=60)[0]
    page.goto(f"{relay.base}/alerts?rule={firing['rule']}&batch_key={firing['batch_key']}")
    rows = page.locator("#alert-table tbody tr")
    expect(rows.first).to_have_attribute("data-status", "firing")
    statuses = rows.evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert statuses == sorted(statuses, key=["firing", "pending", "resolved"].index)
    row = rows.first
    expect(row).to_have_class(re.compile("target"))  # the deep link's alert
    expect(row.locator("dl.figures dt").first).to_have_text("Status")
    row.get_by_role("button", name=re.compile("^Silence ")).click()
    expect(page.get_by_label("Matchers (one per line)")).to_have_value(
        f'alertname="{firing["rule"]}"'
    )
    expect(page.get_by_label("Batch key")).to_have_value(firing["batch_key"])
    expect(page.locator("#silence-on-close")).to_be_checked()


def test_the_page_keeps_working_after_a_daemon_restart(relay: Relay, page: Page) -> None:
    page.goto(f"{relay.base}/")
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("window.__sameDocument = true")
    relay.restart()
    expect(page.locator("#live")).to_have_text("live", timeout=30_000)
    http("POST", f"{relay.base}/ingest/eventbridge", task_body(2, "batch-after-restart"))
    expect(page.locator('tr[data-batch-key="batch-after-restart"]')).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
