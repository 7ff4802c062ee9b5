"""The traffic model: simulated events, the expected ledger, and the generator entry point.

Everything here is pure: a seeded ``random.Random`` and an explicit start time decide every
id, time and outcome, so one :class:`TrafficSpec` always yields byte-identical traffic.
The lifecycles live in ``imm.py`` and ``ice.py``; ``stream.py`` merges them into one
time-ordered stream and keeps, beside it, what batchrelay should end up recording.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Kind = Literal["imm-batch", "imm-trigger", "ice-batch", "mixed"]
BatchKind = Literal["imm-batch", "imm-trigger", "ice-batch"]
Service = Literal["imm", "ice"]

BATCH_KINDS: tuple[BatchKind, ...] = ("imm-batch", "imm-trigger", "ice-batch")
_ALNUM = string.ascii_letters + string.digits
_ONE_MS = timedelta(milliseconds=1)
DEFAULT_NOTIFY_ADDRESS = "https://hooks.example.com/ice"


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One notification, independent of the wire that will carry it.

    ``body`` is the service's own object: IMM ``content`` (task or batch keys) or the ICE
    ``MessageBody``. ``published`` is when the service handed the event to its bus
    (EventBridge ``aliyunpublishtime``); it is never earlier than ``time``.
    """

    service: Service
    event_id: str
    type: str
    time: datetime
    published: datetime
    account_id: str
    region: str
    project: str
    batch_key: str
    body: dict[str, Any]

    @property
    def task_id(self) -> str | None:
        """The per-file work item this event reports on: IMM TaskId, ICE sub-job JobId."""
        if self.service == "imm":
            return self.body.get("TaskId")
        return self.body["JobId"] if self.type == "ProduceMediaComplete" else None


@dataclass(frozen=True, slots=True)
class BatchExpectation:
    """What batchrelay's ledger should hold for one batch once all traffic is ingested.

    Field names follow the store's ``BatchView`` so a test can compare key by key.
    """

    batch_key: str
    kind: Literal["batch", "trigger", "ice_batch"]
    source: str
    project: str  # IMM ProjectName; ICE the ProjectId its sub-jobs render
    account_id: str
    state: str  # normalized status of the final batch event
    raw_state: str  # the service's own word
    phase: str
    error: str
    statistic: dict[str, int] | None  # IMM only: the final cumulative Statistic
    task_counts: dict[str, int]  # normalized final task status -> number of tasks
    error_codes: dict[str, int]  # code -> number of failed tasks
    tags: dict[str, str]
    tasks: int
    events: int  # distinct events attributed to the batch (duplicates not counted)
    create_time: datetime  # IMM CreateTime; for ICE, the earliest event time
    finished_at: datetime  # event time of the final batch event

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}
        data["create_time"] = format_utc(self.create_time)
        data["finished_at"] = format_utc(self.finished_at)
        return data


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """One batch's events (in generation order) and its expected ledger entry."""

    events: list[SimEvent]
    expected: BatchExpectation


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    """What to generate. ``start_time`` is required: the generator never reads a clock."""

    start_time: datetime
    kind: Kind = "imm-batch"
    batches: int = 1
    tasks: int = 20  # per batch: files converted (IMM) or sub-jobs (ICE)
    failure_ratio: float = 0.05
    skip_ratio: float = 0.02  # IMM files the scan skips (SkipFiles), beside the tasks
    fast_fail_ratio: float = 0.0  # IMM batches whose Actions carry FastFailPolicy abort
    seed: int = 0
    account_id: str = "1234567890123456"
    region: str = "cn-shanghai"
    notify_address: str = DEFAULT_NOTIFY_ADDRESS  # ICE UserData NotifyAddress
    batch_gap_s: tuple[int, int] = (5, 60)  # between batch starts; whole seconds, as CreateTime


@dataclass(frozen=True, slots=True)
class Traffic:
    """The generated stream, ordered by event time, and the ledger it should produce."""

    spec: TrafficSpec
    events: tuple[SimEvent, ...]
    expected: tuple[BatchExpectation, ...] = field(default=())

    def ledger_json(self) -> dict[str, Any]:
        """The expected ledger as written by ``--expect``; see the package docstring."""
        return {
            "seed": self.spec.seed,
            "start_time": format_utc(floor_second(self.spec.start_time)),
            "events": len(self.events),
            "batches": {b.batch_key: b.to_json() for b in self.expected},
        }


# ---- seeded identifiers -------------------------------------------------------------------


def seeded_uuid(rng: random.Random) -> str:
    """A version-4 UUID whose 122 random bits come from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def hex32(rng: random.Random) -> str:
    """ICE-style 32-hex identifier (JobId, MediaId, ProjectId)."""
    return f"{rng.getrandbits(128):032x}"


def message_id(rng: random.Random) -> str:
    """IMM envelope ``id``: 20 letters and digits, like the published samples."""
    return "".join(rng.choices(_ALNUM, k=20))


def request_id(rng: random.Random) -> str:
    return seeded_uuid(rng).upper()


def weighted(rng: random.Random, table: Sequence[tuple[int, Any]]) -> Any:
    """Pick one value from ``(weight, value)`` rows."""
    weights = [row[0] for row in table]
    return rng.choices([row[1] for row in table], weights=weights, k=1)[0]


# ---- time -----------------------------------------------------------------------------------


def floor_second(value: datetime) -> datetime:
    """Aware UTC, whole seconds (naive input is taken as UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


def after_ms(value: datetime, rng: random.Random, low: int, high: int) -> datetime:
    """``value`` plus a whole number of milliseconds in ``[low, high]``."""
    return value + rng.randint(low, high) * _ONE_MS


def epoch_ms(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // _ONE_MS


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-11-20T03:29:58.102Z``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def format_utc_seconds(value: datetime) -> str:
    """RFC 3339 in UTC, whole seconds: ``2026-11-20T02:00:00Z`` (CreateTime, ICE times)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
