"""Typed events and the normalized view.

``decode`` turns bytes into a :class:`Document`; ``parse`` turns a document into one of the
frozen models below (a discriminated union on ``kind``). Every event exposes the same flat
*normalized view* (:meth:`EventBase.normalized`): routing patterns, alert rules, templates,
the API and ``batchrelay parse`` all speak its key names, so they are a public contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Kind = Literal["task", "batch", "trigger", "filemeta", "ice_job", "ice_batch", "unknown"]
Status = Literal["ready", "running", "succeeded", "failed", "suspended", "finished", "unknown"]
Ingress = Literal["mns-queue", "mns-push", "eventbridge", "ice-http", "replay", "reconcile"]

#: Statuses after which a task or batch does not change without a user action.
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "finished"})
#: What batchrelay's own views add to ``kind`` and ``status``: alert notices and
#: completion digests (``alerts/notices.py``), routed like events.
NOTICE_KINDS: tuple[str, ...] = ("alert", "digest")
ALERT_STATUSES: tuple[str, ...] = ("firing", "resolved")

#: The keys of the normalized view, in the order ``batchrelay parse`` prints them.
NORMALIZED_KEYS: tuple[str, ...] = (
    "event_id", "source", "type", "kind", "time", "account_id", "region", "project",
    "batch_key", "task_id", "task_type", "object_path", "status", "raw_status", "code",
    "message", "statistic", "phase", "tags", "user_data", "ingress", "files", "data",
)  # fmt: skip

#: How many failed files a metadata-index event's view lists by name (all are counted).
MAX_LISTED_FILES = 10


DocumentFormat = Literal["imm_envelope", "imm_content", "cloudevent", "ice", "json", "text"]


@dataclass(frozen=True, slots=True)
class Document:
    """What ``decode`` found once every transport wrapper was taken off.

    ``format`` names the innermost shape: ``imm_envelope`` ({id, source, type, subject,
    time, content}), ``imm_content`` (bare IMM content), ``cloudevent`` (EventBridge),
    ``ice`` ({EventType, UserId, EventTime, MessageBody}), ``json`` (any other object) or
    ``text`` (an MNS message that is none of those; ``payload`` is ``{"text": …}``).
    ``attributes`` holds the envelope fields (CloudEvents attributes and extensions, the IMM
    envelope minus ``content``, the ICE envelope minus ``MessageBody``); ``payload`` is the
    service's own object (IMM content, CloudEvent ``data``, ICE ``MessageBody``).
    ``layers`` records the unwrapping path, outermost first, for logs and quarantine.
    """

    format: DocumentFormat
    attributes: dict[str, Any]
    payload: dict[str, Any]
    layers: tuple[str, ...] = ()
    transport: dict[str, str] = field(default_factory=dict)  # e.g. MNS MessageId, topic name


_VIEW_FIELDS = set(NORMALIZED_KEYS) - {"files"}  # ``files`` is a summary, not the field


class Statistic(BaseModel):
    """IMM batch/trigger ``Statistic``: a cumulative snapshot, never to be summed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submit_success: int = 0
    submit_failure: int = 0
    skip_files: int = 0


class EventBase(BaseModel):
    """Fields every event has; see the normalized view in the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    source: str
    type: str
    time: datetime  # timezone-aware UTC
    ingress: Ingress
    account_id: str | None = None
    region: str | None = None
    project: str | None = None
    batch_key: str | None = None
    task_id: str | None = None
    task_type: str | None = None
    object_path: str | None = None  # the source object a task worked on (Sources[0].URI)
    status: Status = "unknown"
    raw_status: str = ""
    code: str = ""
    message: str = ""
    statistic: Statistic | None = None
    phase: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    user_data: str = ""
    data: dict[str, Any] = Field(default_factory=dict)

    def normalized(self) -> dict[str, Any]:
        """The flat public view: JSON-ready, keys as in :data:`NORMALIZED_KEYS`."""
        view = self.model_dump(mode="json", include=_VIEW_FIELDS)
        view["kind"] = getattr(self, "kind", "unknown")
        view["time"] = format_time(self.time)
        return {key: view.get(key) for key in NORMALIZED_KEYS}


class ImmTaskEvent(EventBase):
    """A per-file IMM task (``imm:Task:*``), including tasks a batch or trigger started."""

    kind: Literal["task"] = "task"


class ImmBatchEvent(EventBase):
    """An IMM batch or trigger notification (``imm:Batch:Notification``, ``imm:Trigger:…``)."""

    kind: Literal["batch", "trigger"] = "batch"
    actions: list[dict[str, Any]] = Field(default_factory=list)
    error: str = ""
    create_time: datetime | None = None
    update_time: datetime | None = None


class FileResult(BaseModel):
    """One file of a metadata-index message: failed when ``error`` is not empty.

    ``code`` is the bracketed word that opens the error (``[InvalidArgument] File does not
    exist.`` → ``InvalidArgument``), ``message`` the rest.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    error: str = ""
    code: str = ""
    message: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)


class ImmFileMetaEvent(EventBase):
    """IMM metadata indexing (``IndexFileMeta``, ``BatchIndexFileMeta``): one result per file.

    Its view's ``files`` sums them up: ``total``, ``succeeded``, ``failed``, failures by
    ``codes`` and the first :data:`MAX_LISTED_FILES` ``failed_files`` (uri, code, message).
    """

    kind: Literal["filemeta"] = "filemeta"
    success: bool | None = None
    files: list[FileResult] = Field(default_factory=list)

    def normalized(self) -> dict[str, Any]:
        view = super().normalized()
        view["files"] = self.file_summary()
        return view

    def file_summary(self) -> dict[str, Any]:
        failed = [f for f in self.files if f.failed]
        codes: dict[str, int] = {}
        for file in failed:
            codes[file.code] = codes.get(file.code, 0) + 1
        return {
            "total": len(self.files),
            "succeeded": len(self.files) - len(failed),
            "failed": len(failed),
            "codes": codes,
            "failed_files": [
                {"uri": f.uri, "code": f.code, "message": f.message}
                for f in failed[:MAX_LISTED_FILES]
            ],
        }


class IceJobEvent(EventBase):
    """ICE ``ProduceMediaComplete``: one editing job, or one sub-job of a batch job."""

    kind: Literal["ice_job"] = "ice_job"
    media_url: str = ""
    media_id: str = ""


class IceBatchJobEvent(EventBase):
    """ICE ``BatchProduceMediaComplete``: a batch media producing job finished."""

    kind: Literal["ice_batch"] = "ice_batch"


class UnknownEvent(EventBase):
    """Well-formed but unrecognised: journaled and routable, never rejected."""

    kind: Literal["unknown"] = "unknown"


Event = Annotated[
    ImmTaskEvent | ImmBatchEvent | ImmFileMetaEvent | IceJobEvent | IceBatchJobEvent | UnknownEvent,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, milliseconds kept: ``2026-11-20T03:12:19.800Z``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
