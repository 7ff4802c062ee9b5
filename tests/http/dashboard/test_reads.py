"""The batch page's reads over HTTP: a batch's journaled events and its history."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.http.test_batches import task_event


@pytest.fixture
async def batch(daemon: Any) -> Any:
    for n in range(12):
        status = "Failed" if n % 4 == 0 else "Succeeded"
        body = task_event(n, "batch-7", status, f"oss://in/docs/{n:03d}.docx",
                          "InvalidFile.Corrupted" if status == "Failed" else "")  # fmt: skip
        assert (await daemon.post("/ingest/eventbridge", data=body)).status == 200
    return daemon


async def test_events_newest_first_with_raw_payload(batch: Any) -> None:
    resp = await batch.get("/api/v1/batches/batch-7/events?max_results=5")
    assert resp.status == 200
    page = await resp.json()
    assert len(page["events"]) == 5 and page["next_token"]
    first = page["events"][0]
    assert first["kind"] == "task" and first["ingress"] == "eventbridge"
    raw = json.loads(base64.b64decode(first["raw_base64"]))
    assert raw["id"] == first["event_id"]
    seen = [e["event_id"] for e in page["events"]]
    while page["next_token"]:
        resp = await batch.get(f"/api/v1/batches/batch-7/events?next_token={page['next_token']}")
        page = await resp.json()
        seen += [e["event_id"] for e in page["events"]]
    assert sorted(seen) == sorted(f"task-event-{n}" for n in range(12))


async def test_history_points(batch: Any) -> None:
    resp = await batch.get("/api/v1/batches/batch-7/history")
    assert resp.status == 200
    body = await resp.json()
    assert body["batch_key"] == "batch-7"
    last = body["points"][-1]
    assert last["task_counts"] == {"failed": 3, "succeeded": 9}
    assert last["events"] == 12
    assert (await batch.get("/api/v1/batches/nope/history")).status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/batches/batch-7/events?max_results=101",
        "/api/v1/batches/batch-7/events?max_results=x",
        "/api/v1/batches/batch-7/events?next_token=tampered",
        "/api/v1/batches/batch-7/history?max_points=1",
        "/api/v1/batches/batch-7/history?max_points=1001",
        "/api/v1/batches/batch-7/history?max_points=many",
        "/api/v1/stream?since=yesterday",
    ],
)
async def test_bad_parameters_are_precise_400s(batch: Any, path: str) -> None:
    resp = await batch.get(path)
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "bad_request"
    name = path.rsplit("?", 1)[1].split("=")[0]
    assert name.replace("max_results", "MaxResults") in body["detail"] or "token" in body["detail"]
