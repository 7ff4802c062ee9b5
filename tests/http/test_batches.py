"""The read API: IMM ListBatches semantics, batch detail, tasks, quarantine."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import sample
from tests.processes import free_port

BATCH_SAMPLE = json.loads(sample("imm-batch-notification.json"))
TASK_SAMPLE = json.loads(sample("imm-task-eventbridge.json"))


def batch_event(n: int, state: str, tags: dict[str, str], created: str) -> bytes:
    content = json.loads(BATCH_SAMPLE["content"])
    # Created in one order, updated in another: batch-0000 last created, first updated.
    content.update(Id=f"batch-{n:04d}", State=state, Tags=tags, CreateTime=created,
                   UpdateTime=f"2026-11-21T0{9 - n}:00:00Z")  # fmt: skip
    envelope = dict(BATCH_SAMPLE, id=f"batch-event-{n}", content=json.dumps(content))
    return json.dumps(envelope).encode()


def task_event(n: int, batch: str, status: str, path: str, code: str = "") -> bytes:
    data = dict(TASK_SAMPLE["data"], TaskId=f"OfficeConversion-{n}", Status=status, Code=code,
                EventSourceId=batch, Sources=[{"URI": path}])  # fmt: skip
    return json.dumps(dict(TASK_SAMPLE, id=f"task-event-{n}", data=data)).encode()


@pytest.fixture
async def api(daemon: Any) -> Any:
    states = ["Running", "Succeeded", "Failed", "Running", "Suspended", "Succeeded"]
    for n, state in enumerate(states):
        tags = {"team": "legal" if n % 2 else "media", "env": "prod"}
        if n == 0:
            tags = {"team": "media"}
        body = batch_event(n, state, tags, f"2026-11-20T0{n}:00:00Z")
        resp = await daemon.post("/ingest/eventbridge", data=cloud_event_of(body))
        assert resp.status == 200, await resp.text()
    for n in range(30):
        status = "Failed" if n % 3 == 0 else "Succeeded"
        path = f"oss://docs-in/contracts/2026/{'q4' if n < 20 else 'q3'}-{n:04d}.docx"
        body = task_event(
            n, "batch-0000", status, path, "InvalidFile.Corrupted" if n % 3 == 0 else ""
        )
        assert (await daemon.post("/ingest/eventbridge", data=body)).status == 200
    return daemon


def cloud_event_of(envelope_body: bytes) -> bytes:
    """The same batch notification as EventBridge would deliver it."""
    envelope = json.loads(envelope_body)
    return json.dumps({
        "specversion": "1.0", "id": envelope["id"], "source": "acs.imm", "type": envelope["type"],
        "subject": "acs.imm:cn-shanghai:1234567890123456:docs-prod",
        "time": json.loads(envelope["content"])["UpdateTime"],
        "data": json.loads(envelope["content"]),
    }).encode()  # fmt: skip


async def keys(client: Any, query: str) -> list[str]:
    resp = await client.get(f"/api/v1/batches?{query}")
    assert resp.status == 200, await resp.text()
    return [b["batch_key"] for b in (await resp.json())["batches"]]


async def test_default_is_newest_created_first(api: Any) -> None:
    assert await keys(api, "") == [f"batch-{n:04d}" for n in reversed(range(6))]
    assert await keys(api, "Order=ASC") == [f"batch-{n:04d}" for n in range(6)]


async def test_sort_by_update_time(api: Any) -> None:
    newest_first = [f"batch-{n:04d}" for n in range(6)]
    assert await keys(api, "Sort=UpdateTime&Order=DESC") == newest_first
    assert await keys(api, "Sort=UpdateTime&Order=ASC") == newest_first[::-1]


@pytest.mark.parametrize("state", ["Running", "running", "RUNNING"])
async def test_state_filter(api: Any, state: str) -> None:
    assert sorted(await keys(api, f"State={state}")) == ["batch-0000", "batch-0003"]


async def test_tag_selector(api: Any) -> None:
    assert sorted(await keys(api, "TagSelector=team=legal")) == ["batch-0001", "batch-0003",
                                                                  "batch-0005"]  # fmt: skip
    assert "batch-0000" not in await keys(api, "TagSelector=env")  # key must exist
    selector = json.dumps({"team": "media", "env": "prod"})
    assert sorted(await keys(api, f"TagSelector={selector}")) == ["batch-0002", "batch-0004"]


async def test_pagination_walks_every_batch_once(api: Any) -> None:
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await (await api.get(f"/api/v1/batches?MaxResults=2&NextToken={token}")).json()
        assert len(page["batches"]) <= 2
        seen += [b["batch_key"] for b in page["batches"]]
        token = page["next_token"]
        if not token:
            break
    assert seen == [f"batch-{n:04d}" for n in reversed(range(6))]


@pytest.mark.parametrize(
    "query",
    ["MaxResults=101", "MaxResults=-1", "MaxResults=ten", "Sort=Name", "Order=UP",
     "NextToken=not-a-token", "TagSelector={bad json"],
)  # fmt: skip
async def test_bad_parameters_are_400(api: Any, query: str) -> None:
    resp = await api.get(f"/api/v1/batches?{query}")
    assert resp.status == 400
    assert (await resp.json())["error"] == "bad_request"


async def test_max_results_zero_means_100(api: Any) -> None:
    assert len(await keys(api, "MaxResults=0")) == 6


async def test_batch_detail(api: Any) -> None:
    batch = await (await api.get("/api/v1/batches/batch-0000")).json()
    assert batch["state"] == "running"
    assert batch["raw_state"] == "Running"
    assert batch["task_counts"] == {"failed": 10, "succeeded": 20}
    assert batch["error_codes"] == {"InvalidFile.Corrupted": 10}
    assert batch["statistic"] == {"submit_success": 1180, "submit_failure": 14, "skip_files": 6}
    assert batch["actions"][0]["Name"] == "doc/convert"
    assert batch["first_seen"] <= batch["last_seen"]
    assert (await api.get("/api/v1/batches/no-such-batch")).status == 404


async def test_tasks_filter_search_and_pages(api: Any) -> None:
    base = "/api/v1/batches/batch-0000/tasks"
    failed = await (await api.get(f"{base}?status=failed")).json()
    assert len(failed["tasks"]) == 10
    assert {t["code"] for t in failed["tasks"]} == {"InvalidFile.Corrupted"}
    found = await (await api.get(f"{base}?search=q3-")).json()
    assert sorted(t["object_path"][-12:] for t in found["tasks"]) == [
        f"q3-{n:04d}.docx" for n in range(20, 30)
    ]
    one = await (await api.get(f"{base}?search=Q4-0007")).json()  # case-insensitive
    assert [t["task_id"] for t in one["tasks"]] == ["OfficeConversion-7"]
    first = await (await api.get(f"{base}?max_results=25")).json()
    rest = await (await api.get(f"{base}?max_results=25&next_token={first['next_token']}")).json()
    ids = [t["task_id"] for t in first["tasks"] + rest["tasks"]]
    assert len(ids) == len(set(ids)) == 30
    assert rest["next_token"] == ""


async def test_quarantine_pages(daemon: Any) -> None:
    for n in range(3):
        await daemon.post("/ingest/eventbridge", data=b"{truncated " + str(n).encode())
    page = await (await daemon.get("/api/v1/quarantine?max_results=2")).json()
    assert len(page["quarantine"]) == 2
    more = await (await daemon.get(f"/api/v1/quarantine?next_token={page['next_token']}")).json()
    assert len(more["quarantine"]) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/batches/batch-0000/tasks?next_token=tampered",
        "/api/v1/batches/batch-0000/tasks?max_results=1000",
        "/api/v1/quarantine?next_token=tampered",
        "/api/v1/deadletters?MaxResults=500",
        "/api/v1/deliveries?next_token=tampered",
        "/api/v1/deliveries?next_token=12:",
        "/api/v1/deadletters?next_token=x:y",
        "/api/v1/alerts?state=burning",
        "/api/v1/silences?state=loud",
    ],
)
async def test_every_listing_answers_400_to_bad_parameters(api: Any, path: str) -> None:
    resp = await api.get(path)
    assert resp.status == 400
    assert (await resp.json())["error"] == "bad_request"


async def test_dead_letters_page_with_opaque_tokens(make_settings: Any, start_daemon: Any) -> None:
    refused = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: every send fails
    daemon = await start_daemon(make_settings(
        receivers={"hook": {"type": "webhook", "url": refused, "retry": {"max_attempts": 1}}},
        routing={"route": {"receiver": "hook", "group_by": ["..."], "group_wait": "0s"}},
        delivery={"tick": 0.05},
    ))  # fmt: skip
    for n in range(3):
        body = task_event(n, "batch-0000", "Failed", f"oss://in/{n}.docx", "InvalidFile")
        assert (await daemon.post("/ingest/eventbridge", data=body)).status == 200
    async with asyncio.timeout(20):
        while len((await (await daemon.get("/api/v1/deadletters")).json())["deliveries"]) < 3:
            await asyncio.sleep(0.05)
    first = await (await daemon.get("/api/v1/deadletters?MaxResults=2")).json()
    assert len(first["deliveries"]) == 2 and first["next_token"]
    assert ":" not in first["next_token"]  # opaque, like every other listing's
    rest = await (await daemon.get(f"/api/v1/deadletters?next_token={first['next_token']}")).json()
    assert rest["next_token"] == ""
    ids = [d["id"] for d in first["deliveries"] + rest["deliveries"]]
    assert len(ids) == len(set(ids)) == 3
