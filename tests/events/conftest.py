"""Builders for notification bodies in every shape batchrelay receives.

Plain functions, so that parametrize tables can call them at collection time; the test
modules import them with ``from .conftest import …``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, settings

from batchrelay.events.decode import decode
from batchrelay.events.models import Document

SAMPLES = Path(__file__).parents[1] / "fixtures" / "samples"
CAPTURES = Path(__file__).parents[1] / "fixtures" / "captures"  # real shapes, protocols §3.7
SHARED_SAMPLES = Path(__file__).parents[2].parent / "shared" / "samples"
SAMPLE_NAMES = sorted(path.name for path in SAMPLES.iterdir() if path.name != "README.md")

# Property tests on a loaded two-core CI machine: no per-example deadline, so a slow
# example is not reported as a flaky failure.
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

MNS_NS = "http://mns.aliyuncs.com/doc/v1/"
SUBJECT = "acs:imm:cn-shanghai:1234567890123456:media-prod/imm:Task:MediaConvert"


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample_json(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(sample_bytes(name))
    return value


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def b64(raw: bytes | str) -> bytes:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.b64encode(data)


# -- IMM ------------------------------------------------------------------------------


def task_content(**overrides: Any) -> dict[str, Any]:
    content: dict[str, Any] = {
        "ProjectName": "media-prod",
        "DatasetName": "",
        "RequestId": "6F0C2B1E-3A4D-4C5E-9F10-1A2B3C4D5E6F",
        "StartTime": "2026-11-20T03:12:07.41Z",
        "EndTime": "2026-11-20T03:12:19.8Z",
        "UserData": "",
        "TaskType": "MediaConvert",
        "TaskId": "MediaConvert-0b9e8d7c",
        "Status": "Succeeded",
        "Code": "",
        "Message": "",
        "EventSourceId": "",
        "Sources": [{"URI": "oss://media-in/raw/clip-0001.mov"}],
        "Targets": [{"URI": "oss://media-out/mp4/clip-0001.mp4"}],
    }
    content.update(overrides)
    return content


def batch_content(**overrides: Any) -> dict[str, Any]:
    content: dict[str, Any] = {
        "ProjectName": "docs-prod",
        "Id": "batch-2f3e4d5c",
        "State": "Running",
        "Phase": "IncrementalScanning",
        "Statistic": {"SubmitSuccess": 1180, "SubmitFailure": 14, "SkipFiles": 6},
        "Actions": [{"Name": "doc/convert", "Parameters": ["target=pdf"]}],
        "Tags": {"team": "legal-archive"},
        "CreateTime": "2026-11-20T02:00:00Z",
        "UpdateTime": "2026-11-20T03:31:10Z",
        "Error": "",
    }
    content.update(overrides)
    return content


def imm_envelope(
    content: dict[str, Any] | str | None = None, *, as_string: bool = True, **overrides: Any
) -> dict[str, Any]:
    """The MNS/RocketMQ envelope; ``content`` double-encoded unless ``as_string=False``."""
    content = task_content() if content is None else content
    if as_string and not isinstance(content, str):
        content = json.dumps(content)
    envelope: dict[str, Any] = {
        "id": "1A2b3C4d5E6f7G8h9I0j",
        "source": "acs.imm",
        "type": "imm:Task:MediaConvert",
        "subject": SUBJECT,
        "time": "1795144339800",
        "content": content,
    }
    envelope.update(overrides)
    return envelope


# -- EventBridge ----------------------------------------------------------------------


def cloudevent(data: Any = None, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "a7f3c9e1-2b4d-4f6a-8c0e-113355779900",
        "source": "acs.imm",
        "type": "imm:Task:MediaConvert",
        "subject": "acs.imm:cn-shanghai:1234567890123456:media-prod",
        "time": "2026-11-20T11:30:02+08:00",
        "datacontenttype": "application/json;charset=utf-8",
        "aliyunaccountid": "1234567890123456",
        "aliyunregionid": "cn-shanghai",
        "data": task_content() if data is None else data,
    }
    event.update(overrides)
    return {key: value for key, value in event.items() if value is not None}


def binary_headers(**overrides: str | None) -> dict[str, str]:
    headers: dict[str, str | None] = {
        "ce-specversion": "1.0",
        "ce-id": "b-1",
        "ce-source": "acs.imm",
        "ce-type": "imm:Task:MediaConvert",
        "ce-time": "2026-11-20T03:30:02Z",
        "ce-aliyunaccountid": "1234567890123456",
        "Content-Type": "application/json",
    }
    headers.update({key.replace("_", "-"): value for key, value in overrides.items()})
    return {key: value for key, value in headers.items() if value is not None}


# -- ICE ------------------------------------------------------------------------------


def ice_envelope(event_type: str = "ProduceMediaComplete", **body: Any) -> dict[str, Any]:
    message_body: dict[str, Any] = {
        "Status": "Success",
        "MediaURL": "https://bucket.oss-cn-shanghai.aliyuncs.com/out.mp4",
        "MediaId": "media-1",
        "ProjectId": "project-1",
        "ErrorCode": "",
        "ErrorMessage": "",
        "JobId": "job-1",
        "UserData": "",
    }
    message_body.update(body)
    return {
        "EventType": event_type,
        "UserId": 1234567890123456,
        "EventTime": "2026-11-20T05:41:09Z",
        "MessageBody": message_body,
    }


# -- MNS topic wrappers ---------------------------------------------------------------

MNS_FACTS = {
    "TopicOwner": "1234567890123456",
    "TopicName": "imm-notify",
    "Subscriber": "1234567890123456",
    "SubscriptionName": "batchrelay-http",
    "MessageId": "7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000001",
    "MessageMD5": "7DF5F3AAFDBE51B8BB4D744510527DB5",
    "PublishTime": "1795144340012",
}


def mns_xml(message: bytes | str, **facts: str) -> bytes:
    fields = {**MNS_FACTS, **facts}
    text = message.decode() if isinstance(message, bytes) else message
    children = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    body = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<Notification xmlns="{MNS_NS}">'
        f"{children}<Message>{escape(text)}</Message></Notification>"
    )
    return body.encode()


def mns_json(message: bytes | str, **facts: str) -> bytes:
    text = message.decode() if isinstance(message, bytes) else message
    return dumps({**MNS_FACTS, **facts, "Message": text})


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def task_envelope_doc() -> Document:
    """The MNS queue task sample, decoded."""
    [document] = decode(sample_bytes("imm-task-mns-queue.json"), "mns-queue")
    return document
