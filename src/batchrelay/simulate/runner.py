"""Run one simulation: generate, write the expected ledger, then print or send.

:func:`simulate` is the programmatic entry point; :func:`run` is what ``batchrelay
simulate`` calls with the parsed arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from batchrelay.simulate.cloud import Registering, Registrar, by_body, snapshots
from batchrelay.simulate.mns import AccountPool, MnsQueueTarget, MnsTopicTarget
from batchrelay.simulate.model import Traffic
from batchrelay.simulate.options import WIRES, SimulateOptions, options_from_args
from batchrelay.simulate.pacing import Clock, SystemClock
from batchrelay.simulate.payloads import encode
from batchrelay.simulate.plan import lost_events, send_plan
from batchrelay.simulate.stream import generate
from batchrelay.simulate.targets import (
    Counts,
    HttpOptions,
    RetryPolicy,
    Target,
    deliver,
    eventbridge_target,
    ice_target,
)


@dataclass(frozen=True, slots=True)
class Report:
    """What a run did: ``planned`` counts duplicates; sent + failed + lost = planned."""

    target: str
    dry_run: bool
    batches: int
    events: int
    planned: int
    sent: int
    retried: int
    failed: int
    errors: dict[str, int]
    lost: int = 0  # --lose: planned bodies never sent
    registered: int = 0  # --emulator: batch snapshots registered
    register_errors: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def simulate(
    options: SimulateOptions,
    *,
    out: TextIO | None = None,
    clock: Clock | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    """Generate, then print (``dry_run``, to ``out``) or send; return what happened."""
    started = now()
    traffic = generate(options.spec(started))
    bodies = encoded(traffic, options)
    plan = planned(bodies, options)
    lost = frozenset(bodies[i] for i in lost_events(len(bodies), options.seed, options.lose))
    if options.expect is not None:
        await asyncio.to_thread(write_expected, traffic, options.expect)
    registrar = None
    if options.dry_run:
        kept = [body for body in plan if body not in lost]
        write_lines(kept, out or sys.stdout)
        counts = Counts(sent=len(kept), lost=len(plan) - len(kept))
    else:
        if options.emulator:
            secret = options.access_key_secret.get_secret_value()
            registrar = Registrar(options.emulator, options.access_key_id, secret)
        found = by_body(dict(zip((e.event_id for e in traffic.events), bodies, strict=True)),
                        snapshots(traffic.events))  # fmt: skip
        due = due_times(traffic, plan, options, started) if options.on_time else None
        counts = await send(plan, options, clock, Registering(registrar, found, lost), due)
    return Report(
        options.target, options.dry_run, options.batches, len(traffic.events), len(plan),
        counts.sent, counts.retried, counts.failed, dict(counts.errors), counts.lost,
        registrar.registered if registrar else 0, dict(registrar.failed) if registrar else {},
    )  # fmt: skip


def encoded(traffic: Traffic, options: SimulateOptions) -> list[bytes]:
    """Each event as its wire's bytes, in stream order."""
    wire = WIRES[options.target]
    return [encode(event, wire) for event in traffic.events]


def planned(bodies: list[bytes], options: SimulateOptions) -> list[bytes]:
    window = options.shuffle_window if options.shuffle else 0
    return send_plan(bodies, options.seed, duplicates=options.duplicates, shuffle_window=window)


def planned_bodies(traffic: Traffic, options: SimulateOptions) -> list[bytes]:
    """Every body to send, with duplicates and shuffling (lost ones included)."""
    return planned(encoded(traffic, options), options)


def due_times(
    traffic: Traffic, plan: list[bytes], options: SimulateOptions, started: datetime
) -> list[float]:
    """When each planned body goes out, in seconds after ``started``: when the service
    published its event. A body shuffled ahead of its time waits for it; one sent late
    (shuffled back, or a redelivery) holds back the bodies behind it, as a queue would."""
    wire = WIRES[options.target]
    published = {encode(e, wire): (e.published - started).total_seconds() for e in traffic.events}
    return list(itertools.accumulate((published[body] for body in plan), max))


def write_expected(traffic: Traffic, path: Path) -> None:
    text = json.dumps(traffic.ledger_json(), ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")


def write_lines(bodies: list[bytes], out: TextIO) -> None:
    for body in bodies:
        out.write(body.decode("utf-8") + "\n")
    out.flush()


async def send(
    plan: list[bytes],
    options: SimulateOptions,
    clock: Clock | None,
    registering: Registering | None = None,
    due: list[float] | None = None,
) -> Counts:
    target: Target = build_target(options, clock)
    if registering is not None:
        target = registering.around(target)
    try:
        return await deliver(plan, target, rate=options.rate or 0.0,
                             concurrency=options.concurrency, clock=clock, due=due)  # fmt: skip
    finally:
        await target.aclose()


def build_target(options: SimulateOptions, clock: Clock | None = None) -> Target:
    endpoint = options.resolved_endpoint()
    policy = RetryPolicy(attempts=options.attempts)
    sleep = (clock or SystemClock()).sleep
    http = HttpOptions(policy, sleep)
    if options.target == "eventbridge":
        return eventbridge_target(endpoint, token=_reveal(options.eventbridge_token), options=http)
    if options.target == "ice":
        key, url = _reveal(options.ice_auth_key), options.ice_callback_url
        return ice_target(endpoint, auth_key=key, callback_url=url, options=http)
    secret = options.access_key_secret.get_secret_value()
    pool = AccountPool(endpoint, options.access_key_id, secret, options.concurrency)
    if options.target == "mns-queue":
        return MnsQueueTarget(pool, options.queue, policy, sleep)
    return MnsTopicTarget(pool, options.topic, policy, sleep)


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


async def run(args: argparse.Namespace) -> int:
    """Exit status: 0 when every planned body was sent (or printed), 1 otherwise."""
    options = options_from_args(args)
    report = await simulate(options)
    # With --dry-run stdout carries the payloads, so the report goes to stderr.
    print(json.dumps(report.to_json()), file=sys.stderr if options.dry_run else sys.stdout)
    return 0 if report.failed == 0 else 1
