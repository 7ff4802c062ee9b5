"""The IMM and ICE side of the emulator: batches, triggers and batch media producing jobs.

State is what a simulator registered (:meth:`CloudState.put_batch`, :meth:`put_job`), each
record a full snapshot of the service's object with an ``order`` (the simulated time it
describes): the newest order wins, so snapshots may arrive in any order, twice, or from
several senders at once. The OpenAPI subset reads and changes it as the services do:

- IMM ``ListBatches`` / ``ListTriggers`` per project (``State``, ``TagSelector``, ``Sort``
  ``CreateTime``/``UpdateTime``, ``Order`` ``ASC``/``DESC``, ``MaxResults`` 0–100 with 0
  meaning 100, opaque ``NextToken``), ``GetBatch``;
- ``SuspendBatch`` (a ``Ready`` or ``Running`` batch stops taking new tasks),
  ``ResumeBatch`` (a ``Suspended`` or ``Failed`` batch runs again), ``UpdateBatch``
  (only in ``Ready`` or ``Failed``; the state does not change);
- ICE ``ListBatchMediaProducingJobs`` (``Status``, ``JobType``, ``StartTime``/``EndTime``
  on CreateTime, ``SortBy`` ``desc``/``asc``, ``MaxResults`` 1–100, ``NextToken``) and
  ``GetBatchMediaProducingJob`` (with ``SubJobList``).

Every record is bounded in number (``max_records``). A test can make the next calls answer
``Throttling.User`` (:meth:`throttle`).
"""

from __future__ import annotations

import base64
import copy
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from batchrelay.emulator.openapi_errors import (
    OpenApiError,
    invalid_parameter,
    invalid_state,
    not_found,
    throttled,
)
from batchrelay.events.timefmt import parse_time

ImmKind = Literal["batch", "trigger"]
Order = tuple[int, int]
MAX_RECORDS = 100_000

#: What the IMM documentation says about UpdateBatch (api-imm-2020-09-30-updatebatch).
UPDATE_ONLY_READY_OR_FAILED = (
    "You can update a batch processing task only when its status is Ready or Failed."
)
SUSPENDABLE = frozenset({"Ready", "Running"})
RESUMABLE = frozenset({"Suspended", "Failed"})
UPDATABLE = frozenset({"Ready", "Failed"})


@dataclass
class Record:
    """One object as the service shows it, and the order of the snapshot it came from."""

    body: dict[str, Any]
    order: Order


@dataclass
class CloudState:
    """IMM projects (batches and triggers) and ICE batch jobs of one emulated account."""

    clock: Callable[[], float]
    max_records: int = MAX_RECORDS
    imm: dict[tuple[str, ImmKind], dict[str, Record]] = field(default_factory=dict)
    ice: dict[str, Record] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)  # API actions served, by name
    _throttle: int = 0

    # -- registration (the simulator) ----------------------------------------------------

    def put_batch(self, project: str, kind: ImmKind, body: Mapping[str, Any], order: Order) -> bool:
        """Keep ``body`` (a DataIngestion object) if it is the newest snapshot; True if kept."""
        batch_id = _required_text(body, "Id")
        records = self._project(project, kind, create=True)
        return self._keep(records, batch_id, body, order)

    def put_job(self, body: Mapping[str, Any], order: Order) -> bool:
        """Keep ``body`` (an EditingBatchJob with SubJobList) if it is the newest snapshot."""
        return self._keep(self.ice, _required_text(body, "JobId"), body, order)

    def _keep(
        self, records: dict[str, Record], key: str, body: Mapping[str, Any], order: Order
    ) -> bool:
        held = records.get(key)
        if held is not None and held.order >= order:
            return False
        if held is None and self.count() >= self.max_records:
            raise OpenApiError(
                400, "QuotaExceeded", "The emulator holds as many records as it may."
            )
        records[key] = Record(copy.deepcopy(dict(body)), order)
        return True

    def count(self) -> int:
        return len(self.ice) + sum(len(r) for r in self.imm.values())

    def projects(self) -> list[str]:
        return sorted({project for project, _ in self.imm})

    # -- faults ---------------------------------------------------------------------------

    def throttle(self, calls: int) -> None:
        """Answer the next ``calls`` API calls with ``Throttling.User``."""
        self._throttle = calls

    def check_throttle(self) -> None:
        if self._throttle > 0:
            self._throttle -= 1
            raise throttled()

    # -- IMM ------------------------------------------------------------------------------

    def _project(self, project: str, kind: ImmKind, create: bool = False) -> dict[str, Record]:
        if create:
            self.imm.setdefault((project, "trigger" if kind == "batch" else "batch"), {})
            return self.imm.setdefault((project, kind), {})
        if (project, kind) not in self.imm:
            raise not_found("project", project)
        return self.imm[(project, kind)]

    def list_imm(self, project: str, kind: ImmKind, query: Mapping[str, str]) -> dict[str, Any]:
        records = self._project(project, kind)
        limit = _max_results(query.get("MaxResults"), default=100, low=0)
        items = [r.body for r in records.values() if _imm_matches(r.body, query)]
        sort = query.get("Sort") or "CreateTime"
        if sort not in ("CreateTime", "UpdateTime"):
            raise invalid_parameter("Sort", "use CreateTime or UpdateTime")
        descending = (query.get("Order") or "DESC").upper() in ("DESC", "DES")
        items.sort(key=lambda b: (_time(b.get(sort)), b["Id"]), reverse=descending)
        page, token = _page(items, query.get("NextToken", ""), limit)
        noun = "Batches" if kind == "batch" else "Triggers"
        return {noun: copy.deepcopy(page), "NextToken": token}

    def get_batch(self, project: str, batch_id: str) -> dict[str, Any]:
        return {"Batch": copy.deepcopy(self._batch(project, batch_id).body)}

    def _batch(self, project: str, batch_id: str) -> Record:
        record = self._project(project, "batch").get(batch_id)
        if record is None:
            raise not_found("batch", batch_id)
        return record

    def suspend_batch(self, project: str, batch_id: str) -> None:
        self._change_state(project, batch_id, SUSPENDABLE, "Suspended", "suspend")

    def resume_batch(self, project: str, batch_id: str) -> None:
        self._change_state(project, batch_id, RESUMABLE, "Running", "resume")

    def update_batch(self, project: str, batch_id: str, changes: Mapping[str, Any]) -> None:
        record = self._batch(project, batch_id)
        if record.body.get("State") not in UPDATABLE:
            raise invalid_state(UPDATE_ONLY_READY_OR_FAILED)
        record.body.update(copy.deepcopy(dict(changes)))
        self._touch(record)

    def _change_state(
        self, project: str, batch_id: str, allowed: frozenset[str], state: str, verb: str
    ) -> None:
        record = self._batch(project, batch_id)
        current = record.body.get("State")
        if current not in allowed:
            states = " or ".join(sorted(allowed))
            raise invalid_state(
                f"You can {verb} a batch processing task only when its status is {states}; "
                f"it is {current}."
            )
        record.body["State"] = state
        self._touch(record)

    def _touch(self, record: Record) -> None:
        """A change made through the API: newer than every snapshot registered so far."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        held = _time(record.body.get("UpdateTime"))
        record.body["UpdateTime"] = max(now, held).strftime("%Y-%m-%dT%H:%M:%SZ")
        record.order = (record.order[0], record.order[1] + 1)

    # -- ICE ------------------------------------------------------------------------------

    def list_jobs(self, query: Mapping[str, str]) -> dict[str, Any]:
        limit = _max_results(query.get("MaxResults"), default=10, low=1)
        start, end = _optional_time(query, "StartTime"), _optional_time(query, "EndTime")
        items = []
        for record in self.ice.values():
            job = record.body
            created = _time(job.get("CreateTime"))
            if query.get("Status") and job.get("Status") != query["Status"]:
                continue
            if query.get("JobType") and job.get("JobType") != query["JobType"]:
                continue
            if (start and created < start) or (end and created > end):
                continue
            items.append({k: v for k, v in job.items() if k != "SubJobList"})
        descending = (query.get("SortBy") or "desc").lower() == "desc"
        items.sort(key=lambda j: (_time(j.get("CreateTime")), j["JobId"]), reverse=descending)
        page, token = _page(items, query.get("NextToken", ""), limit)
        return {"EditingBatchJobList": copy.deepcopy(page), "NextToken": token, "MaxResults": limit}

    def get_job(self, job_id: str) -> dict[str, Any]:
        record = self.ice.get(job_id)
        if record is None:
            raise not_found("job", job_id)
        return {"EditingBatchJob": copy.deepcopy(record.body)}


def _required_text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise invalid_parameter(key, "a non-empty string is required")
    return value


def _time(value: Any) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    try:
        return parse_time(value)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _optional_time(query: Mapping[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise invalid_parameter(name, "use UTC time like 2026-11-20T02:00:00Z") from None


def _max_results(raw: str | None, *, default: int, low: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter("MaxResults", "an integer is required") from None
    if not low <= value <= 100:
        raise invalid_parameter("MaxResults", f"from {low} to 100")
    return value or default


def _imm_matches(batch: Mapping[str, Any], query: Mapping[str, str]) -> bool:
    state = query.get("State")
    if state and batch.get("State") != state:
        return False
    tags = batch.get("Tags") or {}
    for wanted in filter(None, (query.get("TagSelector") or "").split(",")):
        key, has_value, value = wanted.partition("=")
        if key not in tags or (has_value and str(tags[key]) != value):
            return False
    return True


def _page(items: list[dict[str, Any]], token: str, limit: int) -> tuple[list[dict[str, Any]], str]:
    """One page by position; the token is opaque to clients and checked here."""
    start = 0
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            start = int(decoded["offset"])
        except (ValueError, KeyError, TypeError):
            raise invalid_parameter("NextToken", "not a token this service issued") from None
        if start < 0:
            raise invalid_parameter("NextToken", "not a token this service issued")
    end = start + limit
    more = end < len(items)
    next_token = (
        base64.urlsafe_b64encode(json.dumps({"offset": end}).encode()).decode() if more else ""
    )
    return items[start:end], next_token
