"""The dashboard at ``/``: pages, static assets, the reads they need and live updates.

``setup(app)`` is the one call ``web.create_app`` makes. Everything the browser loads ships
in ``static/`` (plain JS modules, CSS, SVG; no build step, nothing from another origin).
"""

from __future__ import annotations

from aiohttp import web

from batchrelay.dashboard import export, failures, overview, pages, reads, sse


def setup(app: web.Application) -> None:
    app[sse.HUB] = sse.Hub()
    app[overview.LATEST] = overview.Latest()
    app.on_shutdown.append(sse.end_streams)
    app.add_routes(reads.routes())
    app.add_routes(overview.routes())
    app.add_routes(failures.routes())
    app.add_routes(export.routes())
    app.add_routes(sse.routes())
    app.add_routes(pages.routes())
