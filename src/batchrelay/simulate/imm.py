"""IMM batch and trigger lifecycles (``CreateBatch`` / ``CreateTrigger``), seeded and pure.

One batch, in event-time order:

1. ``imm:Batch:Notification`` State ``Ready`` (CreateTime = UpdateTime = the start);
2. State ``Running`` with a zero Statistic once the scan begins;
3. per file, an ``imm:Task:<TaskType>`` event with Status ``Running``, then ``Succeeded`` or
   ``Failed``, both with ``EventSourceId`` = the batch id so batchrelay attributes them;
4. more ``Running`` notifications as tasks finish: each Statistic counts the task results
   already sent (SubmitSuccess = succeeded, SubmitFailure = failed) and the files the scan
   skipped by then, so it only grows;
5. the final notification: ``Succeeded``, or ``Failed`` when FastFailPolicy ``abort``
   stopped the batch at its first failed task (files not submitted by then never run).

Triggers are identical with ``trigger-`` ids and ``imm:Trigger:Notification``.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchrelay.simulate.catalog import PROFILES, TEAMS, Profile
from batchrelay.simulate.model import (
    BatchExpectation,
    Lifecycle,
    SimEvent,
    TrafficSpec,
    after_ms,
    epoch_ms,
    format_utc,
    format_utc_seconds,
    message_id,
    request_id,
    seeded_uuid,
    weighted,
)

# The only scan phase the IMM documentation shows; Ready and final states carry none.
RUNNING_PHASE = "IncrementalScanning"


@dataclass(frozen=True, slots=True)
class Setup:
    """The batch object's fixed parts (what CreateBatch was called with)."""

    batch_id: str
    trigger: bool
    profile: Profile
    project: str
    prefix: str
    tags: dict[str, str]
    abort: bool
    create: datetime


@dataclass(frozen=True, slots=True)
class Task:
    task_id: str
    request_id: str
    source_uri: str
    target_uri: str
    submitted: datetime
    start: datetime  # StartTime; the Running event follows it
    running_at: datetime
    end: datetime  # EndTime; the final event follows it
    final_at: datetime
    code: str  # "" = succeeded
    message: str

    @property
    def status(self) -> str:
        return "Failed" if self.code else "Succeeded"


def imm_batch(
    rng: random.Random, spec: TrafficSpec, start: datetime, *, trigger: bool
) -> Lifecycle:
    setup = _setup(rng, spec, start, trigger)
    scan = after_ms(start, rng, 800, 3_000)
    tasks = _tasks(rng, setup, scan, spec)
    skips = _skips(rng, spec, scan, tasks[-1].submitted)
    failed_first = _first_failure(tasks) if setup.abort else None
    if failed_first is not None:
        # Abort: files not yet submitted when the failure was seen never become tasks.
        tasks = [t for t in tasks if t.submitted < failed_first.final_at]
        skips = [s for s in skips if s < failed_first.final_at]
    emit = _Emitter(rng, spec, setup)
    events = [emit.batch(start, "Ready", _zero(), ""), emit.batch(scan, "Running", _zero())]
    for task in tasks:
        events += [emit.task(task, running=True), emit.task(task, running=False)]
    for at in _progress_times(rng, tasks):
        events.append(emit.batch(at, "Running", _statistic(tasks, skips, at)))
    finish = after_ms(max(t.final_at for t in tasks), rng, 1_000, 3_000)
    state, error = ("Failed", _abort_error(failed_first)) if failed_first else ("Succeeded", "")
    events.append(emit.batch(finish, state, _statistic(tasks, skips, finish), "", error))
    return Lifecycle(events, _expectation(spec, setup, tasks, events, error))


def _setup(rng: random.Random, spec: TrafficSpec, start: datetime, trigger: bool) -> Setup:
    profile = rng.choice(PROFILES)
    project = rng.choice(profile.projects)
    env = "staging" if "staging" in project else "prod"
    return Setup(
        batch_id=f"{'trigger' if trigger else 'batch'}-{seeded_uuid(rng)}",
        trigger=trigger,
        profile=profile,
        project=project,
        prefix=f"{rng.choice(('archive', 'ingest', 'uploads'))}/{start:%Y/%m}/",
        tags={"team": rng.choice(TEAMS), "env": env},
        abort=rng.random() < spec.fast_fail_ratio,
        create=start,
    )


def _tasks(rng: random.Random, setup: Setup, scan: datetime, spec: TrafficSpec) -> list[Task]:
    first_number = rng.randint(1, 900)
    submitted = scan
    tasks = []
    for index in range(spec.tasks):
        submitted = after_ms(submitted, rng, 50, 600)
        tasks.append(_task(rng, setup, submitted, first_number + index, spec.failure_ratio))
    return tasks


def _task(rng: random.Random, setup: Setup, submitted: datetime, number: int, ratio: float) -> Task:
    profile = setup.profile
    relative = (
        f"{setup.prefix}{rng.choice(profile.folders)}/{rng.choice(profile.stems)}-{number:04d}"
    )
    code, message = weighted(rng, profile.errors) if rng.random() < ratio else ("", "")
    start = after_ms(submitted, rng, 100, 2_000)
    low, high = profile.duration_ms
    end = after_ms(start, rng, 500 if code else low, high)
    return Task(
        task_id=f"{profile.task_type}-{seeded_uuid(rng)}",
        request_id=request_id(rng),
        source_uri=f"oss://{profile.bucket}/{relative}{profile.extension}",
        target_uri=f"oss://{profile.out_bucket}/{relative}{profile.target_extension}",
        submitted=submitted,
        start=start,
        running_at=after_ms(start, rng, 5, 200),
        end=end,
        final_at=after_ms(end, rng, 5, 200),
        code=code,
        message=message,
    )


def _skips(rng: random.Random, spec: TrafficSpec, scan: datetime, last: datetime) -> list[datetime]:
    """When the scan passed over a file it skipped (already converted, say): while submitting."""
    count = sum(1 for _ in range(spec.tasks) if rng.random() < spec.skip_ratio)
    window = epoch_ms(last) - epoch_ms(scan)
    return sorted(after_ms(scan, rng, 0, window) for _ in range(count))


def _first_failure(tasks: list[Task]) -> Task | None:
    failed = [t for t in tasks if t.code]
    return min(failed, key=lambda t: t.final_at) if failed else None


def _abort_error(task: Task) -> str:
    return f"FastFailPolicy abort: task {task.task_id} failed: {task.code}"


def _progress_times(rng: random.Random, tasks: list[Task]) -> list[datetime]:
    """About four Running notifications, each shortly after a quarter of the tasks ended."""
    ends = sorted(t.final_at for t in tasks)
    step = max(1, math.ceil(len(ends) / 4))
    return [after_ms(ends[i], rng, 200, 900) for i in range(step - 1, len(ends) - 1, step)]


def _zero() -> dict[str, int]:
    return {"SubmitSuccess": 0, "SubmitFailure": 0, "SkipFiles": 0}


def _statistic(tasks: list[Task], skips: list[datetime], at: datetime) -> dict[str, int]:
    done = [t for t in tasks if t.final_at <= at]
    failed = sum(1 for t in done if t.code)
    skipped = sum(1 for s in skips if s <= at)
    return {"SubmitSuccess": len(done) - failed, "SubmitFailure": failed, "SkipFiles": skipped}


class _Emitter:
    """Builds the SimEvents of one batch; holds what every event of it shares."""

    def __init__(self, rng: random.Random, spec: TrafficSpec, setup: Setup) -> None:
        self.rng, self.spec, self.setup = rng, spec, setup

    def event(self, type_: str, at: datetime, body: dict[str, Any]) -> SimEvent:
        return SimEvent(
            "imm", message_id(self.rng), type_, at, after_ms(at, self.rng, 20, 600),
            self.spec.account_id, self.spec.region, self.setup.project, self.setup.batch_id, body,
        )  # fmt: skip

    def batch(
        self, at: datetime, state: str, statistic: dict[str, int], phase: str = RUNNING_PHASE,
        error: str = "",
    ) -> SimEvent:  # fmt: skip
        noun = "Trigger" if self.setup.trigger else "Batch"
        return self.event(
            f"imm:{noun}:Notification",
            at,
            _batch_body(self.setup, at, state, statistic, phase, error),
        )

    def task(self, task: Task, *, running: bool) -> SimEvent:
        at = task.running_at if running else task.final_at
        body = _task_body(self.setup, task, running)
        return self.event(f"imm:Task:{self.setup.profile.task_type}", at, body)


def _batch_body(
    setup: Setup, at: datetime, state: str, statistic: dict[str, int], phase: str, error: str
) -> dict[str, Any]:
    profile = setup.profile
    action = {
        "Name": profile.action,
        "Parameters": list(profile.parameters),
        "FastFailPolicy": {"Action": "abort" if setup.abort else "ignore"},
    }
    source = {"Bucket": profile.bucket, "Prefix": setup.prefix}
    return {
        "ProjectName": setup.project,
        "Id": setup.batch_id,
        "State": state,
        "Phase": phase,
        "Statistic": statistic,
        "Input": {"OSS": source | {"MatchExpressions": [f"suffix({profile.extension})"]}},
        "Actions": [action],
        "Tags": dict(setup.tags),
        "CreateTime": format_utc_seconds(setup.create),
        "UpdateTime": format_utc_seconds(at),
        "Error": error,
    }


def _task_body(setup: Setup, task: Task, running: bool) -> dict[str, Any]:
    return {
        "ProjectName": setup.project,
        "DatasetName": "",
        "RequestId": task.request_id,
        "StartTime": format_utc(task.start),
        "EndTime": "" if running else format_utc(task.end),
        "UserData": "",
        "TaskType": setup.profile.task_type,
        "TaskId": task.task_id,
        "Status": "Running" if running else task.status,
        "Code": "" if running else task.code,
        "Message": "" if running else task.message,
        "EventSourceId": setup.batch_id,
        "Sources": [{"URI": task.source_uri}],
        "Targets": [{"URI": task.target_uri}],
    }


def _expectation(
    spec: TrafficSpec, setup: Setup, tasks: list[Task], events: list[SimEvent], error: str
) -> BatchExpectation:
    final = events[-1]
    statistic = final.body["Statistic"]
    counts = Counter(t.status.lower() for t in tasks)
    return BatchExpectation(
        batch_key=setup.batch_id,
        kind="trigger" if setup.trigger else "batch",
        source="acs.imm",
        project=setup.project,
        account_id=spec.account_id,
        state=final.body["State"].lower(),
        raw_state=final.body["State"],
        phase=final.body["Phase"],
        error=error,
        statistic={
            "submit_success": statistic["SubmitSuccess"],
            "submit_failure": statistic["SubmitFailure"],
            "skip_files": statistic["SkipFiles"],
        },
        task_counts=dict(sorted(counts.items())),
        error_codes=dict(sorted(Counter(t.code for t in tasks if t.code).items())),
        tags=dict(setup.tags),
        tasks=len(tasks),
        events=len(events),
        create_time=setup.create,
        finished_at=final.time,
    )
