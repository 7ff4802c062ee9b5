"""Synthesized notifications: what the service would have sent, built from what its API says.

The reconciler does not write the ledger itself. It renders a difference as the
notification the service sends for that change and hands the bytes to the pipeline with
ingress ``reconcile``, so decoding, parsing, the batch key, dedup, the ledger rules,
routing and alerts all apply exactly as to a notification, and ``ledger rebuild`` replays
it from the journal like any other event.

- IMM batch or trigger: the IMM envelope (``protocols.md`` §1.1) of an
  ``imm:Batch:Notification`` / ``imm:Trigger:Notification`` whose ``content`` is the listed
  ``DataIngestion`` object plus ``ProjectName``;
- ICE batch job: ``BatchProduceMediaComplete`` (§5.3) with the job's ``Status``;
- ICE sub-job: ``ProduceMediaComplete`` with the sub-job's fields and ``MasterJobId``.

The event ``id`` is ``reconcile:`` and a hash of everything in the document, the event
time included: reconciling an unchanged batch again yields the same id, which the journal
already holds, so nothing new is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from batchrelay.events.models import format_time

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _event_id(*parts: Any) -> str:
    digest = hashlib.sha256(_canonical(list(parts)).encode()).hexdigest()[:32]
    return f"reconcile:{digest}"


def _epoch_ms(value: datetime) -> str:
    return str((value - _EPOCH) // _ONE_MS)  # integers: a float could round below the ms


def imm_batch_document(
    batch: Mapping[str, Any],
    *,
    kind: Literal["batch", "trigger"],
    project: str,
    region: str,
    account_id: str | None,
    time: datetime,
) -> bytes:
    """The IMM notification for ``batch`` (as ``ListBatches``/``GetBatch`` return it)."""
    content = {**batch, "ProjectName": project}
    event_type = f"imm:{'Batch' if kind == 'batch' else 'Trigger'}:Notification"
    stamp = _epoch_ms(time)
    envelope = {
        "id": _event_id(event_type, content, stamp),
        "source": "acs.imm",
        "type": event_type,
        "subject": f"acs:imm:{region}:{account_id or ''}:{project}/{event_type}",
        "time": stamp,
        "content": _canonical(content),
    }
    return _canonical(envelope).encode()


def ice_job_document(job: Mapping[str, Any], *, account_id: str | None, time: datetime) -> bytes:
    """``BatchProduceMediaComplete`` for an ICE batch job in the state ICE reports."""
    body = {
        "Status": job.get("Status", ""),
        "JobId": job.get("JobId", ""),
        "JobType": job.get("JobType", ""),
        "UserData": job.get("UserData", ""),
    }
    return _ice_envelope("BatchProduceMediaComplete", body, account_id, time)


def ice_subjob_document(
    subjob: Mapping[str, Any], *, master_job_id: str, account_id: str | None, time: datetime
) -> bytes:
    """``ProduceMediaComplete`` for one sub-job of a batch job (``SubJobList`` item)."""
    keys = ("Status", "JobId", "MediaId", "MediaURL", "ProjectId", "ErrorCode", "ErrorMessage")
    body = {key: subjob.get(key, "") for key in keys} | {"MasterJobId": master_job_id}
    return _ice_envelope("ProduceMediaComplete", body, account_id, time)


def _ice_envelope(
    event_type: str, body: dict[str, Any], account_id: str | None, time: datetime
) -> bytes:
    stamp = format_time(time)
    envelope: dict[str, Any] = {"EventType": event_type, "EventTime": stamp}
    if account_id:
        envelope["UserId"] = account_id
    envelope["MessageBody"] = body
    envelope = {"id": _event_id(envelope), **envelope}
    return _canonical(envelope).encode()
