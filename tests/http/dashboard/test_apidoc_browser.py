"""The API description page as a person reads it, in Chromium: it loads under the strict
policy with no console error, fits a phone and a desktop without sideways scrolling in
both themes, its contents link to each call, and axe-core finds no serious violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from ...processes import Child, free_port, write_config
from .axe import axe_source, severe_violations
from .browser import screenshot
from .conftest import open_tab, ready

PAGE = "/api/v1/docs"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("apidoc")
    port = free_port()
    daemon = Child(["run", "-c", str(write_config(folder, port))], folder / "daemon.log")
    try:
        daemon.start()
        ready(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        daemon.stop()


@pytest.mark.slow
@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1280])
def test_the_page_fits_and_reads_well(base: str, browser: Browser, width: int, theme: str) -> None:
    for page in open_tab(browser, width, theme):
        page.context.add_init_script(script=axe_source())
        page.goto(f"{base}{PAGE}")
        assert page.title() == "batchrelay API · batchrelay"
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        screenshot(page, f"apidoc-{width}-{theme}")
        assert overflow <= 0, f"{PAGE} at {width}px ({theme}) scrolls sideways by {overflow}px"
        assert severe_violations(page) == []


@pytest.mark.slow
def test_contents_lead_to_each_call_and_schema(base: str, browser: Browser) -> None:
    for page in open_tab(browser, 1280):
        page.goto(f"{base}{PAGE}")
        page.get_by_role("link", name="POST /api/v1/silences").click()
        assert page.url.endswith("#createSilence")
        call = page.locator("#createSilence")
        assert call.is_visible()
        assert "needs api.token" in " ".join(call.inner_text().split())
        call.get_by_role("link", name="NewSilence").first.click()
        assert page.url.endswith("#schema-NewSilence")
        assert page.locator("#schema-NewSilence").is_visible()
