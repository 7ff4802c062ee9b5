"""Run the quick start: the emulator and the simulator beside the daemon (see the package)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import structlog
from mns.account import Account
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMeta

from batchrelay.demo.config import DemoConfig
from batchrelay.emulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
    running_emulator,
)
from batchrelay.errors import ConfigError
from batchrelay.simulate import SimulateOptions, simulate

log = structlog.get_logger(__name__)

SUBSCRIPTION = "batchrelay-demo"
MAX_ROUNDS = 8  # rounds in flight at once; an ICE batch takes up to about five minutes


@contextlib.asynccontextmanager
async def running_demo(config: DemoConfig, push_url: str) -> AsyncIterator[str]:
    """Run the emulator and the simulator until the block ends; yields the emulator URL."""
    # Signed as real MNS signs (protocols.md §3.7): receivers must accept that key.
    emulator = EmulatorConfig(port=config.emulator_port, queues=(config.queue,), legacy_cert=True)
    async with contextlib.AsyncExitStack() as stack:
        try:
            emu = await stack.enter_async_context(running_emulator(emulator))
        except OSError as exc:
            port = config.emulator_port
            raise ConfigError(f"demo.emulator_port: cannot listen on {port}: {exc}") from None
        await asyncio.to_thread(subscribe, emu.url, config.topic, push_url)
        task = asyncio.create_task(simulate_forever(config, emu.url), name="demo-simulator")
        log.info("demo.started", emulator=emu.url, queue=config.queue, topic=config.topic)
        try:
            yield emu.url
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def subscribe(endpoint: str, topic_name: str, push_url: str) -> None:
    """Create the topic and its HTTP subscription through the official SDK (blocking)."""
    account = Account(endpoint, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
    account.get_topic(topic_name).create(TopicMeta())
    meta = SubscriptionMeta(push_url, notify_content_format="XML")
    account.get_subscription(topic_name, SUBSCRIPTION).subscribe(meta)


async def simulate_forever(config: DemoConfig, endpoint: str) -> None:
    """A new round of batches every ``config.every`` seconds, through the queue and the
    topic in turn; rounds overlap (a batch lasts as long as its tasks take), at most
    :data:`MAX_ROUNDS` at a time."""
    targets = itertools.cycle(
        [("mns-queue", "imm-batch"), ("mns-topic", "ice-batch"), ("mns-queue", "mixed")]
    )
    rounds: set[asyncio.Task[None]] = set()
    try:
        for seed, (target, kind) in zip(itertools.count(1), targets, strict=False):
            if len(rounds) < MAX_ROUNDS:
                task = asyncio.create_task(one_round(config, endpoint, target, kind, seed))
                rounds.add(task)
                task.add_done_callback(rounds.discard)
            await asyncio.sleep(config.every)
    finally:
        for task in rounds:
            task.cancel()
        await asyncio.gather(*rounds, return_exceptions=True)


async def one_round(config: DemoConfig, endpoint: str, target: str, kind: str, seed: int) -> None:
    options = SimulateOptions(
        target=target,
        kind=kind,
        endpoint=endpoint,
        queue=config.queue,
        topic=config.topic,
        batches=config.batches_per_round,
        tasks=config.tasks_per_batch,
        failure_ratio=config.failure_ratio,
        fast_fail_ratio=config.fast_fail_ratio,
        seed=seed,
    )
    try:
        await simulate(options)  # events on time: the options fix neither rate nor start
    except Exception as exc:  # the demo must never take the daemon down
        log.warning("demo.round_failed", error=str(exc))
