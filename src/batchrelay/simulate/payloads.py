"""Wire shapes: one :class:`SimEvent` as the bytes a service would send.

- IMM over MNS (queue body or topic message): the envelope ``{id, source, type, subject,
  time, content}`` with ``time`` in epoch milliseconds as a string and ``content`` a JSON
  *string* (protocols.md §1.1).
- IMM over EventBridge: a structured CloudEvent 1.0, ``data`` an object, ``time`` RFC 3339
  at +08:00 and the ``aliyun*`` extensions (§2.1).
- ICE, by HTTP callback or on an ``ice-callback-*`` MNS queue: ``{EventType, UserId,
  EventTime, MessageBody}`` (§5.3).

Bodies are compact UTF-8 JSON (one line each, so ``--dry-run`` output is JSON lines) with
keys in the order the published samples use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from batchrelay.simulate.model import SimEvent, epoch_ms, format_utc

Wire = Literal["mns", "eventbridge", "ice"]

CHINA = timezone(timedelta(hours=8))
# EventBridge fills this with the address of the node that took the event in.
PUBLISH_ADDRESS = "10.0.12.34"


def encode(event: SimEvent, wire: Wire) -> bytes:
    """``event`` in the shape ``wire`` carries; ``ValueError`` if that wire cannot."""
    if wire == "mns":
        return imm_mns_body(event) if event.service == "imm" else ice_body(event)
    if wire == "eventbridge":
        return imm_cloudevent(event)
    return ice_body(event)


def imm_mns_body(event: SimEvent) -> bytes:
    _require(event, "imm", "the IMM envelope")
    return dumps(
        {
            "id": event.event_id,
            "source": "acs.imm",
            "type": event.type,
            "subject": f"acs:imm:{event.region}:{event.account_id}:{event.project}/{event.type}",
            "time": str(epoch_ms(event.time)),
            "content": _compact(event.body),
        }
    )


def imm_cloudevent(event: SimEvent) -> bytes:
    _require(event, "imm", "an EventBridge CloudEvent")
    return dumps(
        {
            "specversion": "1.0",
            "id": event.event_id,
            "source": "acs.imm",
            "type": event.type,
            "subject": f"acs.imm:{event.region}:{event.account_id}:{event.project}",
            "time": rfc3339_china(event.time),
            "datacontenttype": "application/json;charset=utf-8",
            "aliyunaccountid": event.account_id,
            "aliyunpublishtime": format_utc(event.published),
            "aliyuneventbusname": "default",
            "aliyunregionid": event.region,
            "aliyunpublishaddr": PUBLISH_ADDRESS,
            "data": event.body,
        }
    )


def ice_body(event: SimEvent) -> bytes:
    _require(event, "ice", "the ICE envelope")
    return dumps(
        {
            "EventType": event.type,
            "UserId": int(event.account_id),
            "EventTime": event.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "MessageBody": event.body,
        }
    )


def rfc3339_china(value: datetime) -> str:
    """``2026-11-20T11:30:02.517+08:00``: EventBridge's zone, milliseconds kept."""
    return value.astimezone(CHINA).isoformat(timespec="milliseconds")


def dumps(value: Any) -> bytes:
    return _compact(value).encode("utf-8")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _require(event: SimEvent, service: str, shape: str) -> None:
    if event.service != service:
        raise ValueError(f"a {event.service} event ({event.type}) cannot be sent as {shape}")
