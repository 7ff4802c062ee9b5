"""The services' side of simulated traffic: the batch objects IMM and ICE would show in their
APIs, registered in the emulator as the notifications about them go out (or are lost).

:func:`snapshots` is pure: for each event that changes a batch it gives the whole object as
the service's API returns it at that moment — the IMM ``DataIngestion`` of a batch or
trigger notification; for ICE the ``EditingBatchJob`` with every sub-job in the status it
had then (``Processing`` until its ``ProduceMediaComplete``, ``Finished`` with the batch
event). Each snapshot carries its order (event time in epoch ms, position in the stream),
and the emulator keeps the newest one per batch, so sending concurrently, shuffled or twice
leaves it with the final state.

:class:`Registrar` sends them to the emulator's ``batchrelay-emulator`` actions through the
official OpenAPI client, signed like every IMM call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
from darabonba.runtime import RuntimeOptions

from batchrelay.simulate.model import SimEvent, epoch_ms, format_utc_seconds
from batchrelay.simulate.targets import Counts, Target

EMULATOR_VERSION = "batchrelay-emulator"
_BATCH_TYPES = {"imm:Batch:Notification": "batch", "imm:Trigger:Notification": "trigger"}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One object to register: ``PutBatch`` (IMM) or ``PutBatchMediaProducingJob`` (ICE)."""

    action: Literal["PutBatch", "PutBatchMediaProducingJob"]
    body: dict[str, Any]

    @property
    def key(self) -> str:
        obj = self.body["Object"]
        return str(obj.get("Id") or obj.get("JobId"))


def snapshots(events: Sequence[SimEvent]) -> dict[str, Snapshot]:
    """Event id -> the object its batch had right after it (events that change nothing,
    like IMM task events, have none)."""
    found: dict[str, Snapshot] = {}
    ice_jobs: dict[str, list[tuple[int, SimEvent]]] = {}
    for index, event in enumerate(events):
        if event.service == "imm":
            kind = _BATCH_TYPES.get(event.type)
            if kind is not None:
                found[event.event_id] = _imm_snapshot(event, kind, index)
        else:
            ice_jobs.setdefault(event.batch_key, []).append((index, event))
    for job_events in ice_jobs.values():
        found |= _ice_snapshots(job_events)
    return found


def _imm_snapshot(event: SimEvent, kind: str, index: int) -> Snapshot:
    obj = {k: v for k, v in event.body.items() if k != "ProjectName"}
    body = {"ProjectName": event.project, "Kind": kind, "Object": obj,
            "Order": [epoch_ms(event.time), index]}  # fmt: skip
    return Snapshot("PutBatch", body)


def _ice_snapshots(job_events: list[tuple[int, SimEvent]]) -> dict[str, Snapshot]:
    """Every snapshot of one ICE batch job, its events in stream order."""
    subjobs = [e for _, e in job_events if e.type == "ProduceMediaComplete"]
    created = min(e.time for _, e in job_events)
    done: dict[str, SimEvent] = {}
    found = {}
    for index, event in job_events:
        finished = event.type == "BatchProduceMediaComplete"
        if not finished:
            done[event.body["JobId"]] = event
        job: dict[str, Any] = {
            "JobId": event.batch_key,
            "JobType": "Script",
            "Status": "Finished" if finished else "Processing",
            "UserData": _user_data(job_events),
            "CreateTime": format_utc_seconds(created),
            "ModifiedTime": format_utc_seconds(event.time),
            "SubJobList": [_subjob(s, done.get(s.body["JobId"])) for s in subjobs],
        }
        if finished:
            job["CompleteTime"] = format_utc_seconds(event.time)
        body = {"Object": job, "Order": [epoch_ms(event.time), index]}
        found[event.event_id] = Snapshot("PutBatchMediaProducingJob", body)
    return found


def _user_data(job_events: Iterable[tuple[int, SimEvent]]) -> str:
    for _, event in job_events:
        if event.type == "BatchProduceMediaComplete":
            return str(event.body.get("UserData", ""))
    return ""


def _subjob(planned: SimEvent, done: SimEvent | None) -> dict[str, Any]:
    body = planned.body
    status = "Processing"
    if done is not None:
        status = "Success" if body["Status"] == "Success" else "Failed"
    finished = done is not None
    return {
        "JobId": body["JobId"],
        "Status": status,
        "ProjectId": body["ProjectId"],
        "MediaId": body["MediaId"] if finished else "",
        "MediaURL": body["MediaURL"] if finished else "",
        "ErrorCode": body["ErrorCode"] if finished else "",
        "ErrorMessage": body["ErrorMessage"] if finished else "",
    }


class Registrar:
    """Registers snapshots in an emulator; counts what it registered and what failed."""

    def __init__(self, url: str, access_key_id: str, access_key_secret: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        credential = CredentialClient(
            CredentialConfig(type="access_key", access_key_id=access_key_id,
                             access_key_secret=access_key_secret)
        )  # fmt: skip
        config = Config(
            credential=credential, endpoint=parts.netloc, protocol=parts.scheme,
            region_id="cn-hangzhou", connect_timeout=5000, read_timeout=10000,
        )  # fmt: skip
        self._client = OpenApiClient(config)
        self.registered = 0
        self.failed: dict[str, int] = {}

    async def register(self, items: Iterable[Snapshot]) -> None:
        for item in items:
            try:
                await self._client.call_api_async(_params(item.action), OpenApiRequest(
                    body=item.body), RuntimeOptions())  # fmt: skip
            except Exception as exc:  # the SDK's tree; a failure is counted, not fatal
                code = str(getattr(exc, "code", "") or type(exc).__name__)
                self.failed[code] = self.failed.get(code, 0) + 1
            else:
                self.registered += 1


def _params(action: str) -> Params:
    return Params(action=action, version=EMULATOR_VERSION, protocol="HTTP", pathname="/",
                  method="POST", auth_type="AK", style="RPC", req_body_type="json",
                  body_type="json")  # fmt: skip


def by_body(bodies: Mapping[str, bytes], found: Mapping[str, Snapshot]) -> dict[bytes, Snapshot]:
    """Snapshots keyed by the bytes that carry their event (what a target sees)."""
    return {bodies[event_id]: snap for event_id, snap in found.items() if event_id in bodies}


class Registering:
    """Wraps a target: registers what each body's event did to its batch, then sends the
    body unless it is one of the ``lost`` (a lost notification still happened)."""

    def __init__(
        self,
        registrar: Registrar | None,
        found: Mapping[bytes, Snapshot],
        lost: frozenset[bytes],
    ) -> None:
        self.registrar, self.found, self.lost = registrar, found, lost

    def around(self, target: Target) -> Target:
        return _RegisteringTarget(self, target)


class _RegisteringTarget:
    def __init__(self, registering: Registering, inner: Target) -> None:
        self.registering, self.inner = registering, inner
        self.name, self.chunk_size = inner.name, inner.chunk_size

    async def send(self, bodies: Sequence[bytes]) -> Counts:
        how = self.registering
        if how.registrar is not None:
            await how.registrar.register(how.found[b] for b in bodies if b in how.found)
        kept = [body for body in bodies if body not in how.lost]
        counts = await self.inner.send(kept) if kept else Counts()
        return counts + Counts(lost=len(bodies) - len(kept))

    async def aclose(self) -> None:
        await self.inner.aclose()
