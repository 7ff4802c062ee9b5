from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchrelay.errors import InputError, InputReason, ParseError
from batchrelay.events.decode import decode, decode_each
from batchrelay.events.models import (
    EVENT_ADAPTER,
    NORMALIZED_KEYS,
    Document,
    Event,
    FileResult,
    IceBatchJobEvent,
    IceJobEvent,
    ImmBatchEvent,
    ImmFileMetaEvent,
    ImmTaskEvent,
    Statistic,
    UnknownEvent,
)
from batchrelay.events.parse import normalize_status, parse

from .conftest import (
    CAPTURES,
    PROPERTY,
    SAMPLE_NAMES,
    b64,
    batch_content,
    binary_headers,
    cloudevent,
    dumps,
    ice_envelope,
    imm_envelope,
    mns_json,
    mns_xml,
    sample_bytes,
    task_content,
)

RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def event_of(raw: bytes, headers: dict[str, str] | None = None, **options: Any) -> Event:
    [document] = decode(raw, "replay", headers)
    return parse(document, "replay", received_at=RECEIVED, **options)


def doc(payload: dict[str, Any], format: Any = "json", **attributes: Any) -> Document:
    return Document(format=format, attributes=attributes, payload=payload)


# -- the samples ------------------------------------------------------------------------

SAMPLE_VIEWS: dict[str, dict[str, Any]] = {
    "imm-task-mns-queue.json": {
        "event_id": "1A2b3C4d5E6f7G8h9I0j",
        "source": "acs.imm",
        "type": "imm:Task:MediaConvert",
        "kind": "task",
        "time": "2026-11-20T03:12:19.800Z",
        "account_id": "1234567890123456",
        "region": "cn-shanghai",
        "project": "media-prod",
        "batch_key": "batch-7c1d2e3f-0a1b-4c2d-8e9f-001122334455",
        "task_id": "MediaConvert-0b9e8d7c-6a5b-4c3d-9e2f-aabbccddeeff",
        "task_type": "MediaConvert",
        "object_path": "oss://media-in/raw/clip-0001.mov",
        "status": "succeeded",
        "raw_status": "Succeeded",
        "code": "",
        "message": "",
        "statistic": None,
        "phase": "",
        "tags": {},
        "user_data": '{"batch_id":"batch-7c1d2e3f-0a1b-4c2d-8e9f-001122334455"}',
        "ingress": "replay",
    },
    "imm-batch-notification.json": {
        "event_id": "9Zy8Xw7Vu6Ts5Rq4Po3N",
        "type": "imm:Batch:Notification",
        "kind": "batch",
        "time": "2026-11-20T03:31:10.000Z",
        "project": "docs-prod",
        "batch_key": "batch-2f3e4d5c-6b7a-4890-a1b2-c3d4e5f60718",
        "status": "running",
        "raw_status": "Running",
        "statistic": {"submit_success": 1180, "submit_failure": 14, "skip_files": 6},
        "phase": "IncrementalScanning",
        "tags": {"team": "legal-archive"},
    },
    "imm-task-eventbridge.json": {
        "event_id": "a7f3c9e1-2b4d-4f6a-8c0e-113355779900",
        "type": "imm:Task:OfficeConversion",
        "kind": "task",
        "time": "2026-11-20T03:30:02.000Z",
        "account_id": "1234567890123456",
        "region": "cn-shanghai",
        "project": "docs-prod",
        "batch_key": "batch-2f3e4d5c-6b7a-4890-a1b2-c3d4e5f60718",
        "object_path": "oss://docs-in/contracts/2026/q4-0042.docx",
        "status": "failed",
        "raw_status": "Failed",
        "code": "InvalidFile.Corrupted",
        "message": "The source document is damaged and cannot be opened.",
    },
    "mns-push-xml.xml": {
        "event_id": "1A2b3C4d5E6f7G8h9I0j",
        "kind": "task",
        "time": "2026-11-20T03:12:19.800Z",
        "batch_key": "batch-7c1d2e3f-0a1b-4c2d-8e9f-001122334455",
    },
    "ice-produce-media-complete.json": {
        "source": "acs.ice",
        "type": "ice:ProduceMediaComplete",
        "kind": "ice_job",
        "time": "2026-11-20T05:41:09.000Z",
        "account_id": "1234567890123456",
        "project": "c0ffee00112233445566778899aabbcc",
        "batch_key": "f00dfeed00112233445566778899aabb",
        "task_id": "deadbeef00112233445566778899aabb",
        "object_path": None,
        "status": "failed",
        "raw_status": "Fail",
        "code": "InvalidParameter.Timeline",
        "message": "The timeline references a clip that does not exist.",
    },
    "ice-batch-produce-media-complete.json": {
        "source": "acs.ice",
        "type": "ice:BatchProduceMediaComplete",
        "kind": "ice_batch",
        "time": "2026-11-20T06:02:44.000Z",
        "account_id": "1234567890123456",
        "batch_key": "f00dfeed00112233445566778899aabb",
        "task_id": None,
        "status": "finished",
        "raw_status": "Finished",
    },
}


def test_every_sample_has_an_expected_view() -> None:
    assert sorted(SAMPLE_VIEWS) == SAMPLE_NAMES


@pytest.mark.parametrize("name", sorted(SAMPLE_VIEWS))
def test_samples_parse(name: str) -> None:
    view = event_of(sample_bytes(name)).normalized()
    assert list(view) == list(NORMALIZED_KEYS)
    assert {key: view[key] for key in SAMPLE_VIEWS[name]} == SAMPLE_VIEWS[name]
    assert view["data"]


def test_the_same_task_by_queue_and_by_push_is_the_same_event() -> None:
    queued = event_of(sample_bytes("imm-task-mns-queue.json"))
    pushed = event_of(sample_bytes("mns-push-xml.xml"))
    assert queued == pushed


def test_events_round_trip_through_the_union() -> None:
    for name in SAMPLE_NAMES:
        event = event_of(sample_bytes(name))
        assert EVENT_ADAPTER.validate_python(event.model_dump()) == event


# -- dispatch ---------------------------------------------------------------------------


def case(raw: bytes, model: type[Any], kind: str, headers: Any = None, *, id: str) -> Any:
    return pytest.param(raw, model, kind, headers, id=id)


DISPATCH: list[Any] = [
    case(dumps(imm_envelope()), ImmTaskEvent, "task", id="envelope-task"),
    case(dumps(imm_envelope(type="imm:Task:AsyncTask")), ImmTaskEvent, "task", id="async-task"),
    case(
        dumps(imm_envelope(batch_content(), type="imm:Batch:Notification")),
        ImmBatchEvent,
        "batch",
        id="envelope-batch",
    ),
    case(
        dumps(imm_envelope(batch_content(Id="trigger-1"), type="imm:Trigger:Notification")),
        ImmBatchEvent,
        "trigger",
        id="envelope-trigger",
    ),
    case(
        dumps(imm_envelope({"Success": True, "Files": []}, type="imm:FileMeta:BatchIndex")),
        ImmFileMetaEvent,
        "filemeta",
        id="envelope-filemeta",
    ),
    case(
        dumps(imm_envelope({"Exif": {}}, type="imm:Engine:Exif")),
        UnknownEvent,
        "unknown",
        id="envelope-engine",
    ),
    case(dumps(cloudevent()), ImmTaskEvent, "task", id="cloudevent-task"),
    case(
        dumps(cloudevent(batch_content(), type="imm:Batch:Notification")),
        ImmBatchEvent,
        "batch",
        id="cloudevent-batch",
    ),
    case(
        dumps(cloudevent({"a": 1}, source="acs.oss", type="oss:ObjectCreated:PutObject")),
        UnknownEvent,
        "unknown",
        id="cloudevent-other-service",
    ),
    case(dumps(task_content()), ImmTaskEvent, "task", binary_headers(), id="cloudevent-binary"),
    case(dumps(task_content()), ImmTaskEvent, "task", id="bare-task"),
    case(dumps(batch_content()), ImmBatchEvent, "batch", id="bare-batch"),
    case(dumps(batch_content(Id="trigger-9")), ImmBatchEvent, "trigger", id="bare-trigger"),
    case(
        dumps({"ProjectName": "p", "Success": True, "Files": [{"URI": "oss://b/o"}]}),
        ImmFileMetaEvent,
        "filemeta",
        id="bare-filemeta",
    ),
    case(dumps({"ProjectName": "p"}), UnknownEvent, "unknown", id="bare-other"),
    case(dumps(ice_envelope()), IceJobEvent, "ice_job", id="ice-job"),
    case(
        dumps(ice_envelope("BatchProduceMediaComplete", Status="Finished")),
        IceBatchJobEvent,
        "ice_batch",
        id="ice-batch",
    ),
    case(dumps(ice_envelope("FileUploadComplete")), UnknownEvent, "unknown", id="ice-other"),
    case(dumps({"anything": ["at", "all"]}), UnknownEvent, "unknown", id="json"),
]


@pytest.mark.parametrize(("raw", "model", "kind", "headers"), DISPATCH)
def test_dispatch(raw: bytes, model: type[Any], kind: str, headers: Any) -> None:
    event = event_of(raw, headers)
    assert type(event) is model
    assert event.normalized()["kind"] == kind


@pytest.mark.parametrize(
    ("content", "event_type"),
    [
        (task_content(), "imm:Task:MediaConvert"),
        (task_content(TaskType="FaceClustering"), "imm:Task:FigureClustering"),
        (task_content(TaskType="PointCloudCompress"), "imm:Task:PointCloudCompression"),
        (task_content(TaskType=""), "imm:Task"),
        (batch_content(), "imm:Batch:Notification"),
        (batch_content(Id="trigger-1"), "imm:Trigger:Notification"),
        ({"ProjectName": "p", "Success": False, "Files": []}, "imm:FileMeta"),
    ],
)
def test_bare_content_gets_the_eventbridge_type(content: dict[str, Any], event_type: str) -> None:
    event = event_of(dumps(content))
    assert (event.source, event.type) == ("acs.imm", event_type)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Succeeded", "succeeded"),
        ("Success", "succeeded"),
        ("success", "succeeded"),  # VOD spells it in lower case
        ("Failed", "failed"),
        ("Fail", "failed"),
        ("Running", "running"),
        ("Processing", "running"),
        ("Ready", "ready"),
        ("Init", "ready"),
        ("Suspended", "suspended"),
        ("Finished", "finished"),
        ("Cancelled", "unknown"),
        ("", "unknown"),
    ],
)
def test_status_normalization(raw: str, expected: str) -> None:
    assert normalize_status(raw) == expected
    event = event_of(dumps(task_content(Status=raw)))
    assert (event.status, event.raw_status) == (expected, raw)


def test_batch_state_wins_over_status() -> None:
    event = event_of(dumps(batch_content(State="Suspended", Status="Running")))
    assert (event.status, event.raw_status) == ("suspended", "Suspended")


# -- time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(dumps(imm_envelope()), "2026-11-20T03:12:19.800Z", id="envelope-epoch-ms"),
        pytest.param(
            dumps(cloudevent(time="2020-11-19T21:04:42.179PRC")),
            "2020-11-19T13:04:42.179Z",
            id="cloudevent-prc",
        ),
        pytest.param(
            dumps(cloudevent(time="2020-08-17T16:04:46.149Asia/Shanghai")),
            "2020-08-17T08:04:46.149Z",
            id="cloudevent-asia-shanghai",
        ),
        pytest.param(
            dumps(task_content(EndTime="2023-01-04T13:17:00.270148129+08:00")),
            "2023-01-04T05:17:00.270Z",
            id="bare-end-time-nanoseconds",
        ),
        pytest.param(
            dumps(task_content(EndTime="", StartTime="2023-01-04T13:17:00.270148129+08:00")),
            "2023-01-04T05:17:00.270Z",
            id="bare-start-time-while-running",
        ),
        pytest.param(dumps(batch_content()), "2026-11-20T03:31:10.000Z", id="bare-batch-update"),
        pytest.param(dumps(ice_envelope()), "2026-11-20T05:41:09.000Z", id="ice-event-time"),
        pytest.param(
            mns_json(dumps({"ProjectName": "p"}), PublishTime="1795144340012"),
            "2026-11-20T03:12:20.012Z",
            id="mns-publish-time",
        ),
        pytest.param(dumps({"ProjectName": "p"}), "2026-11-20T12:00:00.000Z", id="received-at"),
    ],
)
def test_event_time(raw: bytes, expected: str) -> None:
    assert event_of(raw).normalized()["time"] == expected


def test_without_any_time_now_is_used() -> None:
    [document] = decode(dumps({"ProjectName": "p"}), "replay")
    before = datetime.now(UTC)
    assert parse(document, "replay").time >= before


# -- identity ---------------------------------------------------------------------------


def test_ice_redelivery_by_another_path_has_the_same_id() -> None:
    envelope = ice_envelope()
    by_http = event_of(dumps(envelope))
    stringified = {**envelope, "MessageBody": json.dumps(envelope["MessageBody"])}
    by_queue = event_of(b64(dumps(stringified)))
    assert by_http.event_id == by_queue.event_id
    assert by_http.event_id.startswith("sha256:")
    assert event_of(dumps(ice_envelope(Status="Fail"))).event_id != by_http.event_id


def test_bare_content_id_ignores_key_order_and_transport() -> None:
    content = task_content()
    reordered = dict(reversed(list(content.items())))
    ids = {
        event_of(dumps(content)).event_id,
        event_of(dumps(reordered)).event_id,
        event_of(mns_xml(dumps(content))).event_id,
    }
    assert len(ids) == 1


# -- location ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            dumps(imm_envelope(task_content(ProjectName=None))),
            ("1234567890123456", "cn-shanghai", "media-prod"),
            id="mns-subject",
        ),
        pytest.param(
            dumps(
                cloudevent(
                    task_content(ProjectName=None),
                    aliyunaccountid=None,
                    aliyunregionid=None,
                    subject="acs.imm:cn-hangzhou:123456789098****:215672",
                )
            ),
            ("123456789098****", "cn-hangzhou", "215672"),
            id="cloudevent-subject",
        ),
        pytest.param(
            dumps(cloudevent(subject=None, aliyunregionid="cn-beijing")),
            ("1234567890123456", "cn-beijing", "media-prod"),
            id="cloudevent-extensions",
        ),
        pytest.param(
            dumps(imm_envelope(subject="")), (None, None, "media-prod"), id="empty-subject"
        ),
        pytest.param(
            dumps(ice_envelope()), ("1234567890123456", None, "project-1"), id="ice-user-id"
        ),
    ],
)
def test_location(raw: bytes, expected: tuple[str | None, ...]) -> None:
    event = event_of(raw)
    assert (event.account_id, event.region, event.project) == expected


# -- fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (task_content(), "oss://media-in/raw/clip-0001.mov"),
        (task_content(Sources=[]), None),
        (task_content(Sources=[{"URI": ""}], URI="oss://b/uri"), "oss://b/uri"),
        (task_content(Sources=None, SourceURI="oss://b/source"), "oss://b/source"),
        (task_content(Sources=None, Input="oss://b/input"), "oss://b/input"),
        (task_content(Sources=None, Input={"URI": "oss://b/in"}), "oss://b/in"),
        (batch_content(), None),  # a batch's Input is a bucket and prefix, not one object
    ],
)
def test_object_path(content: dict[str, Any], expected: str | None) -> None:
    assert event_of(dumps(content)).object_path == expected


def test_ice_media_url_is_output_not_object_path() -> None:
    event = event_of(dumps(ice_envelope()))
    assert isinstance(event, IceJobEvent)
    assert event.object_path is None
    assert (event.media_url, event.media_id) == (
        "https://bucket.oss-cn-shanghai.aliyuncs.com/out.mp4",
        "media-1",
    )


def test_batch_fields() -> None:
    event = event_of(dumps(batch_content(State="Failed", Error="api returns error: 404")))
    assert isinstance(event, ImmBatchEvent)
    assert event.statistic == Statistic(submit_success=1180, submit_failure=14, skip_files=6)
    assert event.actions == [{"Name": "doc/convert", "Parameters": ["target=pdf"]}]
    assert (event.error, event.message) == ("api returns error: 404", "api returns error: 404")
    assert event.create_time == datetime(2026, 11, 20, 2, tzinfo=UTC)
    assert event.update_time == datetime(2026, 11, 20, 3, 31, 10, tzinfo=UTC)
    assert event.status == "failed"


def test_statistic_missing_counts_are_zero() -> None:
    event = event_of(dumps(batch_content(Statistic={"SubmitSuccess": 3})))
    assert event.statistic == Statistic(submit_success=3)


def test_filemeta_fields() -> None:
    content = {
        "ProjectName": "p",
        "Success": True,
        "Files": [{"URI": "oss://b/1.jpg", "Error": ""}, {"URI": "oss://b/2.jpg", "Error": "bad"}],
    }
    event = event_of(dumps(imm_envelope(content, type="imm:FileMeta:BatchIndex")))
    assert isinstance(event, ImmFileMetaEvent)
    assert event.success is True and event.status == "succeeded"
    assert event.files == [
        FileResult(uri="oss://b/1.jpg"),
        FileResult(uri="oss://b/2.jpg", error="bad", message="bad"),
    ]
    assert event_of(dumps({**content, "Success": False})).status == "failed"


def test_tags_are_coerced_to_strings() -> None:
    tags = {"s": "x", "n": 3, "f": 1.5, "b": True, "null": None, "o": {"k": [1]}}
    event = event_of(dumps(task_content(Tags=tags)))
    assert event.tags == {"s": "x", "n": "3", "f": "1.5", "b": "true", "null": "", "o": '{"k":[1]}'}


def test_user_data_object_is_kept_as_json_text() -> None:
    event = event_of(dumps(task_content(UserData={"batch_id": "b-1"})))
    assert (event.user_data, event.batch_key) == ('{"batch_id":"b-1"}', "b-1")


def test_unknown_keys_are_tolerated_and_kept_in_data() -> None:
    content = task_content(Brand_New={"x": 1}, Progress=50)
    envelope = imm_envelope(content, extra_attribute="kept")
    event = event_of(dumps(envelope))
    assert event.data["Brand_New"] == {"x": 1}


def test_event_is_frozen() -> None:
    event = event_of(dumps(task_content()))
    with pytest.raises(ValueError, match="frozen"):
        event.status = "failed"  # type: ignore[misc]


# -- malformed known events -------------------------------------------------------------

WRONG: list[Any] = [
    pytest.param(batch_content(Statistic="x"), InputReason.WRONG_TYPE, "Statistic", id="stat"),
    pytest.param(batch_content(Statistic=[1]), InputReason.WRONG_TYPE, "Statistic", id="stat-arr"),
    pytest.param(
        batch_content(Statistic={"SubmitFailure": "3"}),
        InputReason.WRONG_TYPE,
        "Statistic.SubmitFailure",
        id="count-string",
    ),
    pytest.param(
        batch_content(Statistic={"SubmitSuccess": 1.5}),
        InputReason.WRONG_TYPE,
        "Statistic.SubmitSuccess",
        id="count-float",
    ),
    pytest.param(
        batch_content(Statistic={"SkipFiles": -1}),
        InputReason.WRONG_TYPE,
        "Statistic.SkipFiles",
        id="count-negative",
    ),
    pytest.param(
        batch_content(Statistic={"SkipFiles": True}),
        InputReason.WRONG_TYPE,
        "Statistic.SkipFiles",
        id="count-boolean",
    ),
    pytest.param(
        batch_content(Statistic={"SubmitSuccess": 10**30}),
        InputReason.WRONG_TYPE,
        "Statistic.SubmitSuccess",
        id="count-huge",
    ),
    pytest.param(task_content(Tags=["a"]), InputReason.WRONG_TYPE, "Tags", id="tags"),
    pytest.param(task_content(Status=5), InputReason.WRONG_TYPE, "Status", id="status"),
    pytest.param(batch_content(State={"x": 1}), InputReason.WRONG_TYPE, "State", id="state"),
    pytest.param(task_content(Code=[]), InputReason.WRONG_TYPE, "Code", id="code"),
    pytest.param(task_content(Message=1), InputReason.WRONG_TYPE, "Message", id="message"),
    pytest.param(task_content(TaskId={}), InputReason.WRONG_TYPE, "TaskId", id="task-id"),
    pytest.param(task_content(ProjectName=1), InputReason.WRONG_TYPE, "ProjectName", id="proj"),
    pytest.param(task_content(UserData=5), InputReason.WRONG_TYPE, "UserData", id="user-data"),
    pytest.param(task_content(Phase=5), InputReason.WRONG_TYPE, "Phase", id="phase"),
    pytest.param(task_content(Sources="x"), InputReason.WRONG_TYPE, "Sources", id="sources"),
    pytest.param(task_content(Sources=["x"]), InputReason.WRONG_TYPE, "Sources[0]", id="src0"),
    pytest.param(
        task_content(Sources=[{"URI": 5}]), InputReason.WRONG_TYPE, "Sources[0].URI", id="uri"
    ),
    pytest.param(task_content(EndTime="soon"), InputReason.BAD_TIME, "EndTime", id="end-time"),
    pytest.param(task_content(EndTime={}), InputReason.WRONG_TYPE, "EndTime", id="time-object"),
    pytest.param(task_content(EndTime=True), InputReason.WRONG_TYPE, "EndTime", id="time-bool"),
    pytest.param(
        task_content(EndTime=10**30), InputReason.BAD_TIME, "EndTime", id="time-huge-number"
    ),
    pytest.param(
        batch_content(UpdateTime="2026-02-30T00:00:00Z"),
        InputReason.BAD_TIME,
        "UpdateTime",
        id="update-time",
    ),
    pytest.param(
        batch_content(CreateTime="later"), InputReason.BAD_TIME, "CreateTime", id="create-time"
    ),
    pytest.param(batch_content(Actions={}), InputReason.WRONG_TYPE, "Actions", id="actions"),
    pytest.param(batch_content(Error=404), InputReason.WRONG_TYPE, "Error", id="error"),
    pytest.param(
        {"ProjectName": "p", "Success": "yes"}, InputReason.WRONG_TYPE, "Success", id="success"
    ),
    pytest.param({"ProjectName": "p", "Files": {}}, InputReason.WRONG_TYPE, "Files", id="files"),
    pytest.param({"ProjectName": "p", "Files": [3]}, InputReason.WRONG_TYPE, "Files[0]", id="file"),
    pytest.param(
        {"ProjectName": "p", "Files": [{"Error": ""}]},
        InputReason.MISSING_FIELD,
        "Files[0].URI",
        id="file-uri",
    ),
]


@pytest.mark.parametrize(("content", "reason", "field"), WRONG)
def test_malformed_known_events(content: dict[str, Any], reason: InputReason, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        event_of(dumps(content))
    assert caught.value.reason is reason
    assert caught.value.detail.startswith(field)
    assert len(caught.value.detail) < 100


@pytest.mark.parametrize(
    ("raw", "reason", "field"),
    [
        pytest.param(
            dumps(imm_envelope(time="soon")), InputReason.BAD_TIME, "time", id="envelope-time"
        ),
        pytest.param(
            dumps(cloudevent(time="2020-11-19T21:04:42.179XYZ")),
            InputReason.BAD_TIME,
            "time",
            id="cloudevent-time",
        ),
        pytest.param(
            dumps({**ice_envelope(), "EventTime": "at noon"}),
            InputReason.BAD_TIME,
            "EventTime",
            id="ice-time",
        ),
        pytest.param(
            dumps({**ice_envelope(), "UserId": {"id": 1}}),
            InputReason.WRONG_TYPE,
            "UserId",
            id="ice-user-id",
        ),
        pytest.param(
            dumps(ice_envelope(ErrorCode=7)), InputReason.WRONG_TYPE, "ErrorCode", id="ice-code"
        ),
        pytest.param(
            dumps(ice_envelope(MediaURL=[])), InputReason.WRONG_TYPE, "MediaURL", id="ice-url"
        ),
    ],
)
def test_malformed_envelopes(raw: bytes, reason: InputReason, field: str) -> None:
    with pytest.raises(ParseError) as caught:
        event_of(raw)
    assert caught.value.reason is reason
    assert caught.value.detail.startswith(field)


def test_unknown_events_are_never_rejected() -> None:
    content = {"Status": 5, "Tags": "x", "Statistic": "y", "EndTime": "soon"}
    event = event_of(dumps(imm_envelope(content, type="imm:Engine:Tag", time="")))
    assert isinstance(event, UnknownEvent)
    assert (event.type, event.time, event.data) == ("imm:Engine:Tag", RECEIVED, content)
    assert event.event_id == "1A2b3C4d5E6f7G8h9I0j"


def test_unknown_json_keeps_source_and_type_it_names() -> None:
    event = event_of(dumps({"source": "my.app", "type": "custom:Thing", "n": 1}))
    assert (event.kind, event.source, event.type) == ("unknown", "my.app", "custom:Thing")


# -- properties -------------------------------------------------------------------------

PAYLOAD_KEYS = [
    "TaskId", "TaskType", "Status", "State", "Id", "Statistic", "Tags", "UserData",
    "EndTime", "StartTime", "UpdateTime", "CreateTime", "Sources", "Files", "Success",
    "Actions", "Error", "Code", "Message", "ProjectName", "Phase", "EventSourceId", "JobId",
]  # fmt: skip
LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
) | st.text(max_size=12)
VALUES = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["URI", "Error", "SubmitSuccess", "x"]), children, max_size=3
        )
    ),
    max_leaves=10,
)
PAYLOADS = st.dictionaries(st.sampled_from(PAYLOAD_KEYS), VALUES, max_size=8)
ENVELOPES = st.sampled_from(
    ["bare", "imm:Task:X", "imm:Batch:Notification", "imm:FileMeta:Index", "ice", "ce"]
)


def wrap(shape: str, payload: dict[str, Any]) -> bytes:
    if shape == "bare":
        return dumps(payload)
    if shape == "ice":
        return dumps({**ice_envelope(), "MessageBody": payload})
    if shape == "ce":
        return dumps(cloudevent(payload))
    return dumps(imm_envelope(payload, type=shape))


@PROPERTY
@given(ENVELOPES, PAYLOADS)
def test_random_payloads_parse_or_raise_input_errors(shape: str, payload: dict[str, Any]) -> None:
    try:
        results = decode_each(wrap(shape, payload), "replay")
    except InputError:
        return
    for result in results:
        if isinstance(result, Document):
            try:
                event = parse(result, "replay", received_at=RECEIVED)
            except InputError:
                continue
            assert list(event.normalized()) == list(NORMALIZED_KEYS)


def test_documents_built_by_hand_parse() -> None:
    event = parse(doc({"TaskId": "t", "Status": "Running"}, "imm_content"), "replay")
    assert (event.kind, event.task_id, event.status) == ("task", "t", "running")


# -- what a shared topic carries (protocols.md §3.7) ------------------------------------


def parsed(raw: bytes, ingress: Any = "mns-push", headers: dict[str, str] | None = None) -> Event:
    [document] = decode(raw, ingress, headers)
    return parse(document, ingress, received_at=RECEIVED)


def test_a_text_message_is_an_unknown_event_keeping_its_text() -> None:
    event = parsed(mns_xml("Message is here."))
    assert isinstance(event, UnknownEvent)
    view = event.normalized()
    assert (view["kind"], view["source"], view["type"]) == ("unknown", "acs.mns", "mns:Message")
    assert view["data"] == {"text": "Message is here."}
    assert view["time"] == "2026-11-20T03:12:20.012Z"  # the wrapper's PublishTime
    assert view["event_id"] == "mns:7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000001"


def test_a_simplified_text_push_takes_its_time_and_id_from_headers() -> None:
    headers = {"x-mns-message-id": "AC10020B", "x-mns-publish-time": "1730368640272"}
    view = parsed(b"mock mns message", headers=headers).normalized()
    assert (view["event_id"], view["time"]) == ("mns:AC10020B", "2024-10-31T09:57:20.272Z")


def test_the_same_text_published_twice_is_two_events() -> None:
    first = parsed(mns_xml("ping", MessageId="M-1"))
    second = parsed(mns_xml("ping", MessageId="M-2"))
    assert first.event_id != second.event_id
    assert parsed(mns_json("ping", MessageId="M-1")).event_id == first.event_id


def test_an_oss_event_on_a_shared_topic_is_named_and_timed_by_itself() -> None:
    oss = (CAPTURES / "oss-object-created.json").read_bytes()
    view = parsed(mns_xml(b64(oss))).normalized()
    assert (view["kind"], view["source"], view["type"]) == (
        "unknown",
        "acs.oss",
        "oss:ObjectCreated:PutObject",
    )
    assert view["time"] == "2024-03-12T08:41:09.000Z"


@pytest.mark.parametrize(
    ("payload", "time"),
    [
        ({"EventTime": "2024-05-01T10:00:00Z"}, "2024-05-01T10:00:00.000Z"),
        ({"eventTime": "2024-05-01T10:00:01Z"}, "2024-05-01T10:00:01.000Z"),
        ({"PublishTime": 1714557602000}, "2024-05-01T10:00:02.000Z"),
        ({"publishTime": "1714557603000"}, "2024-05-01T10:00:03.000Z"),
        ({"time": "2024-05-01T18:00:04+08:00"}, "2024-05-01T10:00:04.000Z"),
        ({"time": "soon", "eventTime": "2024-05-01T10:00:05Z"}, "2024-05-01T10:00:05.000Z"),
        ({"note": "no time at all"}, "2026-11-20T12:00:00.000Z"),
    ],
)
def test_unknown_events_take_their_time_from_the_payload(
    payload: dict[str, Any], time: str
) -> None:
    view = parse(doc(payload), "mns-queue", received_at=RECEIVED).normalized()
    assert (view["kind"], view["time"]) == ("unknown", time)


def test_an_unknown_event_prefers_its_own_time_to_the_publish_time() -> None:
    message = dumps({"service": "mps", "EventTime": "2024-05-01T10:00:00Z"})
    assert parsed(mns_xml(message)).normalized()["time"] == "2024-05-01T10:00:00.000Z"


def test_index_file_meta_with_a_failed_file_is_failed_with_its_code() -> None:
    content = json.loads((CAPTURES / "imm-index-file-meta-error.json").read_bytes())
    event = parsed(dumps(imm_envelope(content, type="imm:FileMeta:Index")), "mns-queue")
    assert isinstance(event, ImmFileMetaEvent) and event.success is True
    view = event.normalized()
    assert (view["status"], view["code"], view["message"]) == (
        "failed",
        "InvalidArgument",
        "File does not exist.",
    )
    assert view["files"] == {
        "total": 1,
        "succeeded": 0,
        "failed": 1,
        "codes": {"InvalidArgument": 1},
        "failed_files": [
            {"uri": "oss://abcxxx", "code": "InvalidArgument", "message": "File does not exist."}
        ],
    }
    # bare content, as a queue subscribed to the project receives it
    assert parsed(dumps(content), "mns-queue").normalized()["status"] == "failed"


def test_batch_index_file_meta_succeeds_but_names_its_failed_files() -> None:
    content = json.loads((CAPTURES / "imm-batch-index-file-meta.json").read_bytes())
    view = parsed(dumps(content), "mns-queue").normalized()
    assert (view["kind"], view["status"], view["code"]) == ("filemeta", "succeeded", "")
    assert view["files"]["total"] == 2 and view["files"]["failed"] == 1
    assert view["files"]["codes"] == {"InvalidArgument": 1}
    assert view["files"]["failed_files"][0]["uri"] == "oss://test-bucket/test-object-2"


def test_metadata_index_results_every_way() -> None:
    def status(success: Any, *errors: str, message: str = "") -> tuple[str, str, str]:
        files = [{"URI": f"oss://b/{n}", "Error": e} for n, e in enumerate(errors)]
        payload = {"ProjectName": "p", "Success": success, "Message": message, "Files": files}
        view = parse(doc(payload, "imm_content"), "mns-queue").normalized()
        return view["status"], view["code"], view["message"]

    assert status(True, "", "") == ("succeeded", "", "")
    assert status(True, "[A] x", "[B] y") == ("failed", "A", "x")
    assert status(True, "disk on fire") == ("failed", "", "disk on fire")
    assert status(False, message="[InternalError] try again") == (
        "failed",
        "InternalError",
        "try again",
    )
    assert status(True) == ("succeeded", "", "")


def test_views_of_other_events_have_no_file_summary() -> None:
    assert event_of(sample_bytes("imm-task-mns-queue.json")).normalized()["files"] is None
