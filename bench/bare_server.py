"""The baseline and sink: an aiohttp server that reads each body and answers 204 (or the
status given as the second argument), doing nothing else.

    python bench/bare_server.py PORT [STATUS] [--count]

``--count`` (the delivery sink) also counts what it receives: ``GET /stats`` answers the
requests and body bytes so far and the times of the first and the last (monotonic clock,
seconds), ``GET /last`` the last body, ``DELETE /stats`` starts again.
"""

from __future__ import annotations

import sys
import time

from aiohttp import web

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
STATUS = int(ARGS[1]) if len(ARGS) > 1 else 204
STATS = web.AppKey("stats", dict[str, float])
LAST = web.AppKey("last", list[bytes])


async def sink(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=STATUS)


async def counting_sink(request: web.Request) -> web.Response:
    body = await request.read()
    stats = request.app[STATS]
    now = time.monotonic()
    stats["requests"] += 1
    stats["bytes"] += len(body)
    stats["first"] = stats["first"] or now
    stats["last"] = now
    request.app[LAST][:] = [body]
    return web.Response(status=STATUS)


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATS])


async def last_body(request: web.Request) -> web.Response:
    return web.Response(body=b"".join(request.app[LAST]), content_type="application/json")


async def reset_stats(request: web.Request) -> web.Response:
    request.app[STATS].update(requests=0, bytes=0, first=0.0, last=0.0)
    return web.Response(status=204)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    routes = [web.get("/healthz", healthz)]
    if "--count" in sys.argv:
        app[STATS] = {"requests": 0, "bytes": 0, "first": 0.0, "last": 0.0}
        app[LAST] = []
        routes += [web.get("/stats", get_stats), web.delete("/stats", reset_stats)]
        routes.append(web.get("/last", last_body))
        routes.append(web.post("/{tail:.*}", counting_sink))
    else:
        routes.append(web.post("/{tail:.*}", sink))
    app.add_routes(routes)
    web.run_app(app, host="127.0.0.1", port=int(ARGS[0]), print=None, access_log=None)


if __name__ == "__main__":
    main()
