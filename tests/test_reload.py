"""Reloading a running daemon's config (SIGHUP, ``POST /-/reload``), end to end.

- SIGHUP with a new receiver and route, a changed alert rule and a changed MNS source
  while the daemon consumes a queue: the new route delivers, the rule applies, the source
  restarts, and the ledger is exactly what was sent (nothing lost, nothing counted twice),
  all in one process.
- A broken config, on SIGHUP and on ``/-/reload``: the daemon keeps the running config,
  logs the reason at error and returns it as ``check-config`` says it.
- A receiver removed while deliveries wait for it: they become dead letters saying why;
  the log level changes with the same reload.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from batchrelay.emulator import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET
from batchrelay.simulate import encode

from .fakes import WebhookSink, running_sink
from .processes import Child, children, free_port, wait_ready, write_config
from .test_alerts_e2e import batch_event, push
from .test_crash import assert_ledger, fetch_batches, fill_queue, queue_depth, traffic

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TOKEN = "reload-test-token"
FAST = {"group_by": ["batch_key"], "group_wait": "100ms", "group_interval": "200ms"}


def busy_rule(condition: str) -> dict[str, Any]:
    return {"name": "busy", "condition": condition, "receiver": "ops",
            "annotations": {"summary": "{{ batch_key }} is busy"}}  # fmt: skip


def sections(port: int, old: str, **changes: Any) -> dict[str, Any]:
    """A daemon routing everything to the ``ops`` webhook at ``old``."""
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "drain_timeout": 5},
        "api": {"token": TOKEN},
        "receivers": {"ops": {"type": "webhook", "url": old}},
        "routing": {"route": {"receiver": "ops", **FAST}},
        "alerts": {"evaluation_interval": "1s", "digest": {"enabled": False},
                   "rules": [busy_rule("processed >= 1000000")]},
        "delivery": {"tick": 0.1},
        "log": {"level": "info", "format": "json"},
    }  # fmt: skip
    config.update(changes)
    return config


def rewrite(path: Path, config: dict[str, Any]) -> None:
    store = yaml.safe_load(path.read_text())["store"]
    path.write_text(yaml.safe_dump({**config, "store": store}))


async def metric(base: str, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name) and line[len(name)] in ' {,"')  # fmt: skip


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def until(check: Any, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


@pytest.fixture
async def sinks() -> AsyncIterator[tuple[WebhookSink, WebhookSink]]:
    async with running_sink(WebhookSink()) as ops, running_sink(WebhookSink()) as oncall:
        yield ops, oncall


async def test_sighup_applies_a_new_route_and_rule_while_a_queue_is_consumed(
    tmp_path: Path, sinks: tuple[WebhookSink, WebhookSink]
) -> None:
    ops, oncall = sinks
    ops.delay = 0.2  # a send takes a moment: some are in flight when the reload comes
    sent = traffic("imm-batch", batches=4, tasks=150, seed=8)
    bodies = [encode(event, "mns") for event in sent.events]
    mns_port, port = free_port(), free_port()
    endpoint, base = f"http://127.0.0.1:{mns_port}", f"http://127.0.0.1:{port}"
    emulator = Child(["emulator", "--port", str(mns_port), "--log-level", "warning"],
                     tmp_path / "emulator.log")  # fmt: skip
    source = {"endpoint": endpoint, "queue": "imm-notify", "access_key_id": DEFAULT_ACCESS_KEY_ID,
              "access_key_secret": DEFAULT_ACCESS_KEY_SECRET, "pollers": 2, "batch_size": 4,
              "wait_seconds": 1, "extend_after": 1.0, "visibility_timeout": 3}  # fmt: skip
    before = sections(port, ops.url, sources={"mns_queues": [source]})
    config = write_config(tmp_path, port, **before)
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    with children(daemon, emulator):
        emulator.start()
        await wait_ready(f"{endpoint}/x509_public_certificate.pem")
        await asyncio.to_thread(fill_queue, endpoint, "imm-notify", bodies[:300])
        daemon.start()
        await wait_ready(f"{base}/readyz")
        # Failed tasks also go to "oncall"; "busy" fires at 1 processed file, not 1,000,000;
        # the source gets a third poller (its pollers are stopped and started again).
        rules = {"rules": [busy_rule("processed >= 1")]}
        after = sections(port, ops.url, sources={"mns_queues": [source | {"pollers": 3}]},
                         alerts=before["alerts"] | rules)  # fmt: skip
        after["receivers"]["oncall"] = {"type": "webhook", "url": oncall.url}
        after["routing"]["route"]["routes"] = [{"name": "failures", "receiver": "oncall",
            "continue": True, "match": {"kind": ["task"], "status": ["failed"]}}]  # fmt: skip
        rewrite(config, after)

        async def under_way() -> bool:
            return await metric(base, 'batchrelay_inputs_total{ingress="mns-queue"') >= 100

        await until(under_way, 30)
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)  # while the queue is being consumed
        await asyncio.to_thread(fill_queue, endpoint, "imm-notify", bodies[300:])

        async def drained() -> bool:
            return await asyncio.to_thread(queue_depth, endpoint, "imm-notify") == 0

        await until(drained, 120)
        assert daemon.proc.poll() is None  # the same process all along
        assert_ledger(await fetch_batches(base), sent)  # nothing lost or counted twice
        lines = log_lines(tmp_path / "daemon.log")
        [reloaded] = [line for line in lines if line["event"] == "config.reloaded"]
        assert reloaded["needs_restart"] == []
        assert [line["event"] for line in lines].count("daemon.started") == 1
        assert [line for line in lines if line["level"] == "error"] == []
        assert await metric(base, "batchrelay_config_last_reload_successful") == 1
        sources_restarted = [line for line in lines if line["event"] == "mns_queue.started"]
        assert [line["pollers"] for line in sources_restarted] == [2, 3]

        def delivered() -> dict[str, set[str]]:  # event id -> webhook ids, notices aside
            notices = {a["event_id"] for sent in ops.alerts.values() for a in sent}
            owners = {**ops.owners(), **oncall.owners()}
            return {k: v for k, v in owners.items() if k not in notices}

        await until(lambda: asyncio.sleep(0, len(delivered()) == len(bodies)), 60)
        # Each event went once, to one receiver: a failed task matched by the new route
        # goes to "oncall" instead of the root's "ops" (Alertmanager's routing).
        assert all(len(ids) == 1 for ids in delivered().values())
        assert not set(ops.owners()) & set(oncall.owners())
        failed = sum(b["task_counts"].get("failed", 0)
                     for b in sent.ledger_json()["batches"].values())  # fmt: skip
        assert 0 < len(oncall.owners()) <= failed  # failed tasks only, by the new route

        async def busy_firing() -> bool:
            async with aiohttp.ClientSession() as s, s.get(f"{base}/api/v1/alerts") as resp:
                alerts = (await resp.json())["alerts"]
            return any(a["rule"] == "busy" and a["fired_at"] for a in alerts)

        await until(busy_firing, 30)  # the changed rule applies
        assert daemon.terminate() == 0


def check_config_says(config: Path) -> str:
    """What ``batchrelay check-config`` prints for ``config``, without "batchrelay: "."""
    done = subprocess.run([sys.executable, "-m", "batchrelay", "check-config", "-c", str(config)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2
    return done.stderr.strip().removeprefix("batchrelay: ")


async def post_reload(base: str, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/-/reload", headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def test_a_broken_config_leaves_the_daemon_on_the_running_one(
    tmp_path: Path, sinks: tuple[WebhookSink, WebhookSink]
) -> None:
    ops, _ = sinks
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port, **sections(port, ops.url))
    good = config.read_text()
    broken = sections(port, ops.url)
    broken["routing"]["route"]["receiver"] = "nobody"  # a route to a receiver that is not there
    broken["receivers"]["ops"]["url"] = "https://hooks.example.com/x?access_token=s3cret"
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/readyz")
        rewrite(config, broken)
        expected = check_config_says(config)
        assert "nobody" in expected
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)

        async def failed_once() -> bool:
            lines = log_lines(tmp_path / "daemon.log")
            return any(line["event"] == "config.reload_failed" for line in lines)

        await until(failed_once, 20)
        [failure] = [x for x in log_lines(tmp_path / "daemon.log")
                     if x["event"] == "config.reload_failed"]  # fmt: skip
        assert (failure["level"], failure["error"]) == ("error", expected)
        assert await metric(base, "batchrelay_config_last_reload_successful") == 0
        status, body = await post_reload(base)
        assert (status, body["messages"]) == (400, [expected])
        assert "s3cret" not in json.dumps(body) + (tmp_path / "daemon.log").read_text()
        assert (await post_reload(base, token=None))[0] == 401
        # Still on the running config: an event goes where the old route sends it.
        await push(base, batch_event("e1", "b-1", "Running", "2026-11-20T03:00:00Z"))
        await until(lambda: asyncio.sleep(0, "e1" in ops.owners()), 20)
        # Fixed, with a setting that needs a restart: the rest applies, that one is named.
        config.write_text(good.replace("drain_timeout: 5", "drain_timeout: 6"))
        status, body = await post_reload(base)
        assert (status, body) == (200, {"status": "reloaded", "needs_restart": ["server"]})
        assert await metric(base, "batchrelay_config_last_reload_successful") == 1
        assert daemon.terminate() == 0


async def test_deliveries_for_a_removed_receiver_become_dead_letters(
    tmp_path: Path, sinks: tuple[WebhookSink, WebhookSink]
) -> None:
    ops, oncall = sinks
    ops.failing = True  # what is sent to ops waits for a retry
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    before = sections(port, ops.url)
    before["receivers"]["ops"]["retry"] = {"initial_delay": 3, "max_delay": 5}
    config = write_config(tmp_path, port, **before)
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/readyz")
        await push(base, batch_event("e1", "b-1", "Running", "2026-11-20T03:00:00Z"))
        await until(lambda: asyncio.sleep(0, ops.attempts > 0), 20)
        after = sections(port, oncall.url)
        after["receivers"] = {"oncall": {"type": "webhook", "url": oncall.url}}
        after["routing"]["route"]["receiver"] = "oncall"
        after["alerts"]["rules"][0]["receiver"] = "oncall"
        after["log"]["level"] = "debug"
        rewrite(config, after)
        status, _ = await post_reload(base)
        assert status == 200
        logged = len(log_lines(tmp_path / "daemon.log"))

        async def dead() -> list[dict[str, Any]]:
            async with aiohttp.ClientSession() as s, s.get(f"{base}/api/v1/deadletters") as r:
                return list((await r.json())["deliveries"])

        await until(lambda: _nonempty(dead()), 60)
        [letter] = await dead()
        assert letter["receiver"] == "ops"
        assert "no longer configured" in json.dumps(letter)
        await push(base, batch_event("e2", "b-2", "Running", "2026-11-20T03:00:00Z"))
        await until(lambda: asyncio.sleep(0, "e2" in oncall.owners()), 20)
        assert daemon.terminate() == 0
    after_reload = log_lines(tmp_path / "daemon.log")[logged:]
    assert any(line["level"] == "debug" for line in after_reload)  # the new log level


async def _nonempty(items: Any) -> bool:
    return bool(await items)


async def status_of(base: str, method: str, path: str, body: bytes, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{base}{path}", data=body, headers=headers) as resp,
    ):
        return resp.status


async def test_tokens_and_ingress_verification_change_with_a_reload(
    tmp_path: Path, sinks: tuple[WebhookSink, WebhookSink]
) -> None:
    ops, _ = sinks
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    before = sections(port, ops.url, ingress={"eventbridge": {"token": "push-1"}})
    config = write_config(tmp_path, port, **before)
    daemon = Child(["run", "-c", str(config)], tmp_path / "daemon.log")
    event = batch_event("e1", "b-1", "Running", "2026-11-20T03:00:00Z")
    with children(daemon):
        daemon.start()
        await wait_ready(f"{base}/readyz")
        assert await status_of(base, "POST", "/ingest/eventbridge", event, "push-1") == 200
        after = sections(port, ops.url, ingress={"eventbridge": {"token": "push-2"}},
                         api={"token": "api-2", "read_token": "read-2"})  # fmt: skip
        rewrite(config, after)
        assert (await post_reload(base))[0] == 200
        assert await status_of(base, "POST", "/ingest/eventbridge", event, "push-1") == 403
        assert await status_of(base, "POST", "/ingest/eventbridge", event, "push-2") == 200
        assert (await post_reload(base))[0] == 403  # the old API token is no longer it
        assert (await post_reload(base, token="api-2"))[0] == 200
        assert await status_of(base, "GET", "/api/v1/batches", b"", "nope") == 401
        assert await status_of(base, "GET", "/api/v1/batches", b"", "read-2") == 200
        assert daemon.terminate() == 0
