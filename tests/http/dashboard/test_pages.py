"""Pages and static files: served from the package, with a strict Content-Security-Policy."""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

import pytest

from batchrelay.http.dashboard import CSP, PAGES

STATIC = files("batchrelay.http").joinpath("static")


@pytest.mark.parametrize(
    "path", ["/", "/batches/batch-1", "/alerts", "/deadletters", "/quarantine", "/subscriptions"]
)
async def test_pages_are_shells_with_a_strict_policy(daemon: Any, path: str) -> None:
    resp = await daemon.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    policy = resp.headers["Content-Security-Policy"]
    assert policy == CSP
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    html = await resp.text()
    # no inline script: every <script> has a src on this origin
    for tag in re.findall(r"<script[^>]*>", html):
        assert re.search(r'src="/static/dashboard/[a-z]+\.js"', tag), tag
    assert "<style" not in html and " style=" not in html
    assert "http://" not in html and "https://" not in html  # nothing from another origin


def test_every_page_has_its_module() -> None:
    for module, _ in PAGES.values():
        assert STATIC.joinpath(f"{module}.js").is_file()


def test_assets_never_build_html_from_strings() -> None:
    for entry in STATIC.iterdir():
        if entry.name.endswith(".js"):
            text = entry.read_text("utf-8")
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in text, f"{entry.name} uses {sink}"
            # the SVG namespace is a name, not a place to load from
            urls = re.findall(r"https?://[^\s\"'`]+", text)
            assert set(urls) <= {"http://www.w3.org/2000/svg"}, entry.name


@pytest.mark.parametrize(
    ("name", "kind"),
    [("common.js", "text/javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")],
)
async def test_static_files_with_etags(daemon: Any, name: str, kind: str) -> None:
    resp = await daemon.get(f"/static/dashboard/{name}")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith(kind)
    assert resp.headers["Content-Security-Policy"] == CSP
    etag = resp.headers["ETag"]
    again = await daemon.get(f"/static/dashboard/{name}", headers={"If-None-Match": etag})
    assert again.status == 304


@pytest.mark.parametrize(
    "name", ["..%2Fpages.py", "pages.py", "missing.js", ".hidden.js", "%2E%2E%2F__init__.py"]
)
async def test_static_serves_only_shipped_assets(daemon: Any, name: str) -> None:
    resp = await daemon.get(f"/static/dashboard/{name}")
    assert resp.status == 404
