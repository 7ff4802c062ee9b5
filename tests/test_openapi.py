"""The API's description is true.

The document is a valid OpenAPI 3.1 document (``openapi-spec-validator``), it names exactly
the routes the daemon registers under ``/api/v1``, its schemas have the view models'
fields, and a live daemon with data in every listing answers as it says: ``schemathesis``
runs every operation (reads, and writes with the token) through its examples, coverage,
fuzzing and stateful phases and checks every answer against the document, and that none
is a 5xx. Its IMM batches live in the emulator, so batch actions reach IMM's rules and API.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from batchrelay import __version__
from batchrelay.app import build
from batchrelay.emulator import EmulatorConfig, Signer, running_emulator
from batchrelay.http.apidoc import document
from batchrelay.http.dashboard import CSP
from batchrelay.simulate import SimulateOptions, generate
from batchrelay.simulate.runner import simulate
from batchrelay.store import base

from .cloudapi.support import QUEUE, api_sections, queue_source
from .conftest import SAMPLES, SettingsFactory
from .livedaemon import Live, live_daemon
from .processes import free_port

TOKEN = "openapi-write-token"
SEED = 15
#: Operations schemathesis does not call: the stream never ends by itself (it is checked
#: against the document below, by reading its first events).
UNCALLED = ["/api/v1/stream"]
#: "Schema-valid request rejected": a random string is a valid opaque page token and a
#: random pair of times a valid silence by the schema, yet both are refused (400) by
#: design. Every other schemathesis check runs.
EXCLUDED_CHECKS = ["positive_data_acceptance"]


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    validate(doc)
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["version"] == __version__


def test_every_key_is_a_name_and_no_value_is_missing() -> None:
    """A comma in an unquoted YAML flow mapping splits a description into a stray key."""

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                assert " " not in key and value is not None, f"{where}/{key}"
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for n, value in enumerate(node):
                walk(value, f"{where}/{n}")

    walk(document(), "")


def described(doc: dict[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return {(m.upper(), path) for path, item in doc["paths"].items() for m in item if m in methods}


def test_every_api_route_is_described_and_nothing_else(make_settings: SettingsFactory) -> None:
    app = build(make_settings())
    registered = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method != "HEAD"
    }
    assert registered == described(document())


#: Component schemas that show a view model as the API dumps it (every field, always).
MODELS: dict[str, type[BaseModel]] = {
    "Batch": base.BatchView,
    "Task": base.TaskView,
    "Action": base.ActionView,
    "Quarantined": base.QuarantineView,
    "Event": base.EventView,
    "HistoryPoint": base.HistoryPoint,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_schemas_have_the_view_models_fields(name: str) -> None:
    schema = document()["components"]["schemas"][name]
    fields = set(MODELS[name].model_fields)
    assert set(schema["properties"]) == fields
    assert set(schema["required"]) == fields  # model_dump writes every field
    assert schema["additionalProperties"] is False


async def test_the_daemon_serves_the_document_and_its_page(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    client = await start_daemon(make_settings())
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == json.loads(json.dumps(document()))
    page = await client.get("/api/v1/docs")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == CSP
    html = await page.text()
    assert "<script" not in html and "style=" not in html  # nothing the policy would block
    for method, path in described(document()):
        assert f"<code>{path}</code>" in html, (method, path)
    for name in document()["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    css = await client.get("/static/dashboard/apidoc.css")
    assert css.status == 200


async def test_the_stream_answers_as_described(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    client = await start_daemon(make_settings())
    described_types = document()["paths"]["/api/v1/stream"]["get"]["responses"]
    async with client.get("/api/v1/stream") as resp:
        assert resp.status == 200
        assert resp.content_type in described_types["200"]["content"]
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 10)
        assert first.startswith(b"retry:")
    bad = await client.get("/api/v1/stream", headers={"Last-Event-ID": "soon"})
    assert bad.status == 400
    assert set(await bad.json()) == set(document()["components"]["schemas"]["Error"]["required"])


# ---------------------------------------------------------------- schemathesis, live


START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
IMM_BATCHES = dict(target="mns-queue", queue=QUEUE, kind="imm-batch", batches=3, tasks=5,
                   failure_ratio=0.5, fast_fail_ratio=0.5, seed=3, start_time=START)  # fmt: skip


async def seed(live: Live, imm_batches: set[str]) -> None:
    """Something in every listing: batches with tasks and events (IMM ones from the emulator,
    an ICE one), a quarantined body, a firing alert, a dead letter (a webhook nobody
    listens to)."""
    async with aiohttp.ClientSession(live.url) as http:
        for name, path in [("imm-task-eventbridge.json", "/ingest/eventbridge"),
                           ("ice-batch-produce-media-complete.json", "/ingest/ice"),
                           ("ice-produce-media-complete.json", "/ingest/ice")]:  # fmt: skip
            async with http.post(path, data=(SAMPLES / name).read_bytes()) as resp:
                assert resp.status == 200, await resp.text()
        async with http.post("/ingest/eventbridge", data=b"{not json") as resp:
            assert resp.status == 400
        async with asyncio.timeout(60):
            while not imm_batches <= {
                b["batch_key"] for b in await _items(http, "/api/v1/batches", "batches")
            }:
                await asyncio.sleep(0.2)
            while not await _items(http, "/api/v1/deadletters", "deliveries"):
                await asyncio.sleep(0.2)
            while not await _items(http, "/api/v1/alerts?state=firing", "alerts"):
                await asyncio.sleep(0.2)


async def _items(http: aiohttp.ClientSession, path: str, key: str) -> list[Any]:
    async with http.get(path) as resp:
        items: list[Any] = (await resp.json())[key]
        return items


async def action_outcomes(live: Live, keys: set[str]) -> set[str]:
    """The outcomes of the actions schemathesis made on these batches (done, refused…)."""
    found: set[str] = set()
    async with aiohttp.ClientSession(live.url) as http:
        for key in keys:
            found |= {a["outcome"] for a in await _items(http, f"/api/v1/batches/{key}/actions",
                                                         "actions")}  # fmt: skip
    return found


def schemathesis(live: Live, folder: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run", f"{live.url}/api/v1/openapi.json",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--checks", "all", "--exclude-checks", ",".join(EXCLUDED_CHECKS),
        "--phases", "examples,coverage,fuzzing,stateful",
        *(arg for path in UNCALLED for arg in ("--exclude-path", path)),
        "--max-examples", "40", "--seed", str(SEED), "--generation-database", "none",
        "--workers", "1", "--request-timeout", "10", "--no-color",
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, cwd=folder
    )  # its cache folder goes there


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_schemathesis_finds_every_answer_as_described(tmp_path: Path) -> None:
    dead_end = free_port()  # nothing listens there: deliveries die at once
    async with running_emulator(EmulatorConfig(port=0, queues=(QUEUE,)),
                                signer=Signer.generate()) as emu:  # fmt: skip
        # IMM batches in the emulator, notified through its queue: the actions call IMM.
        options = SimulateOptions(endpoint=emu.url, emulator=emu.url, **IMM_BATCHES)  # type: ignore[arg-type]
        expected = generate(options.spec(START)).expected
        projects = sorted({b.project for b in expected})
        async with live_daemon(
            tmp_path,
            api={"token": TOKEN},
            sources={"mns_queues": [queue_source(emu)], **api_sections(emu, projects, 3600)},
            receivers={"hook": {"type": "webhook", "url": f"http://127.0.0.1:{dead_end}/hook",
                                "retry": {"max_attempts": 1}}},
            routing={"route": {"receiver": "hook", "group_wait": "0s",
                               "group_by": ["batch_key"]}},
            alerts={"evaluation_interval": "1s",
                    "rules": [{"name": "any-failure", "condition": "tasks_failed >= 1"}]},
        ) as live:  # fmt: skip
            await simulate(options)
            await seed(live, {b.batch_key for b in expected})
            run = await asyncio.to_thread(schemathesis, live, tmp_path)
            outcomes = await action_outcomes(live, {b.batch_key for b in expected})
            log = live.output()
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "http.unexpected_error" not in log
    assert "Traceback" not in log
    assert outcomes & {"done", "refused"}  # the actions reached IMM's rules and API
