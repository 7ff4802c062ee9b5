"""Wire shapes: the same structure as the published samples, byte for byte where it matters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat

from batchrelay.simulate import SimEvent, TrafficSpec, encode, generate
from batchrelay.simulate.payloads import Wire

from .conftest import START

pytestmark = pytest.mark.timeout(10)

SAMPLES = Path(__file__).parents[1] / "fixtures" / "samples"
TRAFFIC = generate(TrafficSpec(START, kind="mixed", batches=6, tasks=5, failure_ratio=0.4, seed=8))


def sample(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return result


def first(predicate: Any) -> SimEvent:
    return next(e for e in TRAFFIC.events if predicate(e))


def imm_task(status: str) -> SimEvent:
    return first(lambda e: e.type.startswith("imm:Task:") and e.body["Status"] == status)


def test_imm_mns_envelope_matches_the_sample() -> None:
    for event, name in (
        (imm_task("Succeeded"), "imm-task-mns-queue.json"),
        (first(lambda e: e.type == "imm:Batch:Notification"), "imm-batch-notification.json"),
    ):
        body, expected = json.loads(encode(event, "mns")), sample(name)
        assert list(body) == list(expected)  # same keys, same order
        assert isinstance(body["content"], str)
        content = json.loads(body["content"])
        assert list(content) == list(json.loads(expected["content"]))
        assert body["time"].isdigit() and len(body["time"]) == 13
        assert int(body["time"]) == int(event.time.timestamp() * 1000)
        assert (
            body["subject"] == f"acs:imm:cn-shanghai:1234567890123456:{event.project}/{event.type}"
        )


def test_trigger_envelope_uses_the_trigger_type() -> None:
    event = first(lambda e: e.type == "imm:Trigger:Notification")
    content = json.loads(json.loads(encode(event, "mns"))["content"])
    assert content["Id"].startswith("trigger-")


def test_eventbridge_cloudevent_matches_the_sample_and_validates() -> None:
    event = imm_task("Failed")
    raw = encode(event, "eventbridge")
    body, expected = json.loads(raw), sample("imm-task-eventbridge.json")
    assert list(body) == list(expected)
    assert set(expected["data"]) <= set(body["data"]) and isinstance(body["data"], dict)
    assert body["specversion"] == "1.0" and body["time"].endswith("+08:00")
    assert datetime.fromisoformat(body["time"]) == event.time
    assert datetime.fromisoformat(body["aliyunpublishtime"]) >= event.time
    parsed = JSONFormat().read(None, raw)  # the CloudEvents SDK accepts it as a v1.0 event
    assert parsed.get_id() == event.event_id and parsed.get_data() == event.body


def test_ice_envelopes_match_the_samples() -> None:
    for event_type, name in (
        ("ProduceMediaComplete", "ice-produce-media-complete.json"),
        ("BatchProduceMediaComplete", "ice-batch-produce-media-complete.json"),
    ):
        event = first(lambda e, t=event_type: e.type == t)
        body, expected = json.loads(encode(event, "ice")), sample(name)
        assert list(body) == list(expected)
        assert list(body["MessageBody"]) == list(expected["MessageBody"])
        assert isinstance(body["UserId"], int) and body["EventTime"].endswith("Z")
        assert encode(event, "mns") == encode(event, "ice")  # ICE writes the same to MNS


def test_bodies_are_single_line_utf8_json() -> None:
    for event in TRAFFIC.events:
        raw = encode(event, "mns")
        assert b"\n" not in raw and json.loads(raw.decode("utf-8"))


def test_a_wire_refuses_the_other_service() -> None:
    ice = first(lambda e: e.service == "ice")
    with pytest.raises(ValueError, match="cannot be sent as an EventBridge CloudEvent"):
        encode(ice, "eventbridge")
    with pytest.raises(ValueError, match="ICE envelope"):
        encode(imm_task("Running"), "ice")


def test_batchrelay_attributes_every_simulated_event_to_its_batch() -> None:
    from batchrelay.events import decode, parse

    for event in TRAFFIC.events:
        wire: Wire
        wire, ingress = (
            ("eventbridge", "eventbridge") if event.service == "imm" else ("ice", "ice-http")
        )
        for raw, way in ((encode(event, wire), ingress), (encode(event, "mns"), "mns-queue")):
            (document,) = decode.decode_each(raw, way, {})
            parsed = parse.parse(document, way)
            assert parsed.batch_key == event.batch_key
            assert abs(parsed.time - event.time) < timedelta(milliseconds=1)
