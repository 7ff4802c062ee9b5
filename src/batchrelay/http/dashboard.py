"""The dashboard's pages and static files, each answered with a strict Content-Security-Policy.

Every page is one HTML shell (``static/page.html``) with its title and its JS module filled
in; the modules read the JSON API. No inline script or style anywhere, so the policy allows
only this origin's files; everything rendered from data goes through ``textContent``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from aiohttp import web

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
STATIC_PREFIX = "/static/dashboard/"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(html|js|css|svg)$")

#: path -> (the page's module, without .js, and its title)
PAGES = {
    "/": ("batches", "Batches"),
    "/batches/{batch_key}": ("batch", "Batch"),
    "/alerts": ("alerts", "Alerts and silences"),
    "/deadletters": ("deadletters", "Dead letters"),
    "/quarantine": ("quarantine", "Quarantine"),
    "/subscriptions": ("subscriptions", "Subscriptions"),
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@cache
def asset(name: str) -> Asset | None:
    """A shipped file by name (no folders: nothing outside ``static/`` can be named)."""
    if not _NAME.match(name):
        return None
    path = files("batchrelay.http").joinpath("static", name)
    if not path.is_file():
        return None
    body = path.read_bytes()
    suffix = name[name.rindex(".") :]
    return Asset(body, _TYPES[suffix], f'"{hashlib.sha256(body).hexdigest()[:20]}"')


@cache
def page_asset(module: str, title: str) -> Asset:
    """The shell with this page's module and title (both ours, never from a request)."""
    shell = asset("page.html")
    assert shell is not None  # shipped with the package
    body = shell.body.decode("utf-8").format(page=module, title=title).encode("utf-8")
    return Asset(body, shell.content_type, f'"{hashlib.sha256(body).hexdigest()[:20]}"')


def routes() -> list[web.RouteDef]:
    pages = [web.get(path, _page(*page)) for path, page in PAGES.items()]
    return [*pages, web.get(STATIC_PREFIX + "{name}", static)]


def _page(module: str, title: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def page(request: web.Request) -> web.Response:
        return _serve(request, page_asset(module, title))

    return page


async def static(request: web.Request) -> web.Response:
    return _serve(request, asset(request.match_info["name"]))


def _serve(request: web.Request, found: Asset | None) -> web.Response:
    if found is None:
        return web.Response(status=404, text="not found", headers=SECURITY_HEADERS)
    # no-cache: the browser revalidates each time (cheap with the ETag), so an upgraded
    # daemon's files are used at once
    headers = {**SECURITY_HEADERS, "ETag": found.etag, "Cache-Control": "no-cache"}
    if request.headers.get("If-None-Match") == found.etag:
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = found.content_type
    return web.Response(body=found.body, headers=headers)
