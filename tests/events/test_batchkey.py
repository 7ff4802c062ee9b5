from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from batchrelay.events.batchkey import DEFAULT_EXTRACTORS, BatchKeyConfig, extract_batch_key
from batchrelay.events.decode import decode
from batchrelay.events.models import Kind
from batchrelay.events.parse import parse

from .conftest import dumps, imm_envelope, task_content


def key(
    config: BatchKeyConfig | None = None,
    *,
    kind: Kind = "task",
    payload: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    user_data: str = "",
) -> str | None:
    return extract_batch_key(
        config or BatchKeyConfig(),
        kind=kind,
        payload=payload or {},
        tags=tags or {},
        user_data=user_data,
    )


def test_default_order() -> None:
    assert BatchKeyConfig().extractors == [
        "own_id",
        "event_source_id",
        "tag:batch_id",
        "tag:BatchId",
        "user_data:batch_id",
        "user_data:BatchId",
        "master_job_id",
    ]
    assert tuple(BatchKeyConfig().extractors) == DEFAULT_EXTRACTORS


@pytest.mark.parametrize(
    ("extractor", "kind", "payload", "tags", "user_data", "expected"),
    [
        ("own_id", "batch", {"Id": "batch-1"}, {}, "", "batch-1"),
        ("own_id", "trigger", {"Id": "trigger-1"}, {}, "", "trigger-1"),
        ("own_id", "ice_batch", {"JobId": "job-9"}, {}, "", "job-9"),
        ("own_id", "task", {"Id": "not-a-batch"}, {}, "", None),  # a task's Id is not a batch
        ("own_id", "ice_job", {"JobId": "sub-job"}, {}, "", None),
        ("event_source_id", "task", {"EventSourceId": "batch-2"}, {}, "", "batch-2"),
        ("tag:batch_id", "task", {}, {"batch_id": "b-3"}, "", "b-3"),
        ("tag:BatchId", "task", {}, {"BatchId": "b-4"}, "", "b-4"),
        ("tag:release", "task", {}, {"release": "r-7"}, "", "r-7"),  # any tag name
        ("tag:batch_id", "task", {}, {"BatchId": "b-4"}, "", None),  # names are exact
        ("user_data:batch_id", "task", {}, {}, '{"batch_id": "b-5"}', "b-5"),
        ("user_data:BatchId", "task", {}, {}, '{"BatchId": "b-6"}', "b-6"),
        ("user_data:run", "task", {}, {}, '{"run": "nightly-8"}', "nightly-8"),
        ("user_data:run", "task", {}, {}, '{"run": 42}', "42"),
        ("master_job_id", "ice_job", {"MasterJobId": "master-1"}, {}, "", "master-1"),
    ],
)
def test_each_extractor(
    extractor: str,
    kind: Kind,
    payload: dict[str, Any],
    tags: dict[str, str],
    user_data: str,
    expected: str | None,
) -> None:
    config = BatchKeyConfig(extractors=[extractor])
    assert key(config, kind=kind, payload=payload, tags=tags, user_data=user_data) == expected


def test_first_found_wins_in_configured_order() -> None:
    inputs: dict[str, Any] = {
        "kind": "batch",
        "payload": {"Id": "own", "EventSourceId": "source"},
        "tags": {"batch_id": "tag"},
        "user_data": '{"batch_id": "user"}',
    }
    assert key(**inputs) == "own"
    reversed_order = BatchKeyConfig(extractors=list(reversed(DEFAULT_EXTRACTORS)))
    assert key(reversed_order, **inputs) == "user"
    assert key(BatchKeyConfig(extractors=["tag:batch_id", "own_id"]), **inputs) == "tag"


@pytest.mark.parametrize(
    ("payload", "tags", "user_data"),
    [
        ({"EventSourceId": ""}, {"batch_id": ""}, '{"batch_id": ""}'),
        ({"EventSourceId": "   "}, {"batch_id": " "}, '{"batch_id": "\\t"}'),
        ({"EventSourceId": None}, {}, '{"batch_id": null}'),
        ({"EventSourceId": True}, {}, '{"batch_id": false}'),
        ({"EventSourceId": {"a": 1}}, {}, '{"batch_id": ["x"]}'),
    ],
)
def test_blank_or_unusable_values_never_count(
    payload: dict[str, Any], tags: dict[str, str], user_data: str
) -> None:
    assert key(payload=payload, tags=tags, user_data=user_data) is None
    assert key(payload={**payload, "MasterJobId": "m"}, tags=tags, user_data=user_data) == "m"


@pytest.mark.parametrize(
    "user_data",
    ["", "plain words", "{not json", '["batch_id"]', '"batch_id"', "[" * 10_000, "{" * 10_000],
)
def test_user_data_that_is_not_a_json_object_is_ignored(user_data: str) -> None:
    config = BatchKeyConfig(extractors=["user_data:batch_id"])
    assert key(config, user_data=user_data) is None


def test_no_extractors_means_no_batch() -> None:
    config = BatchKeyConfig(extractors=[])
    assert key(config, kind="batch", payload={"Id": "b"}) is None


@pytest.mark.parametrize("bad", ["own-id", "tag:", "user_data:", "tags:batch_id", "", "Own_Id"])
def test_unknown_extractor_is_a_validation_error_naming_it(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BatchKeyConfig(extractors=["own_id", bad])
    assert repr(bad) in str(caught.value)


def test_config_is_strict_and_frozen() -> None:
    with pytest.raises(ValidationError, match="extra"):
        BatchKeyConfig.model_validate({"extractors": [], "order": []})
    config = BatchKeyConfig()
    with pytest.raises(ValidationError):
        config.extractors = []  # type: ignore[misc]


def test_parse_uses_the_configured_extractors() -> None:
    content = task_content(
        EventSourceId="batch-from-source",
        UserData=json.dumps({"batch_id": "batch-from-user-data"}),
        Tags={"batch_id": "batch-from-tag"},
    )
    [doc] = decode(dumps(imm_envelope(content)), "mns-queue")
    assert parse(doc, "mns-queue").batch_key == "batch-from-source"
    config = BatchKeyConfig(extractors=["user_data:batch_id"])
    assert parse(doc, "mns-queue", batch_keys=config).batch_key == "batch-from-user-data"
    config = BatchKeyConfig(extractors=["tag:batch_id"])
    assert parse(doc, "mns-queue", batch_keys=config).batch_key == "batch-from-tag"
    config = BatchKeyConfig(extractors=["tag:other"])
    assert parse(doc, "mns-queue", batch_keys=config).batch_key is None
