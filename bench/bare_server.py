"""The baseline: an aiohttp server whose handler reads the body, answers 204, does nothing."""

from __future__ import annotations

import sys

from aiohttp import web


async def sink(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.add_routes([web.post("/{tail:.*}", sink), web.get("/healthz", healthz)])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
