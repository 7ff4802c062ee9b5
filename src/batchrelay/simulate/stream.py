"""Merge per-batch lifecycles into one time-ordered stream: :func:`generate`."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from batchrelay.simulate.ice import ice_batch
from batchrelay.simulate.imm import imm_batch
from batchrelay.simulate.model import (
    BATCH_KINDS,
    BatchKind,
    Kind,
    Lifecycle,
    SimEvent,
    Traffic,
    TrafficSpec,
    floor_second,
)


def generate(spec: TrafficSpec) -> Traffic:
    """Build the whole stream for ``spec``. Same spec, same events, same bytes."""
    master = random.Random(spec.seed)
    start = floor_second(spec.start_time)
    lifecycles: list[Lifecycle] = []
    for index in range(spec.batches):
        if index:
            start += timedelta(seconds=master.randint(*spec.batch_gap_s))
        kind = batch_kind(spec.kind, master)
        # One child generator per batch, so a batch's content does not depend on how many
        # random draws the batches before it made.
        rng = random.Random(master.getrandbits(64))
        lifecycles.append(_lifecycle(kind, rng, spec, start))
    events = merge(lc.events for lc in lifecycles)
    return Traffic(spec, events, tuple(lc.expected for lc in lifecycles))


def _lifecycle(
    kind: BatchKind, rng: random.Random, spec: TrafficSpec, start: datetime
) -> Lifecycle:
    if kind == "ice-batch":
        return ice_batch(rng, spec, start)
    return imm_batch(rng, spec, start, trigger=kind == "imm-trigger")


def batch_kind(kind: Kind, rng: random.Random) -> BatchKind:
    """The kind of the next batch; ``mixed`` draws one of the three."""
    return rng.choice(BATCH_KINDS) if kind == "mixed" else kind


def merge(streams: Iterable[list[SimEvent]]) -> tuple[SimEvent, ...]:
    """All events by time; ties keep generation order (``sorted`` is stable)."""
    flat = [event for stream in streams for event in stream]
    return tuple(sorted(flat, key=lambda event: event.time))
