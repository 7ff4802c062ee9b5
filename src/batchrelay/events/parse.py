"""Documents to typed events. Pure, no I/O.

:func:`parse` picks the model from the document: the IMM ``type`` prefix (envelope or
CloudEvent), the shape of bare IMM content, or the ICE ``EventType``. Anything
well-formed that none of those names becomes an :class:`UnknownEvent`, never an error.

For the events it recognises, a field of the wrong JSON type (``Statistic`` not an
object, a count that is not an integer, ``Status`` not a string, …) raises
:class:`~batchrelay.errors.ParseError` whose detail names the field: such a message is
quarantined rather than half-understood. Unknown keys are ignored everywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from batchrelay.errors import InputReason, ParseError
from batchrelay.events.batchkey import BatchKeyConfig, extract_batch_key
from batchrelay.events.models import (
    Document,
    Event,
    FileResult,
    IceBatchJobEvent,
    IceJobEvent,
    ImmBatchEvent,
    ImmFileMetaEvent,
    ImmTaskEvent,
    Ingress,
    Kind,
    Statistic,
    Status,
    UnknownEvent,
)
from batchrelay.events.payload_fields import MAX_COUNT, as_text, ident, loose_text, text, wrong_type
from batchrelay.events.timefmt import parse_time

__all__ = ["normalize_status", "parse"]

_DEFAULT_BATCH_KEYS = BatchKeyConfig()


_IMM_KINDS: tuple[tuple[str, Kind], ...] = (
    ("imm:Task:", "task"),
    ("imm:Batch:", "batch"),
    ("imm:Trigger:", "trigger"),
    ("imm:FileMeta:", "filemeta"),
)
_ICE_KINDS: dict[str, Kind] = {
    "ProduceMediaComplete": "ice_job",
    "BatchProduceMediaComplete": "ice_batch",
}
# TaskType values whose EventBridge event type is spelled differently (protocols §1.4).
_TASK_EVENT_NAMES = {
    "FaceClustering": "FigureClustering",
    "PointCloudCompress": "PointCloudCompression",
}

_STATUSES: dict[str, Status] = {
    "succeeded": "succeeded",
    "success": "succeeded",
    "failed": "failed",
    "fail": "failed",
    "running": "running",
    "processing": "running",
    "ready": "ready",
    "init": "ready",
    "suspended": "suspended",
    "finished": "finished",
}
# Where the event time comes from, first found wins (design.md, "The normalized view").
_ATTRIBUTE_TIMES = ("time", "EventTime")
_BRACKETED_CODE = re.compile(r"\s*\[(?P<code>[^\[\]\s]+)\]\s*(?P<message>.*)", re.DOTALL)
_PAYLOAD_TIMES = ("EndTime", "StartTime", "UpdateTime", "CreateTime")
# Another service's JSON names its time in its own way; the MNS PublishTime comes after.
_UNKNOWN_PAYLOAD_TIMES = ("EventTime", "eventTime", "PublishTime", "publishTime", "time",
                          *_PAYLOAD_TIMES)  # fmt: skip


def parse(
    doc: Document,
    ingress: Ingress,
    *,
    batch_keys: BatchKeyConfig | None = None,
    received_at: datetime | None = None,
) -> Event:
    """The typed event for ``doc``; :class:`ParseError` if a known event is malformed.

    ``received_at`` is the event time of last resort (no envelope, payload or MNS time);
    without it the current time is used.
    """
    kind, source, event_type = _classify(doc)
    fallback_time = received_at or datetime.now(UTC)
    try:
        fields = _fields(doc, kind, batch_keys or _DEFAULT_BATCH_KEYS, fallback_time)
    except ParseError:
        if kind != "unknown":
            raise
        # An unknown event is never rejected: keep what can be trusted, drop the rest.
        fields = {"time": _event_time(doc, kind, fallback_time), "data": doc.payload}
    fields |= {"event_id": _event_id(doc), "source": source, "type": event_type}
    return _build(kind, fields, ingress)


def normalize_status(raw: str) -> Status:
    """The normalized status for a service's own word (``Success`` → ``succeeded``)."""
    return _STATUSES.get(raw.lower(), "unknown")


# -- what is it -------------------------------------------------------------------------


def _classify(doc: Document) -> tuple[Kind, str, str]:
    """``(kind, source, type)`` from the envelope, or from the payload's shape."""
    if doc.format == "text":
        return "unknown", "acs.mns", "mns:Message"
    if doc.format == "ice":
        event_type = loose_text(doc.attributes.get("EventType"))
        return _ICE_KINDS.get(event_type, "unknown"), "acs.ice", f"ice:{event_type}"
    if doc.format == "imm_content":
        return _classify_imm_content(doc.payload)
    if doc.format == "json":
        return ("unknown", *_foreign_names(doc.payload))
    # Envelopes name themselves.
    source, event_type = (loose_text(doc.attributes.get(k)) for k in ("source", "type"))
    if not event_type.startswith("imm:"):
        return "unknown", source, event_type
    kind = _imm_kind(event_type)
    return kind, source or "acs.imm", event_type


def _foreign_names(payload: Mapping[str, Any]) -> tuple[str, str]:
    """``(source, type)`` of another service's JSON: its own ``source``/``type``, or those of
    an OSS event notification (``{"events": [{"eventSource": "acs:oss", …}]}``)."""
    source, event_type = (loose_text(payload.get(k)) for k in ("source", "type"))
    first = _first_oss_event(payload)
    if not (source or event_type) and first is not None:
        origin = loose_text(first.get("eventSource"))  # "acs:oss"
        service = origin.rpartition(":")[2]
        name = loose_text(first.get("eventName"))
        return origin.replace(":", "."), f"{service}:{name}" if service and name else name
    return source, event_type


def _first_oss_event(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    events = payload.get("events")
    if isinstance(events, list) and events and isinstance(events[0], dict):
        first: Mapping[str, Any] = events[0]
        return first
    return None


def _imm_kind(event_type: str) -> Kind:
    for prefix, kind in _IMM_KINDS:
        if event_type.startswith(prefix):
            return kind
    return "unknown"


def _classify_imm_content(payload: Mapping[str, Any]) -> tuple[Kind, str, str]:
    # Bare content has no type: give it the one EventBridge would, so patterns match.
    if "TaskId" in payload or "TaskType" in payload:
        task_type = loose_text(payload.get("TaskType"))
        name = _TASK_EVENT_NAMES.get(task_type, task_type)
        return "task", "acs.imm", f"imm:Task:{name}" if name else "imm:Task"
    if "Id" in payload and ("State" in payload or "Statistic" in payload):
        if loose_text(payload.get("Id")).startswith("trigger-"):
            return "trigger", "acs.imm", "imm:Trigger:Notification"
        return "batch", "acs.imm", "imm:Batch:Notification"
    if "Files" in payload or "Success" in payload:
        return "filemeta", "acs.imm", "imm:FileMeta"
    return "unknown", "acs.imm", ""


# -- the fields -------------------------------------------------------------------------


def _fields(
    doc: Document, kind: Kind, batch_keys: BatchKeyConfig, fallback_time: datetime
) -> dict[str, Any]:
    payload = doc.payload
    tags = _tags(payload)
    user_data = _user_data(payload)
    fields: dict[str, Any] = {
        "time": _event_time(doc, kind, fallback_time),
        **_location(doc),
        "task_id": ident(payload, "TaskId"),
        "task_type": text(payload, "TaskType") or None,
        "object_path": _object_path(payload),
        **_status(payload, kind),
        "code": text(payload, "Code"),
        "message": text(payload, "Message"),
        "statistic": _statistic(payload),
        "phase": text(payload, "Phase"),
        "tags": tags,
        "user_data": user_data,
        "data": payload,
    }
    fields |= _KIND_FIELDS.get(kind, _no_fields)(payload)
    fields["batch_key"] = extract_batch_key(
        batch_keys, kind=kind, payload=payload, tags=tags, user_data=user_data
    )
    return fields


def _no_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _batch_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    error = text(payload, "Error")
    fields: dict[str, Any] = {
        "actions": _actions(payload),
        "error": error,
        "create_time": _optional_time(payload, "CreateTime"),
        "update_time": _optional_time(payload, "UpdateTime"),
    }
    if error and not text(payload, "Message"):
        fields["message"] = error
    return fields


def _filemeta_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``Success`` at the top can sit beside files that failed (``protocols.md`` §3.7): a
    file with an ``Error`` failed. The event failed when ``Success`` is false or no file
    passed; when some passed (``BatchIndexFileMeta``) it succeeded, and its view's ``files``
    names the failures."""
    success = payload.get("Success")
    if success is not None and not isinstance(success, bool):
        raise wrong_type("Success", "a boolean", success)
    files = _files(payload)
    failed = [f for f in files if f.failed]
    fields: dict[str, Any] = {"success": success, "files": files}
    if success is False or (files and len(failed) == len(files)):
        first = failed[0] if failed else None
        code, message = (
            _bracketed(text(payload, "Message")) if first is None else (first.code, first.message)
        )
        fields |= {"status": "failed", "code": code, "message": message}
    elif success is not None or files:
        fields["status"] = "succeeded"
    return fields


def _bracketed(error: str) -> tuple[str, str]:
    """``("InvalidArgument", "File does not exist.")`` from ``"[InvalidArgument] File does
    not exist."``; an error without the bracketed code is all message."""
    match = _BRACKETED_CODE.match(error)
    if match is None:
        return "", error.strip()
    return match["code"], match["message"]


def _ice_job_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    # A sub-job is the ICE counterpart of a per-file IMM task: its JobId is the task id.
    return {
        **_ice_common_fields(payload),
        "task_id": ident(payload, "JobId"),
        "media_url": text(payload, "MediaURL"),
        "media_id": text(payload, "MediaId"),
    }


def _ice_common_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"code": text(payload, "ErrorCode"), "message": text(payload, "ErrorMessage")}


_KIND_FIELDS = {
    "batch": _batch_fields,
    "trigger": _batch_fields,
    "filemeta": _filemeta_fields,
    "ice_job": _ice_job_fields,
    "ice_batch": _ice_common_fields,
}


def _status(payload: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    # Batches and triggers report ``State``; tasks and ICE jobs ``Status``.
    key = "State" if kind in ("batch", "trigger") and "State" in payload else "Status"
    raw = text(payload, key)
    return {"raw_status": raw, "status": normalize_status(raw)}


def _location(doc: Document) -> dict[str, str | None]:
    """``account_id``, ``region`` and ``project``: extensions, subject, then the payload."""
    attributes, payload = doc.attributes, doc.payload
    region, account, project = _subject_parts(attributes.get("subject"))
    account = (
        loose_text(attributes.get("aliyunaccountid"))
        or account
        or ident(attributes, "UserId")
        or None
    )
    region = loose_text(attributes.get("aliyunregionid")) or region
    project = text(payload, "ProjectName") or project or ident(payload, "ProjectId")
    return {"account_id": account, "region": region, "project": project}


def _subject_parts(subject: Any) -> tuple[str | None, str | None, str | None]:
    """``(region, account, project)`` from ``acs:imm:{region}:{uid}:{project}/{type}`` or
    the CloudEvent form ``acs.imm:{region}:{uid}:{project}``."""
    if not isinstance(subject, str) or not subject.startswith("acs"):
        return None, None, None
    parts = subject.partition("/")[0].split(":")
    if parts[0] == "acs":  # "acs", "imm", region, ...
        parts = parts[1:]
    parts = (parts[1:] + [""] * 3)[:3]
    region, account, project = (part or None for part in parts)
    return region, account, project


def _object_path(payload: Mapping[str, Any]) -> str | None:
    """The source object: ``Sources[0].URI``, else a top-level URI-like field."""
    sources = payload.get("Sources")
    if sources is not None and not isinstance(sources, list):
        raise wrong_type("Sources", "an array", sources)
    if sources:
        if not isinstance(sources[0], dict):
            raise wrong_type("Sources[0]", "an object", sources[0])
        uri = text(sources[0], "URI", "Sources[0].")
        if uri:
            return uri
    for key in ("SourceURI", "URI", "Input"):
        value = payload.get(key)
        if isinstance(value, dict):
            value = value.get("URI")
        if isinstance(value, str) and value:
            return value
    return None


def _statistic(payload: Mapping[str, Any]) -> Statistic | None:
    raw = payload.get("Statistic")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise wrong_type("Statistic", "an object", raw)
    return Statistic(
        submit_success=_count(raw, "SubmitSuccess"),
        submit_failure=_count(raw, "SubmitFailure"),
        skip_files=_count(raw, "SkipFiles"),
    )


def _count(statistic: Mapping[str, Any], key: str) -> int:
    value = statistic.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise wrong_type(f"Statistic.{key}", "a non-negative 64-bit integer", value)
    return value


def _tags(payload: Mapping[str, Any]) -> dict[str, str]:
    raw = payload.get("Tags")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise wrong_type("Tags", "an object", raw)
    return {key: as_text(value) for key, value in raw.items()}


def _user_data(payload: Mapping[str, Any]) -> str:
    value = payload.get("UserData")
    if isinstance(value, dict | list):  # tolerate a sender that did not stringify it
        return as_text(value)
    return text(payload, "UserData")


def _actions(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    actions = payload.get("Actions")
    if actions is None:
        return []
    if not isinstance(actions, list) or not all(isinstance(item, dict) for item in actions):
        raise wrong_type("Actions", "an array of objects", actions)
    return actions


def _files(payload: Mapping[str, Any]) -> list[FileResult]:
    files = payload.get("Files")
    if files is None:
        return []
    if not isinstance(files, list):
        raise wrong_type("Files", "an array", files)
    return [_file_result(item, index) for index, item in enumerate(files)]


def _file_result(item: Any, index: int) -> FileResult:
    where = f"Files[{index}]"
    if not isinstance(item, dict):
        raise wrong_type(where, "an object", item)
    uri = text(item, "URI", f"{where}.")
    if not uri:
        raise ParseError(InputReason.MISSING_FIELD, f"{where}.URI is missing")
    error = text(item, "Error", f"{where}.")
    code, message = _bracketed(error)
    return FileResult(uri=uri, error=error, code=code, message=message)


# -- identity and time ------------------------------------------------------------------


def _event_id(doc: Document) -> str:
    """The envelope's ``id``; else a hash of the content, so redeliveries share an id.

    A text message has no content worth hashing ("ping" is published many times): its MNS
    ``MessageId``, the same on every redelivery and every subscription, names it.
    """
    given = loose_text(doc.attributes.get("id"))
    if given:
        return given
    if doc.format == "text" and doc.transport.get("MessageId"):
        return "mns:" + doc.transport["MessageId"]
    canonical = json.dumps(
        [doc.attributes, doc.payload],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _event_time(doc: Document, kind: Kind, fallback: datetime) -> datetime:
    """The first time the document carries (see :func:`_time_candidates`), else ``fallback``
    (the receive time). A known event whose time does not parse is malformed; an unknown
    one takes the next time that does."""
    for field, value in _time_candidates(doc, kind):
        if kind != "unknown":
            return _time_of(value, field)
        try:
            return _time_of(value, field)
        except ParseError:
            continue
    return fallback


def _time_candidates(doc: Document, kind: Kind) -> Iterator[tuple[str, Any]]:
    payload_keys = _UNKNOWN_PAYLOAD_TIMES if kind == "unknown" else _PAYLOAD_TIMES
    for where, keys in ((doc.attributes, _ATTRIBUTE_TIMES), (doc.payload, payload_keys)):
        for key in keys:
            if _has_value(where.get(key)):
                yield key, where[key]
    first = _first_oss_event(doc.payload) if kind == "unknown" else None
    if first is not None and _has_value(first.get("eventTime")):
        yield "events[0].eventTime", first["eventTime"]
    if doc.transport.get("PublishTime"):
        yield "PublishTime", doc.transport["PublishTime"]


def _optional_time(payload: Mapping[str, Any], key: str) -> datetime | None:
    value = payload.get(key)
    return _time_of(value, key) if _has_value(value) else None


def _time_of(value: Any, field: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise wrong_type(field, "a time string or number", value)
    try:
        return parse_time(value)
    except ValueError as error:
        raise ParseError(InputReason.BAD_TIME, f"{field}: {error}") from None


def _has_value(value: Any) -> bool:
    return value is not None and value != ""


# -- the model --------------------------------------------------------------------------

_MODELS: dict[Kind, type[Any]] = {
    "task": ImmTaskEvent,
    "batch": ImmBatchEvent,
    "trigger": ImmBatchEvent,
    "filemeta": ImmFileMetaEvent,
    "ice_job": IceJobEvent,
    "ice_batch": IceBatchJobEvent,
    "unknown": UnknownEvent,
}


def _build(kind: Kind, fields: dict[str, Any], ingress: Ingress) -> Event:
    model = _MODELS[kind]
    if model is ImmBatchEvent:
        fields["kind"] = kind
    fields["ingress"] = ingress
    try:
        event: Event = model.model_validate(fields)
    except ValidationError as error:
        # The readers above check every field; this is the backstop, kept short.
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ParseError(InputReason.WRONG_TYPE, f"{where}: {first['msg']}") from None
    return event
