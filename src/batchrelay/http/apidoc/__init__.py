"""The HTTP API's description: an OpenAPI 3.1 document, served as JSON and as a page.

The document is a data file (``openapi.yaml`` beside this module), written by hand rather
than generated from the handlers: it is the contract clients rely on, so a change to it
reads as one diff, and it carries the descriptions a reader needs. It is kept true by the
tests, not by generation: ``openapi-spec-validator`` checks the document, a test compares
its paths with the routes the daemon registers and its schemas with the view models, and
``schemathesis`` checks every answer of a live daemon against it.

``GET /api/v1/openapi.json``  the document (its ``info.version`` is the daemon's version)
``GET /api/v1/docs``          the same, as a page (no script; the dashboard's policy)
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from aiohttp import web

from batchrelay import __version__
from batchrelay.http.dashboard import SECURITY_HEADERS

DOCUMENT_PATH = "/api/v1/openapi.json"
PAGE_PATH = "/api/v1/docs"


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document, with this daemon's version."""
    text = files(__name__).joinpath("openapi.yaml").read_text("utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    doc["info"]["version"] = __version__
    return doc


@cache
def _document_json() -> bytes:
    return json.dumps(document(), ensure_ascii=False).encode("utf-8")


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=_document_json(), content_type="application/json")


@cache
def _page() -> str:
    from batchrelay.http.apidoc.page import render  # the page's code loads when a person asks

    return render(document())


async def docs_page(request: web.Request) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return web.Response(text=_page(), content_type="text/html", headers=headers)


def routes() -> list[web.RouteDef]:
    return [web.get(DOCUMENT_PATH, openapi_json), web.get(PAGE_PATH, docs_page)]
