"""Batch actions from the command line and the API: the emulator's batch changes through the
official SDK, the ledger follows, the history records who asked, and the service's rules
refuse an action before any call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchrelay import cli
from batchrelay.emulator import EmulatorConfig, RunningEmulator, Signer, running_emulator
from batchrelay.http.common import STORE
from batchrelay.simulate import SimulateOptions, generate
from batchrelay.simulate.runner import simulate
from batchrelay.store.base import Store

from ..conftest import SettingsFactory
from .support import QUEUE, api_sections, queue_source, wait_equal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOKEN = "actions-t0ken"
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
UPDATE_RULE = "You can update a batch processing task only when its status is Ready or Failed."


@dataclass
class World:
    emu: RunningEmulator
    client: Any
    store: Store
    config: Path
    failed: str  # a batch that ended Failed
    succeeded: str

    def state(self, batch_id: str) -> str:
        [(project, _)] = [k for k, v in self.emu.cloud.imm.items() if batch_id in v]
        return str(self.emu.cloud.get_batch(project, batch_id)["Batch"]["State"])

    async def ledger(self, batch_id: str) -> str:
        view = await self.store.get_batch(batch_id)
        assert view is not None
        return view.raw_state

    async def cli(self, *argv: str) -> int:
        # the command runs its own event loop: on a thread, next to the daemon and emulator
        return await asyncio.to_thread(cli.main, ["batch", *argv, "-c", str(self.config)])

    async def post(self, batch_id: str, body: dict[str, Any], token: str = TOKEN) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(f"/api/v1/batches/{batch_id}/actions", json=body,
                                      headers=headers)  # fmt: skip


OPTIONS = dict(target="mns-queue", queue=QUEUE, kind="imm-batch", batches=4, tasks=5,
               failure_ratio=0.5, fast_fail_ratio=0.5, seed=3, start_time=START)  # fmt: skip


@pytest.fixture
async def world(
    make_settings: SettingsFactory, start_daemon: Any, tmp_path: Path
) -> AsyncIterator[World]:
    async with running_emulator(EmulatorConfig(port=0, queues=(QUEUE,)),
                                signer=Signer.generate()) as emu:  # fmt: skip
        options = SimulateOptions(endpoint=emu.url, emulator=emu.url, **OPTIONS)  # type: ignore[arg-type]
        expected = generate(options.spec(START)).expected
        failed = [b.batch_key for b in expected if b.state == "failed"]
        succeeded = [b.batch_key for b in expected if b.state == "succeeded"]
        assert failed and succeeded, "the seed must give both outcomes"
        sections = {"sources": {"mns_queues": [queue_source(emu)],
                                **api_sections(emu, sorted({b.project for b in expected}), 3600)},
                    "api": {"token": TOKEN}}  # fmt: skip
        settings = make_settings(**sections)
        config = tmp_path / "config.yaml"  # the same settings, for the command line
        config.write_text(yaml.safe_dump({**sections, "store": {"url": settings.store.url}}))
        client = await start_daemon(settings)
        store = client.app[STORE]
        await simulate(options)
        await wait_equal(store, emu.cloud, timeout=30)
        yield World(emu, client, store, config, failed[0], succeeded[0])


async def test_cli_update_resume_and_suspend(world: World) -> None:
    batch = world.failed
    assert await world.cli("update", batch, "--tags", '{"team": "fixed"}', "--actor", "ana") == 0
    [(project, _)] = [k for k, v in world.emu.cloud.imm.items() if batch in v]
    assert world.emu.cloud.get_batch(project, batch)["Batch"]["Tags"] == {"team": "fixed"}
    assert world.state(batch) == "Failed"  # an update does not resume
    assert await world.cli("resume", batch, "--actor", "ana") == 0
    assert world.state(batch) == "Running" and await world.ledger(batch) == "Running"
    assert await world.cli("suspend", batch, "--actor", "bo") == 0
    assert world.state(batch) == "Suspended" and await world.ledger(batch) == "Suspended"
    history = (await world.store.list_batch_actions(batch, 10, "")).items
    assert [(a.action, a.actor, a.outcome) for a in history] == [
        ("suspend", "bo", "done"),
        ("resume", "ana", "done"),
        ("update", "ana", "done"),
    ]


async def test_update_of_a_running_batch_is_refused_before_any_call(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = world.failed
    assert await world.cli("resume", batch) == 0
    calls = dict(world.emu.cloud.calls)
    capsys.readouterr()
    assert await world.cli("update", batch, "--tags", '{"a": "b"}', "--actor", "cy") == 1
    assert UPDATE_RULE in capsys.readouterr().err
    assert dict(world.emu.cloud.calls) == calls  # no call at all
    [latest, *_] = (await world.store.list_batch_actions(batch, 10, "")).items
    assert (latest.action, latest.actor, latest.outcome, latest.detail) == (
        "update",
        "cy",
        "refused",
        UPDATE_RULE,
    )


async def test_api_actions_need_the_token_and_follow_the_rules(world: World) -> None:
    batch = world.failed
    assert (await world.post(batch, {"action": "resume"}, token="")).status == 401
    assert (await world.post(batch, {"action": "resume"}, token="wrong")).status == 403
    assert (await world.post(batch, {"action": "explode"})).status == 400
    deep = await world.client.post(
        f"/api/v1/batches/{batch}/actions",
        data="[" * 5000 + "]" * 5000,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert deep.status == 400  # not a RecursionError turned 500
    assert (await world.post("batch-nope", {"action": "resume"})).status == 404
    done = await world.post(batch, {"action": "resume", "actor": "dee"})
    assert done.status == 200 and (await done.json())["raw_state"] == "Running"
    assert world.state(batch) == "Running"
    refused = await world.post(batch, {"action": "update", "changes": {"Tags": {"a": "b"}}})
    assert refused.status == 409 and (await refused.json())["detail"] == UPDATE_RULE
    again = await world.post(world.succeeded, {"action": "resume"})
    assert again.status == 409
    listed = await (await world.client.get(f"/api/v1/batches/{batch}/actions")).json()
    assert [(a["action"], a["outcome"]) for a in listed["actions"]] == [
        ("update", "refused"),
        ("resume", "done"),
    ]


async def test_a_service_error_is_recorded_and_reported(world: World) -> None:
    batch = world.failed
    world.emu.cloud.throttle(1)
    answer = await world.post(batch, {"action": "resume", "actor": "eve"})
    assert answer.status == 502
    assert (await answer.json())["code"] == "Throttling.User"
    [latest] = (await world.store.list_batch_actions(batch, 10, "")).items
    assert (latest.outcome, latest.actor) == ("failed", "eve")
    assert world.state(batch) == "Failed"


async def test_actions_without_an_imm_api_are_a_client_error(
    make_settings: SettingsFactory, start_daemon: Any
) -> None:
    client = await start_daemon(make_settings(api={"token": TOKEN}))
    answer = await client.post(
        "/api/v1/batches/b-1/actions",
        json={"action": "resume"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status == 404  # was 501: a 5xx says the daemon failed, which it did not
    assert (await answer.json())["error"] == "not_configured"
