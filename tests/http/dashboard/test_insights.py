"""The dashboard's summary reads over HTTP: the overview, failures grouped and clustered,
recent activity and the streamed export of a batch's tasks."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchrelay.events.models import ImmTaskEvent
from batchrelay.http.batch_failures import grouping
from batchrelay.http.common import STORE
from batchrelay.store.base import FailedTask, Inbound
from tests.http.test_batches import task_event

PATHS = ["oss://in/a/x/1.docx", "oss://in/a/x/2.docx", "oss://in/a/y/3.pdf", "oss://in/b/4.docx"]


@pytest.fixture
async def batch(daemon: Any) -> Any:
    for n in range(12):
        failed = n % 3 == 0  # tasks 0, 3, 6, 9
        code = ("E.Corrupt" if n < 9 else "E.Missing") if failed else ""
        path = PATHS[n // 3] if failed else f"oss://in/ok/{n}.docx"
        body = task_event(n, "batch-7", "Failed" if failed else "Succeeded", path, code)
        assert (await daemon.post("/ingest/eventbridge", data=body)).status == 200
    return daemon


async def test_overview_counts_follow_ingest(batch: Any) -> None:
    body = await (await batch.get("/api/v1/overview")).json()
    assert body["ingest"]["events"] == 12 and body["ingest"]["window_seconds"] == 60
    assert body["ingest"]["at_least"] is False
    assert (body["alerts_firing"], body["dead_letters"], body["quarantined"]) == (0, 0, 0)
    assert sum(body["batches"].values()) == 1
    await batch.post("/ingest/eventbridge", data=b"{not json")
    await asyncio.sleep(1.05)  # one answer serves a second
    again = await (await batch.get("/api/v1/overview")).json()
    assert again["quarantined"] == 1 and again["quarantine_window_seconds"] == 3600


async def test_failures_grouped_by_code_with_examples_and_clusters(batch: Any) -> None:
    resp = await batch.get("/api/v1/batches/batch-7/failures")
    assert resp.status == 200
    body = await resp.json()
    assert body["failed"] == 4
    assert [(c["code"], c["tasks"], c["share"]) for c in body["codes"]] == [
        ("E.Corrupt", 3, 0.75), ("E.Missing", 1, 0.25)]  # fmt: skip
    assert [e["object_path"] for e in body["codes"][0]["examples"]] == PATHS[:3]
    clusters = body["clusters"]
    assert (clusters["sampled"], clusters["exact"]) == (4, True)
    # oss://in/ holds all four but oss://in/a/ explains 3 of them only: both are listed
    assert [(p["prefix"], p["tasks"]) for p in clusters["prefixes"]] == [
        ("oss://in/", 4), ("oss://in/a/", 3), ("oss://in/a/x/", 2),
        ("oss://in/a/y/", 1), ("oss://in/b/", 1)]  # fmt: skip
    assert [(e["extension"], e["share"]) for e in clusters["extensions"]] == [
        (".docx", 0.75), (".pdf", 0.25)]  # fmt: skip
    # the link from a group filters the task table by that code
    tasks = await (await batch.get("/api/v1/batches/batch-7/tasks?code=E.Missing")).json()
    assert [t["object_path"] for t in tasks["tasks"]] == [PATHS[3]]
    assert (await batch.get("/api/v1/batches/nope/failures")).status == 404


def failed(n: int, path: str) -> FailedTask:
    return FailedTask(task_id=f"t{n}", object_path=path, status_time=datetime.now(UTC))


def test_clusters_from_a_sample_are_weighted_estimates() -> None:
    # 1,000 failures of code A sampled by 2 (one under x/, one under y/), 10 of B all sampled
    sampled = {"A": [failed(1, "oss://b/x/1.mov"), failed(2, "oss://b/y/2.MOV")],
               "B": [failed(10 + n, f"oss://b/z/{n}.png") for n in range(10)]}  # fmt: skip
    body = grouping({"A": 1000, "B": 10}, sampled)
    clusters = body["clusters"]
    assert (clusters["sampled"], clusters["exact"]) == (12, False)
    assert [(p["prefix"], p["tasks"]) for p in clusters["prefixes"]] == [
        ("oss://b/", 1010), ("oss://b/x/", 500), ("oss://b/y/", 500)]  # fmt: skip
    assert [(e["extension"], e["tasks"]) for e in clusters["extensions"]] == [(".mov", 1000)]


def test_a_folder_explained_by_its_sub_folder_gives_way() -> None:
    body = grouping({"A": 3}, {"A": [failed(n, f"oss://b/one/deep/{n}") for n in range(3)]})
    assert [p["prefix"] for p in body["clusters"]["prefixes"]] == ["oss://b/one/deep/"]
    assert [e["extension"] for e in body["clusters"]["extensions"]] == ["(none)"]


async def test_activity_counts_recent_events_per_batch(batch: Any) -> None:
    old = task_event(99, "batch-old", "Succeeded", "oss://in/old.docx")
    await batch.post("/ingest/eventbridge", data=old)
    resp = await batch.get("/api/v1/activity?batch_key=batch-7&batch_key=nope")
    assert resp.status == 200
    body = await resp.json()
    assert body["bucket_seconds"] == 120 and set(body["batches"]) == {"batch-7", "nope"}
    assert len(body["batches"]["batch-7"]) == 30 and body["batches"]["nope"] == [0] * 30
    assert (await batch.get("/api/v1/activity")).status == 400
    many = "&".join(f"batch_key=k{n}" for n in range(101))
    assert (await batch.get(f"/api/v1/activity?{many}")).status == 400


async def test_activity_buckets_by_event_time(daemon: Any) -> None:
    now = datetime.now(UTC)
    store = daemon.server.app[STORE]
    events = [task(n, "B", now - timedelta(minutes=minutes))
              for n, minutes in enumerate([0, 0, 1, 3, 61])]  # fmt: skip
    await store.commit_many(events)
    body = await (await daemon.get("/api/v1/activity?batch_key=B")).json()
    counts = body["batches"]["B"]
    assert sum(counts) == 4 and counts[-1] >= 1  # the hour-old event is outside


def task(
    n: int, batch_key: str, at: datetime, status: str = "succeeded", code: str = ""
) -> Inbound:
    event = ImmTaskEvent(
        event_id=f"{batch_key}-e{n}", source="acs.imm", type="imm:Task:MediaConvert", time=at,
        ingress="eventbridge", project="p", batch_key=batch_key, task_id=f"{batch_key}-t{n:06d}",
        task_type="MediaConvert", object_path=f"oss://in/{batch_key}/f-{n:06d}.mov",
        status=status, raw_status=status.title(), code=code,
    )  # fmt: skip
    return Inbound(event, b"{}", at)


async def test_export_csv_and_json_follow_the_table_filters(batch: Any) -> None:
    resp = await batch.get("/api/v1/batches/batch-7/tasks/export?format=csv&status=failed")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert 'filename="batch-7-tasks.csv"' in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert sorted(r["object_path"] for r in rows) == sorted(PATHS)
    assert {r["status"] for r in rows} == {"failed"}
    resp = await batch.get("/api/v1/batches/batch-7/tasks/export?format=json&code=E.Missing")
    items = json.loads(await resp.text())
    assert [i["object_path"] for i in items] == [PATHS[3]] and "first_seen" in items[0]
    everything = await batch.get("/api/v1/batches/batch-7/tasks/export?format=json")
    assert len(json.loads(await everything.text())) == 12
    assert (await batch.get("/api/v1/batches/batch-7/tasks/export?format=xml")).status == 400
    assert (await batch.get("/api/v1/batches/nope/tasks/export")).status == 404


async def test_export_neutralizes_spreadsheet_formulas(daemon: Any) -> None:
    body = task_event(1, "batch-f", "Failed", '=HYPERLINK("http://x")', "E")
    await daemon.post("/ingest/eventbridge", data=body)
    text = await (await daemon.get("/api/v1/batches/batch-f/tasks/export")).text()
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["object_path"] == '\'=HYPERLINK("http://x")'


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_export_streams_every_task_of_a_100_000_task_batch(daemon: Any) -> None:
    store = daemon.server.app[STORE]
    start = datetime.now(UTC) - timedelta(days=1)
    total = 100_000
    for first in range(0, total, 2000):
        await store.commit_many([task(n, "huge", start + timedelta(milliseconds=n),
                                      "failed" if n % 10 == 0 else "succeeded",
                                      "E" if n % 10 == 0 else "")
                                 for n in range(first, first + 2000)])  # fmt: skip
    resp = await daemon.get("/api/v1/batches/huge/tasks/export?format=csv")
    assert resp.status == 200 and "Content-Length" not in resp.headers  # streamed
    seen: set[str] = set()
    rows = 0
    buffer = b""
    async for chunk in resp.content.iter_chunked(1 << 16):
        buffer += chunk
        lines = buffer.split(b"\r\n")
        buffer = lines.pop()
        for line in lines:
            rows += 1
            seen.add(line.split(b",", 1)[0].decode())
    assert buffer == b""
    assert rows == total + 1  # and the header
    assert len(seen - {"task_id"}) == total
    resp = await daemon.get("/api/v1/batches/huge/tasks/export?format=json&status=failed")
    assert len(json.loads(await resp.read())) == total // 10
