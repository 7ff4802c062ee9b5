"""``GET /api/v1/batches/{batch_key}/tasks/export``: every task of the table, streamed.

``format=csv`` (default) or ``json`` (one array), with the task table's filters
(``status``, ``search``, ``code``). The tasks are read page after page with the listing's
keyset tokens and written as each page arrives, so memory stays at one page whatever the
batch's size, and the export sees each task once even while the batch changes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import replace

from aiohttp import web

from batchrelay.http.batches import task_query
from batchrelay.http.common import STORE, BadQuery, error_response
from batchrelay.store.base import TaskView

COLUMNS = ("task_id", "object_path", "status", "raw_status", "code", "message", "task_type",
           "project", "source", "first_seen", "status_time", "event_id")  # fmt: skip
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
# a cell a spreadsheet would run as a formula (OWASP "CSV injection") starts with a quote
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/batches/{batch_key}/tasks/export", export)]


async def export(request: web.Request) -> web.StreamResponse:
    fmt = request.query.get("format", "csv")
    if fmt not in FORMATS:
        raise BadQuery(f"format must be csv or json (got {fmt!r})")
    query = task_query(request)
    store = request.app[STORE]
    if await store.get_batch(query.batch_key) is None:
        return error_response(404, "not_found", "no such batch")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", query.batch_key)[:100] or "batch"
    response = web.StreamResponse(headers={
        "Content-Type": FORMATS[fmt],
        "Content-Disposition": f'attachment; filename="{name}-tasks.{fmt}"',
        "Cache-Control": "no-store",
    })  # fmt: skip
    response.enable_chunked_encoding()
    await response.prepare(request)
    first = True
    await response.write(_csv_rows([COLUMNS]) if fmt == "csv" else b"[")
    while True:
        page = await store.list_tasks(query)
        if fmt == "csv":
            await response.write(_csv_rows(_cells(task) for task in page.items))
        elif page.items:
            body = ",\n".join(task.model_dump_json(include=set(COLUMNS)) for task in page.items)
            await response.write(("\n" if first else ",\n").encode() + body.encode())
            first = False
        if not page.next_token:
            break
        query = replace(query, next_token=page.next_token)
    if fmt == "json":
        await response.write(b"\n]\n")
    await response.write_eof()
    return response


def _cells(task: TaskView) -> list[str]:
    data = task.model_dump(mode="json", include=set(COLUMNS))
    cells = ["" if data.get(c) is None else str(data[c]) for c in COLUMNS]
    return [f"'{cell}" if _FORMULA.match(cell) else cell for cell in cells]


def _csv_rows(rows: Iterable[Iterable[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")
