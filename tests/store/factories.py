"""Events for store tests, built directly from the models (no decoding involved)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from batchrelay.events.models import (
    Event,
    IceBatchJobEvent,
    IceJobEvent,
    ImmBatchEvent,
    ImmTaskEvent,
    Statistic,
    Status,
    UnknownEvent,
)
from batchrelay.store.base import Inbound

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

RAW_WORDS = {
    "ready": "Ready",
    "running": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "suspended": "Suspended",
    "finished": "Finished",
    "unknown": "Mystery",
}


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``; fractions keep microseconds, which the store must keep too."""
    return T0 + timedelta(seconds=seconds)


def imm_task(
    task_id: str,
    status: Status,
    t: float,
    *,
    batch_key: str | None = None,
    event_id: str | None = None,
    code: str = "",
    object_path: str | None = None,
    project: str | None = "docs-prod",
    **extra: Any,
) -> ImmTaskEvent:
    return ImmTaskEvent(
        event_id=event_id or f"task:{task_id}:{status}:{t}",
        source="acs.imm",
        type="imm:Task:MediaConvert",
        time=at(t),
        ingress="mns-queue",
        project=project,
        batch_key=batch_key,
        task_id=task_id,
        task_type="MediaConvert",
        object_path=object_path,
        status=status,
        raw_status=RAW_WORDS[status],
        code=code,
        message=f"{code} happened" if code else "",
        **extra,
    )


def imm_batch(
    batch_key: str,
    status: Status,
    t: float,
    *,
    event_id: str | None = None,
    statistic: tuple[int, int, int] | None = None,
    tags: dict[str, str] | None = None,
    kind: Literal["batch", "trigger"] = "batch",
    project: str | None = "docs-prod",
    raw_status: str | None = None,
    **extra: Any,
) -> ImmBatchEvent:
    stat = None
    if statistic is not None:
        success, failure, skip = statistic
        stat = Statistic(submit_success=success, submit_failure=failure, skip_files=skip)
    return ImmBatchEvent(
        event_id=event_id or f"{kind}:{batch_key}:{status}:{t}",
        source="acs.imm",
        type="imm:Trigger:Notification" if kind == "trigger" else "imm:Batch:Notification",
        kind=kind,
        time=at(t),
        ingress="eventbridge",
        project=project,
        batch_key=batch_key,
        status=status,
        raw_status=raw_status or RAW_WORDS[status],
        statistic=stat,
        tags=tags or {},
        **extra,
    )


def ice_job(
    job_id: str, status: Status, t: float, *, batch_key: str | None, code: str = ""
) -> IceJobEvent:
    return IceJobEvent(
        event_id=f"ice:{job_id}:{status}:{t}",
        source="acs.ice",
        type="ice:ProduceMediaComplete",
        time=at(t),
        ingress="ice-http",
        batch_key=batch_key,
        task_id=job_id,
        status=status,
        raw_status={"succeeded": "Success", "failed": "Fail"}.get(status, RAW_WORDS[status]),
        code=code,
    )


def ice_batch(job_id: str, t: float, status: Status = "finished") -> IceBatchJobEvent:
    return IceBatchJobEvent(
        event_id=f"ice-batch:{job_id}:{status}:{t}",
        source="acs.ice",
        type="ice:BatchProduceMediaComplete",
        time=at(t),
        ingress="ice-http",
        batch_key=job_id,
        status=status,
        raw_status=RAW_WORDS[status],
    )


def unknown(event_id: str, t: float) -> UnknownEvent:
    return UnknownEvent(
        event_id=event_id, source="acs.oss", type="oss:Something", time=at(t), ingress="replay"
    )


def inbound(event: Event, *, raw: bytes | None = None, received: float = 0) -> Inbound:
    body = raw if raw is not None else f'{{"id":"{event.event_id}"}}'.encode()
    return Inbound(event=event, raw=body, received_at=RECEIVED + timedelta(seconds=received))


# --------------------------------------------------------------------------- streams

CODES = ("InvalidArgument", "ResourceNotFound", "InternalError", "")


def event_stream(seed: int, batches: int = 6, tasks_per_batch: int = 20) -> list[Event]:
    """A few hundred events from realistic lifecycles, with duplicates and awkward ties.

    Includes: tasks that run then succeed or fail (some retried to success later), the
    same transition reported twice under different event ids (two routes), times that tie,
    running reports without batch key or object path, tasks without batch or project, a
    batch that fails and resumes, statistic snapshots, ICE batches with sub-jobs.
    """
    rng = random.Random(seed)
    events: list[Event] = []
    for b in range(batches):
        if b % 3 == 2:
            events += _ice_lifecycle(rng, f"ice-{b}", tasks_per_batch)
        else:
            events += _imm_lifecycle(rng, f"batch-{b}", tasks_per_batch)
    events += [_orphan_task(rng, n) for n in range(tasks_per_batch)]
    events += [unknown(f"unknown-{n}", rng.uniform(0, 500)) for n in range(5)]
    events += rng.sample(events, len(events) // 10)  # redelivered: same event id again
    return events


def _imm_lifecycle(rng: random.Random, key: str, tasks: int) -> list[Event]:
    created = rng.uniform(0, 50)
    tags = {"team": rng.choice(["legal", "media"]), "run": key}
    events: list[Event] = [
        imm_batch(key, "ready", created, tags=tags, create_time=at(created)),
        imm_batch(key, "running", created + 1, statistic=(0, 0, 0), tags=tags),
    ]
    for n in range(tasks):
        events += _task_lifecycle(rng, f"{key}-t{n}", key, created)
    done = created + 400
    events += [
        imm_batch(key, "running", created + 200, statistic=(tasks // 2, 1, 0), tags=tags),
        imm_batch(key, "failed", created + 300, statistic=(tasks // 2, 2, 1), tags=tags),
        imm_batch(key, "running", created + 350, tags={**tags, "resumed": "yes"}),
        imm_batch(key, "succeeded", done, statistic=(tasks, 3, 1), update_time=at(done + 1)),
    ]
    return events


def _task_lifecycle(rng: random.Random, task_id: str, key: str, start: float) -> list[Event]:
    begin = start + rng.uniform(2, 150)
    path = f"oss://docs-in/contracts/{task_id}.docx"
    region = rng.choice([None, "cn-shanghai", "cn-hangzhou"])  # conflicting batch regions
    events: list[Event] = [
        imm_task(task_id, "running", begin, batch_key=key, object_path=path, region=region)
    ]
    if rng.random() < 0.2:  # a report that lost its batch key and path on the way
        events.append(imm_task(task_id, "running", begin + 0.5, event_id=f"{task_id}:bare"))
    if rng.random() < 0.1:  # a report that disagrees: other batch, path and project
        events.append(imm_task(task_id, "running", begin + 0.7, batch_key=f"{key}-alt",
                               object_path=f"{path}.tmp", project="media-prod"))  # fmt: skip
    end = begin + rng.choice([1, 1, 2.5, 30])  # repeated choices make equal times likely
    if rng.random() < 0.3:
        code = rng.choice(CODES)
        events.append(imm_task(task_id, "failed", end, batch_key=key, code=code))
        if rng.random() < 0.5:  # retried later and went through
            events.append(imm_task(task_id, "succeeded", end + 60, batch_key=key))
    else:
        events.append(imm_task(task_id, "succeeded", end, batch_key=key, object_path=path))
    if rng.random() < 0.2:  # the same transition again, by a second route
        events.append(events[-1].model_copy(update={"event_id": f"{task_id}:eventbridge"}))
    return events


def _ice_lifecycle(rng: random.Random, key: str, jobs: int) -> list[Event]:
    start = rng.uniform(0, 50)
    events: list[Event] = []
    for n in range(jobs):
        job, t = f"{key}-job{n}", start + rng.uniform(1, 100)
        status: Status = "failed" if rng.random() < 0.25 else "succeeded"
        code = rng.choice(CODES) if status == "failed" else ""
        events += [ice_job(job, "running", t, batch_key=key)]
        events += [ice_job(job, status, t + rng.choice([1, 5]), batch_key=key, code=code)]
    events.append(ice_batch(key, start + 200))
    return events


def _orphan_task(rng: random.Random, n: int) -> Event:
    project = rng.choice(["docs-prod", "media-prod", None])
    status: Status = rng.choice(["running", "succeeded", "failed"])
    return imm_task(f"orphan-{n}", status, rng.uniform(0, 500), project=project, code="Oops")
