"""Alerts and silences over HTTP and the command line, against the whole daemon."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from batchrelay.cli import main
from tests.test_alerts_e2e import FAILED_RULE, batch_event

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def relay(make_settings: Any, start_daemon: Any) -> Any:
    settings = make_settings(
        api={"token": TOKEN},
        alerts={"evaluation_interval": "1s", "rules": [FAILED_RULE]},
    )
    return await start_daemon(settings)


async def create(relay: Any, body: Any, headers: dict[str, str] | None = None) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = AUTH if headers is None else headers
    return await relay.post("/api/v1/silences", data=data, headers=headers)


GOOD = {"matchers": ['alertname="failed-or-suspended"'], "duration": "2h",
        "created_by": "ops", "comment": "known outage"}  # fmt: skip


async def test_create_list_and_expire_a_silence(relay: Any) -> None:
    resp = await create(relay, GOOD)
    assert resp.status == 201, await resp.text()
    silence = (await resp.json())["silence"]
    assert silence["state"] == "active"
    assert silence["matchers"] == [["alertname", "=", "failed-or-suspended"]]
    listed = (await (await relay.get("/api/v1/silences?state=active")).json())["silences"]
    assert [s["id"] for s in listed] == [silence["id"]]
    resp = await relay.delete(f"/api/v1/silences/{silence['id']}", headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["silence"]["state"] == "expired"
    listed = (await (await relay.get("/api/v1/silences?state=active")).json())["silences"]
    assert listed == []
    resp = await relay.delete("/api/v1/silences/nope", headers=AUTH)
    assert resp.status == 404


async def test_a_batch_silence_needs_no_matcher(relay: Any) -> None:
    body = {"batch_key": "b-1", "duration": "1h", "created_by": "ops", "comment": "rerun",
            "expire_on_batch_close": True}  # fmt: skip
    resp = await create(relay, body)
    assert resp.status == 201, await resp.text()
    silence = (await resp.json())["silence"]
    assert silence["matchers"] == [["batch_key", "=", "b-1"]]
    assert silence["expire_on_batch_close"] is True


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": "Basic x"}, 401)],
)
async def test_changing_silences_needs_the_token(relay: Any, headers: Any, status: int) -> None:
    assert (await create(relay, GOOD, headers)).status == status
    assert (await relay.delete("/api/v1/silences/x", headers=headers)).status == status


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"matchers": [', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        (GOOD | {"extra": 1}, "unknown fields: extra"),
        (GOOD | {"matchers": "alertname=x"}, "matchers must be a list"),
        (GOOD | {"matchers": [["a", "="]]}, "matchers must be a list"),
        (GOOD | {"matchers": ['alertname=~"("']}, "invalid regex"),
        (GOOD | {"matchers": ['x=""']}, "must not match the empty string"),
        (GOOD | {"ends_at": "2030-01-01T00:00:00Z"}, "exactly one of ends_at and duration"),
        ({k: v for k, v in GOOD.items() if k != "duration"}, "exactly one of ends_at"),
        (GOOD | {"duration": "soon"}, "not a duration"),
        (GOOD | {"duration": "0s"}, "longer than zero"),
        (GOOD | {"duration": "9000h"}, "at most 365 days"),
        ({**GOOD, "duration": None, "ends_at": "2030-01-01T00:00:00"}, "time zone"),
        (
            {**GOOD, "duration": None, "ends_at": "2001-01-01T00:00:00Z"},
            "ends_at is before starts_at",
        ),
        (GOOD | {"comment": ""}, "comment is empty"),
        (GOOD | {"created_by": 7}, "created_by must be a string"),
        (GOOD | {"expire_on_batch_close": "yes"}, "true or false"),
        (GOOD | {"expire_on_batch_close": True}, "needs a batch_key"),
    ],
)
async def test_bad_silences_get_a_precise_400(relay: Any, body: Any, message: str) -> None:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if v is not None}
    resp = await create(relay, body)
    assert resp.status == 400
    assert message in (await resp.json())["detail"]
    assert (await (await relay.get("/api/v1/silences")).json())["silences"] == []


async def test_an_oversized_silence_is_refused(relay: Any) -> None:
    body = json.dumps(GOOD | {"comment": "x" * 2_000_000}).encode()
    resp = await relay.post("/api/v1/silences", data=io.BytesIO(body), headers=AUTH)
    assert resp.status == 413


@pytest.mark.parametrize("query", ["state=burning", "state="])
async def test_alert_listing_checks_its_parameters(relay: Any, query: str) -> None:
    resp = await relay.get(f"/api/v1/alerts?{query}")
    assert resp.status == (400 if query != "state=" else 200)


async def test_alerts_listed_with_their_silences_and_counted_in_metrics(relay: Any) -> None:
    silence = (await (await create(relay, GOOD)).json())["silence"]
    body = batch_event("e1", "b-1", "Failed", "2026-11-20T03:00:00Z")
    assert (await relay.post("/ingest/eventbridge", data=body)).status == 200
    async with asyncio.timeout(10):
        while not (alerts := (await (await relay.get("/api/v1/alerts")).json())["alerts"]):
            await asyncio.sleep(0.1)
    [alert] = alerts
    assert (alert["rule"], alert["batch_key"], alert["status"]) == (
        "failed-or-suspended", "b-1", "firing")  # fmt: skip
    assert alert["silenced_by"] == [silence["id"]]
    assert alert["last_notified_at"] is None  # muted: nobody was told yet
    filtered = await (await relay.get("/api/v1/alerts?state=resolved&batch_key=b-1")).json()
    assert filtered["alerts"] == []
    metrics = await (await relay.get("/metrics")).text()
    assert 'batchrelay_alerts{rule="failed-or-suspended",state="firing"} 1.0' in metrics
    assert 'batchrelay_alert_notices_total{kind="muted",rule="failed-or-suspended"}' in metrics


def test_silence_cli_add_list_expire(tmp_path: Path, capsys: Any) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/relay.db'}}\nlog: {{level: warning}}\n")
    c = str(config)
    (tmp_path / "relay.db").touch()  # the daemon's store; reading commands never create one
    assert main(["silence", "add", "--batch", "b-7", "--duration", "2h", "--comment", "rerun",
                 "--author", "ops", "--expire-on-close", "-c", c]) == 0  # fmt: skip
    added = json.loads(capsys.readouterr().out)
    assert added["batch_key"] == "b-7" and added["state"] == "active"
    assert main(["silence", "list", "--state", "active", "-c", c]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [
        added["id"]]  # fmt: skip
    assert main(["silence", "expire", added["id"], "-c", c]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "expired"
    assert main(["silence", "list", "--state", "active", "-c", c]) == 0
    assert capsys.readouterr().out == ""
    assert main(["silence", "expire", "nope", "-c", c]) == 1
    assert "no silence" in capsys.readouterr().err
    assert main(["silence", "add", "--match", "x=", "--duration", "1h", "--comment", "c",
                 "-c", c]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "must not match the empty string" in err and err.count("\n") == 1
