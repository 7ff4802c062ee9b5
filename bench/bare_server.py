"""The baseline and sink: an aiohttp server that reads each body and answers 204 (or the
status given as the second argument), doing nothing else."""

from __future__ import annotations

import sys

from aiohttp import web

STATUS = int(sys.argv[2]) if len(sys.argv) > 2 else 204


async def sink(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=STATUS)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.add_routes([web.post("/{tail:.*}", sink), web.get("/healthz", healthz)])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
