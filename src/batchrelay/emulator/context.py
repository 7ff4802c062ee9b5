"""Helpers every route shares: the backend of a request, XML bodies in and out."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from aiohttp import web

from batchrelay.emulator import xml
from batchrelay.emulator.attributes import parse_int
from batchrelay.emulator.backend import Backend
from batchrelay.emulator.errors import invalid_argument

BACKEND = web.AppKey("batchrelay.emulator.backend", Backend)
XML_CONTENT_TYPE = "text/xml"


def backend(request: web.Request) -> Backend:
    return request.app[BACKEND]


def xml_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=XML_CONTENT_TYPE, charset="utf-8")


def no_content() -> web.Response:
    return web.Response(status=204)


def created(location: str, *, new: bool) -> web.Response:
    """201 for a new resource, 204 when an identical one existed; both name it in Location."""
    return web.Response(status=201 if new else 204, headers={"Location": location})


async def read_xml(request: web.Request, *roots: str) -> Element:
    """The request's XML root, which must be one of ``roots``."""
    root = xml.parse(await request.read())
    if xml.local_name(root) not in roots:
        expected = " or ".join(roots)
        raise invalid_argument(f"The XML you provided did not validate: expected {expected}.")
    return root


async def read_fields(request: web.Request, root: str) -> dict[str, str]:
    """Leaf fields of an optional body (CreateQueue and friends may send none)."""
    if not (await request.read()).strip():
        return {}
    return xml.leaf_fields(await read_xml(request, root))


def metaoverride(request: web.Request) -> bool:
    """``?metaoverride=true`` turns a create (PUT) into a set-attributes call."""
    return request.query.get("metaoverride", "").lower() == "true"


def list_window(request: web.Request) -> tuple[str, str, int]:
    """``(prefix, marker, limit)`` from the x-mns-* headers the SDK's List calls send."""
    number = request.headers.get("x-mns-ret-number")
    limit = 1000 if number is None else parse_int("x-mns-ret-number", number, 1, 1000)
    return request.headers.get("x-mns-prefix", ""), request.headers.get("x-mns-marker", ""), limit
