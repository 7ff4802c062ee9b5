from __future__ import annotations

import json
from typing import Any

import pytest
from cloudevents.v1 import exceptions as ce_errors
from cloudevents.v1.http import from_dict as ce_from_dict
from hypothesis import given
from hypothesis import strategies as st

from batchrelay.errors import DecodeError, InputError, InputReason
from batchrelay.events.decode import (
    MAX_JSON_DEPTH,
    MAX_UNWRAP_DEPTH,
    decode,
    decode_each,
    structured_attributes,
)
from batchrelay.events.models import Document, Ingress

from .conftest import (
    CAPTURES,
    PROPERTY,
    SAMPLE_NAMES,
    SAMPLES,
    SHARED_SAMPLES,
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

Headers = dict[str, str] | None
ENVELOPE = dumps(imm_envelope())


def only(raw: bytes, headers: Headers = None) -> Document:
    [document] = decode(raw, "replay", headers)
    return document


# -- the samples ------------------------------------------------------------------------


SAMPLE_CASES = [
    ("ice-batch-produce-media-complete.json", "ice", ("ice",)),
    ("ice-produce-media-complete.json", "ice", ("ice",)),
    ("imm-batch-notification.json", "imm_envelope", ("imm_envelope",)),
    ("imm-task-eventbridge.json", "cloudevent", ("cloudevent",)),
    ("imm-task-mns-queue.json", "imm_envelope", ("imm_envelope",)),
    ("mns-push-xml.xml", "imm_envelope", ("mns_xml", "imm_envelope")),
]


@pytest.mark.parametrize(("name", "format", "layers"), SAMPLE_CASES)
def test_samples_decode(name: str, format: str, layers: tuple[str, ...]) -> None:
    document = only(sample_bytes(name))
    assert (document.format, document.layers) == (format, layers)
    assert document.payload


def test_every_sample_is_covered() -> None:
    decoded_above = [name for name, *_ in SAMPLE_CASES]
    assert sorted(decoded_above) == SAMPLE_NAMES


@pytest.mark.skipif(not SHARED_SAMPLES.is_dir(), reason="no shared/samples beside the repo")
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_copies_match_the_shared_samples(name: str) -> None:
    original = (SHARED_SAMPLES / name).read_bytes()
    assert original == (SAMPLES / name).read_bytes()
    assert decode(original, "mns-push" if name.endswith(".xml") else "replay")


def test_the_xml_sample_carries_the_queue_sample() -> None:
    pushed, queued = (
        only(sample_bytes("mns-push-xml.xml")),
        only(sample_bytes("imm-task-mns-queue.json")),
    )
    assert (pushed.attributes, pushed.payload) == (queued.attributes, queued.payload)
    assert pushed.transport == {
        "MessageId": "7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000001",
        "TopicName": "imm-notify",
        "TopicOwner": "1234567890123456",
        "PublishTime": "1795144340012",
    }


# -- every shape ------------------------------------------------------------------------

SHAPES: list[Any] = [
    pytest.param(ENVELOPE, None, "imm_envelope", ("imm_envelope",), id="envelope-string-content"),
    pytest.param(
        dumps(imm_envelope(as_string=False)),
        None,
        "imm_envelope",
        ("imm_envelope",),
        id="envelope-object-content",
    ),
    pytest.param(dumps(task_content()), None, "imm_content", ("imm_content",), id="bare-task"),
    pytest.param(dumps(batch_content()), None, "imm_content", ("imm_content",), id="bare-batch"),
    pytest.param(b64(ENVELOPE), None, "imm_envelope", ("base64", "imm_envelope"), id="base64"),
    pytest.param(
        b64(ENVELOPE).rstrip(b"="), None, "imm_envelope", ("base64", "imm_envelope"), id="unpadded"
    ),
    pytest.param(
        b"\r\n".join(b64(ENVELOPE)[i : i + 76] for i in range(0, len(b64(ENVELOPE)), 76)),
        None,
        "imm_envelope",
        ("base64", "imm_envelope"),
        id="base64-mime-lines",
    ),
    pytest.param(
        mns_xml(ENVELOPE), None, "imm_envelope", ("mns_xml", "imm_envelope"), id="mns-xml"
    ),
    pytest.param(
        mns_xml(b64(ENVELOPE)),
        None,
        "imm_envelope",
        ("mns_xml", "base64", "imm_envelope"),
        id="mns-xml-base64-message",
    ),
    pytest.param(
        mns_json(ENVELOPE), None, "imm_envelope", ("mns_json", "imm_envelope"), id="mns-json"
    ),
    pytest.param(
        mns_json(b64(ENVELOPE)),
        None,
        "imm_envelope",
        ("mns_json", "base64", "imm_envelope"),
        id="mns-json-base64-message",
    ),
    pytest.param(
        b64(mns_json(b64(ENVELOPE))),
        None,
        "imm_envelope",
        ("base64", "mns_json", "base64", "imm_envelope"),
        id="base64-queue-body-of-topic-json-with-base64-message",
    ),
    pytest.param(
        b64(mns_xml(ENVELOPE)),
        None,
        "imm_envelope",
        ("base64", "mns_xml", "imm_envelope"),
        id="base64-of-mns-xml",
    ),
    pytest.param(
        ENVELOPE,
        {"x-mns-message-id": "M-1", "x-mns-message-tag": "important"},
        "imm_envelope",
        ("imm_envelope",),
        id="mns-simplified",
    ),
    pytest.param(dumps(cloudevent()), None, "cloudevent", ("cloudevent",), id="cloudevent"),
    pytest.param(
        dumps(task_content()),
        binary_headers(),
        "cloudevent",
        ("cloudevent_binary",),
        id="cloudevent-binary",
    ),
    pytest.param(dumps(ice_envelope()), None, "ice", ("ice",), id="ice"),
    pytest.param(
        dumps({**ice_envelope(), "MessageBody": json.dumps(ice_envelope()["MessageBody"])}),
        None,
        "ice",
        ("ice",),
        id="ice-string-body",
    ),
    pytest.param(b64(dumps(ice_envelope())), None, "ice", ("base64", "ice"), id="ice-base64"),
    pytest.param(dumps({"hello": "world"}), None, "json", ("json",), id="other-json-object"),
    pytest.param(b"\xef\xbb\xbf" + ENVELOPE, None, "imm_envelope", ("imm_envelope",), id="bom"),
    pytest.param(
        b"\n  " + ENVELOPE + b"\n", None, "imm_envelope", ("imm_envelope",), id="whitespace"
    ),
    pytest.param(
        dumps({**json.loads(mns_json(ENVELOPE)), "Message": imm_envelope()}),
        None,
        "imm_envelope",
        ("mns_json", "imm_envelope"),
        id="mns-json-object-message",
    ),
]


@pytest.mark.parametrize(("raw", "headers", "format", "layers"), SHAPES)
def test_shapes(raw: bytes, headers: Headers, format: str, layers: tuple[str, ...]) -> None:
    document = only(raw, headers)
    assert document.format == format
    assert document.layers == layers
    assert "ProjectName" in document.payload or "JobId" in document.payload or format == "json"


def test_envelope_content_is_decoded_and_attributes_kept() -> None:
    document = only(ENVELOPE)
    assert document.payload == task_content()
    assert document.attributes == {k: v for k, v in imm_envelope().items() if k != "content"}


def test_empty_envelope_content_is_an_empty_payload() -> None:
    assert only(dumps(imm_envelope(""))).payload == {}
    assert only(dumps({**imm_envelope(), "content": None})).payload == {}


def test_mns_facts_go_to_transport() -> None:
    document = only(mns_xml(b64(ENVELOPE), MessageTag="important"))
    assert document.transport == {
        "MessageId": "7D1B2A3C4E5F6071-1-19A8B7C6D5E-200000001",
        "TopicName": "imm-notify",
        "TopicOwner": "1234567890123456",
        "PublishTime": "1795144340012",
        "MessageTag": "important",
    }
    assert only(mns_json(ENVELOPE)).transport["PublishTime"] == "1795144340012"


def test_simplified_push_takes_facts_from_headers() -> None:
    headers = {"X-MNS-Message-Id": "M-1", "x-mns-message-tag": "t", "Content-Type": "text/plain"}
    assert only(ENVELOPE, headers).transport == {"MessageId": "M-1", "MessageTag": "t"}


def test_simplified_push_takes_every_real_fact_from_headers() -> None:
    headers = {
        "Content-Type": "text/plain;charset=utf-8",
        "x-mns-message-id": "AC10020B0019681A95159E591D100001",
        "x-mns-topic-owner": "1234567890123456",
        "x-mns-topic-name": "HTTP-test",
        "x-mns-publish-time": "1730368640272",
        "x-mns-subscriber": "1234567890123456",
        "x-mns-subscription-name": "sub-test-header",
    }
    [document] = decode(b"Message is here.", "mns-push", headers)
    assert document.transport == {
        "MessageId": "AC10020B0019681A95159E591D100001",
        "TopicOwner": "1234567890123456",
        "TopicName": "HTTP-test",
        "PublishTime": "1730368640272",
    }


# -- a shared topic carries anything (protocols.md §3.7) ---------------------------------

OSS_EVENT = (CAPTURES / "oss-object-created.json").read_bytes()
PLAIN_TEXTS = ["Message is here.", "mock mns message", "Done", "mockmessage", "abcd1234", "1234"]


def text_of(raw: bytes, ingress: Ingress = "mns-queue", headers: Headers = None) -> str:
    [document] = decode(raw, ingress, headers)
    assert document.format == "text", document
    text: str = document.payload["text"]
    return text


@pytest.mark.parametrize("text", PLAIN_TEXTS)
@pytest.mark.parametrize(
    ("wrap", "ingress"),
    [
        pytest.param(mns_xml, "mns-push", id="xml-push"),
        pytest.param(mns_json, "mns-push", id="json-push"),
        pytest.param(mns_xml, "mns-queue", id="xml-topic-to-queue"),
        pytest.param(mns_json, "eventbridge", id="json-wrapper-anywhere"),
        pytest.param(lambda text: text.encode(), "mns-push", id="simplified-push"),
        pytest.param(lambda text: text.encode(), "mns-queue", id="queue-body"),
    ],
)
def test_plain_text_messages_are_text_documents(text: str, wrap: Any, ingress: Ingress) -> None:
    assert text_of(wrap(text), ingress) == text


def test_base64_looking_text_is_text_but_base64_of_json_is_unwrapped() -> None:
    assert text_of(b"Done") == "Done"
    assert text_of(mns_xml("QUJD")) == "QUJD"  # base64 of "ABC": text, not a body
    assert only_as(b64(ENVELOPE), "mns-queue").format == "imm_envelope"
    assert only_as(b64(b64(ENVELOPE)), "mns-queue").layers == ("base64", "base64", "imm_envelope")
    assert only_as(mns_xml(b64(ENVELOPE)), "mns-push").format == "imm_envelope"


def test_json_of_another_service_on_a_shared_topic() -> None:
    document = only_as(mns_xml(b64(OSS_EVENT)), "mns-push")  # OSS publishes base64
    assert (document.format, document.payload["events"][0]["eventSource"]) == ("json", "acs:oss")
    assert text_of(mns_json("[1, 2, 3]"), "mns-push") == "[1, 2, 3]"
    assert text_of(mns_json('"quoted"'), "mns-push") == '"quoted"'
    assert text_of(b"<note>hello</note>", "mns-push") == "<note>hello</note>"


def test_publish_time_may_be_a_number_in_json_pushes() -> None:
    wrapper = {**json.loads(mns_json("x")), "PublishTime": 1449556920975}
    [document] = decode(dumps(wrapper), "mns-push")
    assert document.transport["PublishTime"] == "1449556920975"


def test_elsewhere_text_is_refused_with_the_reason_it_fails() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(b"Message is here.", "eventbridge")
    assert caught.value.reason is InputReason.BAD_JSON
    assert "text, not JSON" in caught.value.detail


def test_damaged_json_or_xml_in_a_message_is_still_quarantined() -> None:
    for raw, reason in [
        (mns_xml('{"id": "truncated'), InputReason.BAD_JSON),
        (mns_json("<Notification><Message>cut"), InputReason.BAD_XML),
        (b'{"id": "truncated", "content": "{\\"Task', InputReason.BAD_JSON),
        (mns_xml("<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"), InputReason.FORBIDDEN_XML),
    ]:
        with pytest.raises(DecodeError) as caught:
            decode(raw, "mns-push")
        assert caught.value.reason is reason, raw


def test_a_nul_in_a_text_message_is_bad_encoding() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(b"ping\x00", "mns-queue")
    assert caught.value.reason is InputReason.BAD_ENCODING


def only_as(raw: bytes, ingress: Ingress) -> Document:
    [document] = decode(raw, ingress)
    return document


def test_ice_envelope_splits_attributes_and_body() -> None:
    document = only(sample_bytes("ice-produce-media-complete.json"))
    assert document.attributes == {
        "EventType": "ProduceMediaComplete",
        "UserId": 1234567890123456,
        "EventTime": "2026-11-20T05:41:09Z",
    }
    assert document.payload["JobId"] == "deadbeef00112233445566778899aabb"


# -- CloudEvents ------------------------------------------------------------------------


def test_structured_cloudevent_attributes_and_data() -> None:
    document = only(sample_bytes("imm-task-eventbridge.json"))
    assert document.attributes["aliyunregionid"] == "cn-shanghai"
    assert document.attributes["time"] == "2026-11-20T11:30:02+08:00"
    assert "data" not in document.attributes
    assert document.payload["TaskId"].startswith("OfficeConversion-")


def test_cloudevent_without_time_gets_no_invented_time() -> None:
    assert "time" not in only(dumps(cloudevent(time=None))).attributes
    assert "time" not in only(dumps(task_content()), binary_headers(ce_time=None)).attributes


def test_cloudevent_odd_time_is_kept_for_parse() -> None:
    document = only(dumps(cloudevent(time="2020-11-19T21:04:42.179PRC")))
    assert document.attributes["time"] == "2020-11-19T21:04:42.179PRC"


@pytest.mark.parametrize(
    ("data", "payload"),
    [
        (json.dumps({"TaskId": "t"}), {"TaskId": "t"}),  # JSON sent as a string
        ("plain words", {"data": "plain words"}),
        ([1, 2], {"data": [1, 2]}),
    ],
)
def test_cloudevent_data_that_is_not_an_object(data: Any, payload: dict[str, Any]) -> None:
    assert only(dumps(cloudevent(data))).payload == payload


def test_cloudevent_without_data_and_with_data_base64() -> None:
    event = cloudevent()
    del event["data"]
    assert only(dumps(event)).payload == {}
    event["data_base64"] = b64(dumps({"TaskId": "t"})).decode()
    assert only(dumps(event)).payload == {"TaskId": "t"}


def test_binary_cloudevent_maps_headers() -> None:
    headers = binary_headers(ce_subject="acs.imm:cn-shanghai:1234567890123456:media%2Dprod")
    document = only(dumps(task_content()), headers)
    assert document.attributes == {
        "specversion": "1.0",
        "id": "b-1",
        "source": "acs.imm",
        "type": "imm:Task:MediaConvert",
        "time": "2026-11-20T03:30:02Z",
        "subject": "acs.imm:cn-shanghai:1234567890123456:media-prod",  # %-decoded
        "aliyunaccountid": "1234567890123456",
        "datacontenttype": "application/json",
    }
    assert document.payload == task_content()


def test_binary_cloudevent_with_empty_body() -> None:
    assert only(b"", binary_headers()).payload == {}
    assert only(b" \n", binary_headers()).payload == {}
    assert only(b"{}", binary_headers()).payload == {}


def test_json_array_yields_one_document_each() -> None:
    events = [cloudevent(id=f"e-{n}") for n in range(3)]
    documents = decode(dumps(events), "eventbridge")
    assert [d.attributes["id"] for d in documents] == ["e-0", "e-1", "e-2"]
    assert {d.layers for d in documents} == {("array", "cloudevent")}


def test_array_with_bad_elements_fails_one_by_one() -> None:
    body = dumps([cloudevent(id="good"), 7, cloudevent(id=""), imm_envelope("{oops")])
    results = decode_each(body, "eventbridge")
    assert isinstance(results[0], Document)
    errors = results[1:]
    assert all(isinstance(e, DecodeError) for e in errors)
    assert [e.reason for e in errors if isinstance(e, InputError)] == [
        InputReason.WRONG_TYPE,
        InputReason.BAD_CLOUDEVENT,
        InputReason.BAD_JSON,
    ]
    assert "array element 1" in str(errors[0])
    with pytest.raises(DecodeError) as caught:  # the strict form raises the first
        decode(body, "eventbridge")
    assert caught.value.reason is InputReason.WRONG_TYPE


# -- hostile input ----------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<Notification xmlns="http://mns.aliyuncs.com/doc/v1/"><Message>&lol9;</Message></Notification>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<Notification xmlns="http://mns.aliyuncs.com/doc/v1/"><Message>&e;</Message></Notification>"""
SECRET = "SECRET-PAYLOAD-MARKER"


def nested_base64(levels: int) -> bytes:
    body = ENVELOPE
    for _ in range(levels):
        body = b64(body)
    return body


def deep_object(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


HOSTILE: list[Any] = [
    pytest.param(b"", None, InputReason.EMPTY, id="empty"),
    pytest.param(b" \r\n\t", None, InputReason.EMPTY, id="blank"),
    pytest.param(b"[]", None, InputReason.EMPTY, id="empty-array"),
    pytest.param(mns_xml(""), None, InputReason.EMPTY, id="empty-mns-message"),
    pytest.param(ENVELOPE[: len(ENVELOPE) // 2], None, InputReason.BAD_JSON, id="truncated"),
    pytest.param(b'{"id": "x", "content": ', None, InputReason.BAD_JSON, id="truncated-short"),
    pytest.param(b"{'single': 'quotes'}", None, InputReason.BAD_JSON, id="not-json"),
    pytest.param(b"hello, world!", None, InputReason.BAD_JSON, id="plain-text"),
    pytest.param(
        dumps(imm_envelope('{"TaskId": ')), None, InputReason.BAD_JSON, id="truncated-content"
    ),
    pytest.param(b"\xff\xfe{\x00}\x00", None, InputReason.BAD_ENCODING, id="utf-16"),
    pytest.param('{"a": "é"}'.encode("latin-1"), None, InputReason.BAD_ENCODING, id="latin-1"),
    pytest.param(b"eyJhIjox" + b"f", None, InputReason.BAD_ENCODING, id="base64-bad-length"),
    pytest.param(b"eyJh=Ijox", None, InputReason.BAD_ENCODING, id="base64-bad-padding"),
    pytest.param(b64(b"\xff\xfe\xfd"), None, InputReason.BAD_ENCODING, id="base64-of-binary"),
    pytest.param(b64(b"{not json"), None, InputReason.BAD_JSON, id="base64-of-bad-json"),
    pytest.param(b"42", None, InputReason.WRONG_TYPE, id="number"),
    pytest.param(b'"a string"', None, InputReason.WRONG_TYPE, id="string"),
    pytest.param(b"true", None, InputReason.WRONG_TYPE, id="boolean"),
    pytest.param(b"null", None, InputReason.WRONG_TYPE, id="null"),
    pytest.param(dumps(imm_envelope("[1, 2]")), None, InputReason.WRONG_TYPE, id="content-array"),
    pytest.param(
        dumps({**imm_envelope(), "content": 5}), None, InputReason.WRONG_TYPE, id="content-number"
    ),
    pytest.param(
        dumps({**ice_envelope(), "MessageBody": 3}), None, InputReason.WRONG_TYPE, id="ice-body"
    ),
    pytest.param(
        dumps({**json.loads(mns_json("x")), "Message": 3}),
        None,
        InputReason.WRONG_TYPE,
        id="mns-message-number",
    ),
    pytest.param(b"1" * 5000, None, InputReason.BAD_JSON, id="huge-integer"),
    pytest.param(b'{"a": 1' + b"0" * 5000 + b"}", None, InputReason.BAD_JSON, id="huge-field"),
    pytest.param(b'{"a": 1e999}', None, InputReason.BAD_JSON, id="float-overflow"),
    pytest.param(b'{"a": NaN}', None, InputReason.BAD_JSON, id="nan"),
    pytest.param(b'{"a": -Infinity}', None, InputReason.BAD_JSON, id="infinity"),
    pytest.param(b"[" * 100_000, None, InputReason.BAD_JSON, id="deep-unclosed"),
    pytest.param(b"[" * 5000 + b"]" * 5000, None, InputReason.BAD_JSON, id="deep-array"),
    pytest.param(deep_object(MAX_JSON_DEPTH + 1), None, InputReason.BAD_JSON, id="deep-object"),
    pytest.param(
        nested_base64(MAX_UNWRAP_DEPTH + 1), None, InputReason.TOO_DEEP, id="base64-too-deep"
    ),
    pytest.param(
        mns_json(mns_json(mns_json(mns_json(mns_json(ENVELOPE))))),
        None,
        InputReason.TOO_DEEP,
        id="mns-too-deep",
    ),
    pytest.param(BILLION_LAUGHS, None, InputReason.FORBIDDEN_XML, id="billion-laughs"),
    pytest.param(EXTERNAL_ENTITY, None, InputReason.FORBIDDEN_XML, id="external-entity"),
    pytest.param(
        b"<!DOCTYPE Notification><Notification/>", None, InputReason.FORBIDDEN_XML, id="dtd"
    ),
    pytest.param(b"<Notification><Message>", None, InputReason.BAD_XML, id="unclosed-xml"),
    pytest.param(b"<a><b></a>", None, InputReason.BAD_XML, id="mismatched-xml"),
    pytest.param(b"<Message>x</Message>", None, InputReason.WRONG_TYPE, id="other-xml"),
    pytest.param(
        b"<Notification><TopicName>t</TopicName></Notification>",
        None,
        InputReason.MISSING_FIELD,
        id="xml-without-message",
    ),
    pytest.param(
        dumps(cloudevent(id=None)), None, InputReason.BAD_CLOUDEVENT, id="cloudevent-no-id"
    ),
    pytest.param(
        dumps(cloudevent(source="", type=None)),
        None,
        InputReason.BAD_CLOUDEVENT,
        id="cloudevent-no-source-type",
    ),
    pytest.param(
        dumps(cloudevent(id=7)), None, InputReason.BAD_CLOUDEVENT, id="cloudevent-id-number"
    ),
    pytest.param(
        dumps(cloudevent(specversion="2.0")),
        None,
        InputReason.BAD_CLOUDEVENT,
        id="cloudevent-specversion",
    ),
    pytest.param(
        dumps({**cloudevent(), "data": None, "data_base64": "%%%"}),
        None,
        InputReason.BAD_ENCODING,
        id="cloudevent-bad-data-base64",
    ),
    pytest.param(
        dumps(task_content()),
        binary_headers(ce_id=None, ce_type=None),
        InputReason.BAD_CLOUDEVENT,
        id="binary-missing-headers",
    ),
    pytest.param(
        dumps(task_content()),
        binary_headers(ce_specversion="0.1"),
        InputReason.BAD_CLOUDEVENT,
        id="binary-bad-specversion",
    ),
    pytest.param(b"{oops", binary_headers(), InputReason.BAD_JSON, id="binary-bad-body"),
    pytest.param(b"\xff", binary_headers(), InputReason.BAD_ENCODING, id="binary-not-utf8"),
]


@pytest.mark.parametrize(("raw", "headers", "reason"), HOSTILE)
def test_hostile_input_gives_a_closed_reason(
    raw: bytes, headers: Headers, reason: InputReason
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(raw, "replay", headers)
    assert caught.value.reason is reason
    assert len(str(caught.value)) < 120


def test_error_details_never_quote_the_payload() -> None:
    bodies = [
        ("{" + f'"note": "{SECRET}", "x": ').encode(),
        f"{SECRET} is not json".encode(),
        dumps(imm_envelope(f'{{"note": "{SECRET}"')),
        dumps(cloudevent(specversion=SECRET)),
        mns_xml(f"<{SECRET}"),
        f"<Notification><Message>{SECRET}</Notification>".encode(),
    ]
    for body in bodies:
        with pytest.raises(DecodeError) as caught:
            decode(body, "replay")
        assert SECRET not in str(caught.value)


def test_nesting_within_the_limits_is_fine() -> None:
    assert only(nested_base64(MAX_UNWRAP_DEPTH)).format == "imm_envelope"
    assert only(deep_object(MAX_JSON_DEPTH)).format == "json"
    # many brackets, little depth: the depth walk lets it through
    assert len(decode(dumps([cloudevent(id=str(n)) for n in range(200)]), "eventbridge")) == 200


# -- properties -------------------------------------------------------------------------

HEADERS = st.dictionaries(
    st.sampled_from(["ce-id", "ce-source", "ce-type", "ce-specversion", "x-mns-message-id"]),
    st.text(max_size=8),
    max_size=5,
)
ENVELOPE_KEYS = [
    "id", "source", "type", "specversion", "content", "Message", "TopicOwner",
    "EventType", "MessageBody", "TaskId", "Id", "State", "data", "time", "x",
]  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(ENVELOPE_KEYS),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


def decode_or_input_error(raw: bytes, headers: dict[str, str] | None = None) -> None:
    try:
        results = decode_each(raw, "replay", headers)
    except InputError:
        return
    assert all(isinstance(result, Document | InputError) for result in results)


@PROPERTY
@given(st.binary(max_size=300), st.none() | HEADERS)
def test_random_bytes_raise_only_input_errors(raw: bytes, headers: dict[str, str] | None) -> None:
    decode_or_input_error(raw, headers)


@PROPERTY
@given(JSON_VALUES)
def test_random_json_raises_only_input_errors(value: Any) -> None:
    raw = json.dumps(value).encode()
    decode_or_input_error(raw)
    decode_or_input_error(b64(raw))
    decode_or_input_error(mns_xml(raw))
    decode_or_input_error(dumps(imm_envelope(json.dumps(value))))


# -- structured CloudEvents are read as the SDK reads them ------------------------------

CE_NAMES = st.sampled_from(
    ["id", "ID", "source", "Source", "type", "TYPE", "specversion", "SpecVersion", "time",
     "Time", "subject", "data", "Data", "data_base64", "DATA_BASE64", "aliyunregionid"]
)  # fmt: skip
CE_VALUES = st.none() | st.integers() | st.sampled_from(["1.0", "0.3", "2.0", "", "x"])


def sdk_attributes(obj: dict[str, Any]) -> dict[str, Any] | None:
    """What the CloudEvents SDK makes of a structured event; None when it rejects it."""
    try:
        event = ce_from_dict({key: value for key, value in obj.items() if key != "data_base64"})
    except ce_errors.GenericException:
        return None
    return {
        name: event.get(name)
        for name in event
        if name != "data" and (name != "time" or "time" in obj)
    }


@PROPERTY
@given(st.dictionaries(CE_NAMES, CE_VALUES, max_size=10))
def test_structured_attributes_match_the_sdk(extra: dict[str, Any]) -> None:
    obj = {"specversion": "1.0", "id": "e-1", "source": "acs.imm", "type": "imm:Task:X", **extra}
    expected = sdk_attributes(obj)
    try:
        got: dict[str, Any] | None = structured_attributes(obj)
    except DecodeError as error:
        assert error.reason is InputReason.BAD_CLOUDEVENT
        got = None
    assert got == expected


def test_a_structured_event_with_an_odd_duplicate_version_is_refused_not_a_crash() -> None:
    body = dumps({**cloudevent(), "SpecVersion": [1]})  # the SDK itself raises TypeError
    with pytest.raises(DecodeError) as caught:
        decode(body, "eventbridge")
    assert caught.value.reason is InputReason.BAD_CLOUDEVENT


NOTE = b'{"id": "x", "source": "acs.imm", "type": "t", "content": "{}", "note": "'


@pytest.mark.parametrize(
    ("escape", "ok"),
    [(b"\\ud800", False), (b"\\uDFFF!", False), (b"\\ud83d\\ude00", True)],
)
def test_unpaired_surrogates_are_bad_encoding(escape: bytes, ok: bool) -> None:
    body = NOTE + escape + b'"}'
    if ok:
        assert decode(body, "eventbridge")
        return
    with pytest.raises(DecodeError) as caught:
        decode(body, "eventbridge")
    assert caught.value.reason is InputReason.BAD_ENCODING


@pytest.mark.parametrize(
    ("escape", "ok"),
    [(b"a\\u0000b", False), (b"\\\\u0000", True), (b"\\u0001", True)],
)
def test_a_nul_character_is_bad_encoding_on_every_store(escape: bytes, ok: bool) -> None:
    body = NOTE + escape + b'"}'
    if ok:  # an escaped backslash before u0000 is just text
        assert decode(body, "eventbridge")
        return
    with pytest.raises(DecodeError) as caught:
        decode(body, "eventbridge")
    assert caught.value.reason is InputReason.BAD_ENCODING
    assert "NUL" in caught.value.detail
