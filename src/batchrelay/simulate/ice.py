"""ICE batch media producing jobs (``SubmitSceneBatchEditingJob``), seeded and pure.

Each sub-job ends with one ``ProduceMediaComplete``: Status ``Success`` with MediaURL and
MediaId, or ``Fail`` with ErrorCode and ErrorMessage. Its ``UserData`` carries ``batch_id`` =
the batch JobId beside ``NotifyAddress``, which is how batchrelay attributes it. Then one
``BatchProduceMediaComplete`` with Status ``Finished`` (finished is not "all succeeded").
All sub-jobs of one batch render the same editing project (``ProjectId``).
ICE reports times in whole seconds, so these events have whole-second times too.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from batchrelay.simulate.catalog import ICE_BUCKETS, ICE_ERRORS
from batchrelay.simulate.model import (
    BatchExpectation,
    Lifecycle,
    SimEvent,
    TrafficSpec,
    hex32,
    message_id,
    weighted,
)


@dataclass(frozen=True, slots=True)
class Job:
    """The batch job: its id, the editing project its sub-jobs render, where to call back."""

    job_id: str
    project_id: str
    notify_address: str


@dataclass(frozen=True, slots=True)
class SubJob:
    job_id: str
    done: datetime
    media_url: str  # "" when failed
    media_id: str
    code: str  # "" = succeeded
    message: str


def ice_batch(rng: random.Random, spec: TrafficSpec, start: datetime) -> Lifecycle:
    job = Job(hex32(rng), hex32(rng), spec.notify_address)
    output = (
        f"https://{rng.choice(ICE_BUCKETS)}.oss-{spec.region}.aliyuncs.com/batch/{job.job_id[:8]}"
    )
    subjobs = [_subjob(rng, spec, start, f"{output}_{i}.mp4") for i in range(spec.tasks)]
    events = [
        _event(rng, spec, job, "ProduceMediaComplete", s.done, _body(job, s)) for s in subjobs
    ]
    finished = max(s.done for s in subjobs) + timedelta(seconds=rng.randint(2, 10))
    batch_body = {
        "Status": "Finished",
        "UserData": _user_data({"NotifyAddress": job.notify_address}),
        "JobId": job.job_id,
    }
    events.append(_event(rng, spec, job, "BatchProduceMediaComplete", finished, batch_body))
    return Lifecycle(events, _expectation(spec, job, subjobs, events))


def _subjob(rng: random.Random, spec: TrafficSpec, start: datetime, url: str) -> SubJob:
    done = start + timedelta(seconds=rng.randint(20, 300))
    job_id = hex32(rng)
    if rng.random() < spec.failure_ratio:
        code, message = weighted(rng, ICE_ERRORS)
        return SubJob(job_id, done, "", "", code, message)
    return SubJob(job_id, done, url, hex32(rng), "", "")


def _body(job: Job, subjob: SubJob) -> dict[str, Any]:
    return {
        "Status": "Fail" if subjob.code else "Success",
        "MediaURL": subjob.media_url,
        "MediaId": subjob.media_id,
        "ProjectId": job.project_id,
        "ErrorCode": subjob.code,
        "ErrorMessage": subjob.message,
        "JobId": subjob.job_id,
        "UserData": _user_data({"NotifyAddress": job.notify_address, "batch_id": job.job_id}),
    }


def _user_data(value: dict[str, str]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _event(
    rng: random.Random, spec: TrafficSpec, job: Job, type_: str, at: datetime, body: dict[str, Any]
) -> SimEvent:
    # ICE calls back directly, with no bus between: published is the event time.
    return SimEvent(
        "ice", message_id(rng), type_, at, at,
        spec.account_id, spec.region, job.project_id, job.job_id, body,
    )  # fmt: skip


def _expectation(
    spec: TrafficSpec, job: Job, subjobs: list[SubJob], events: list[SimEvent]
) -> BatchExpectation:
    counts = Counter("failed" if s.code else "succeeded" for s in subjobs)
    return BatchExpectation(
        batch_key=job.job_id,
        kind="ice_batch",
        source="acs.ice",
        project=job.project_id,
        account_id=spec.account_id,
        state="finished",
        raw_state="Finished",
        phase="",
        error="",
        statistic=None,
        task_counts=dict(sorted(counts.items())),
        error_codes=dict(sorted(Counter(s.code for s in subjobs if s.code).items())),
        tags={},
        tasks=len(subjobs),
        events=len(events),
        create_time=min(e.time for e in events),
        finished_at=events[-1].time,
    )
