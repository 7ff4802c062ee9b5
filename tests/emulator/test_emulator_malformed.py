"""Raw HTTP the SDK would never send: malformed XML, entity bombs, odd parameters, bad auth.

Every answer must be an MNS ``<Error>`` with the documented status and a request id.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Protocol

import defusedxml.ElementTree as SafeET
import pytest

from batchrelay.emulator import RunningEmulator


class Reply(Protocol):
    """What the ``mns_http`` fixture answers (see conftest)."""

    status: int
    headers: dict[str, str]
    body: bytes


MnsHttp = Callable[..., Awaitable[Reply]]
NS = "{http://mns.aliyuncs.com/doc/v1/}"

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Message><MessageBody>&lol9;</MessageBody></Message>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE m [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Message><MessageBody>&secret;</MessageBody></Message>"""


def error_code(reply: Reply) -> str:
    root = SafeET.fromstring(reply.body)
    fields = {child.tag.removeprefix(NS): child.text for child in root}
    assert root.tag == f"{NS}Error"
    assert fields["RequestId"] == reply.headers["x-mns-request-id"]
    assert fields["Message"] and fields["HostId"]
    return str(fields["Code"])


def message(body: str) -> bytes:
    return f'<Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>{body}</MessageBody></Message>'.encode()


@pytest.fixture
def jobs(emu: RunningEmulator) -> str:
    emu.create_queue("jobs")
    return "/queues/jobs/messages"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<Message><MessageBody>unclosed", "MalformedXML"),
        (b"not xml at all", "MalformedXML"),
        (BOMB, "MalformedXML"),
        (EXTERNAL, "MalformedXML"),
        (b"<Queue><VisibilityTimeout>5</VisibilityTimeout></Queue>", "InvalidArgument"),
        (message(""), "InvalidArgument"),
        (
            b"<Messages>"
            + b"<Message><MessageBody>x</MessageBody></Message>" * 17
            + b"</Messages>",
            "InvalidArgument",
        ),
        (
            b"<Message><MessageBody>x</MessageBody><Priority>17</Priority></Message>",
            "InvalidArgument",
        ),
        (
            b"<Message><MessageBody>x</MessageBody><DelaySeconds>soon</DelaySeconds></Message>",
            "InvalidArgument",
        ),
    ],
)
async def test_bad_send_bodies(mns_http: MnsHttp, jobs: str, body: bytes, code: str) -> None:
    started = time.monotonic()
    reply = await mns_http("POST", jobs, body)
    assert (reply.status, error_code(reply)) == (400, code)
    assert time.monotonic() - started < 1.0  # the bomb is refused, not expanded


async def test_oversized_message_and_oversized_request(mns_http: MnsHttp, jobs: str) -> None:
    reply = await mns_http("POST", jobs, message("x" * 65_537))
    assert (reply.status, error_code(reply)) == (400, "InvalidArgument")
    reply = await mns_http("POST", jobs, message("x" * (2 * 1024 * 1024)))
    assert (reply.status, error_code(reply)) == (400, "InvalidArgument")
    assert (await mns_http("POST", jobs, message("x" * 65_536))).status == 201


@pytest.mark.parametrize(
    "query",
    [
        "?numOfMessages=0",
        "?numOfMessages=17",
        "?numOfMessages=many",
        "?waitseconds=31",
        "?waitseconds=-1",
        "?numOfMessages=16&waitseconds=99",
    ],
)
async def test_bad_receive_parameters(mns_http: MnsHttp, jobs: str, query: str) -> None:
    reply = await mns_http("GET", jobs + query)
    assert (reply.status, error_code(reply)) == (400, "InvalidArgument")


@pytest.mark.parametrize(
    ("method", "resource", "code"),
    [
        ("DELETE", "/queues/jobs/messages?ReceiptHandle=", "MissingReceiptHandle"),
        ("DELETE", "/queues/jobs/messages?ReceiptHandle=1-FAKE-1", "ReceiptHandleError"),
        ("PUT", "/queues/jobs/messages?ReceiptHandle=1-FAKE-1", "MissingVisibilityTimeout"),
        (
            "PUT",
            "/queues/jobs/messages?ReceiptHandle=1-FAKE-1&VisibilityTimeout=43201",
            "InvalidArgument",
        ),
        ("GET", "/queues/nope/messages", "QueueNotExist"),
        ("GET", "/queues/nope", "QueueNotExist"),
        ("GET", "/topics/nope", "TopicNotExist"),
        ("GET", "/topics/nope/subscriptions/s", "TopicNotExist"),
        ("GET", "/no/such/resource", "InvalidRequestURL"),
        ("PUT", "/queues/1-starts-with-a-digit", "InvalidQueueName"),
        ("PUT", "/queues/" + "q" * 257, "QueueNameLengthError"),
    ],
)
async def test_bad_requests(
    mns_http: MnsHttp, jobs: str, method: str, resource: str, code: str
) -> None:
    reply = await mns_http(method, resource)
    assert error_code(reply) == code
    assert reply.status in (400, 404)


async def test_queue_attributes_out_of_range(mns_http: MnsHttp) -> None:
    body = b"<Queue><VisibilityTimeout>0</VisibilityTimeout></Queue>"
    reply = await mns_http("PUT", "/queues/jobs", body)
    assert (reply.status, error_code(reply)) == (400, "InvalidArgument")


async def test_create_statuses(mns_http: MnsHttp) -> None:
    body = b"<Queue><VisibilityTimeout>5</VisibilityTimeout></Queue>"
    assert (await mns_http("PUT", "/queues/jobs", body)).status == 201
    again = await mns_http("PUT", "/queues/jobs", body)
    assert again.status == 204 and again.headers["Location"].endswith("/queues/jobs")
    conflict = await mns_http("PUT", "/queues/jobs", b"<Queue/>")
    assert (conflict.status, error_code(conflict)) == (409, "QueueAlreadyExist")
    assert (await mns_http("DELETE", "/queues/never-made")).status == 204


@pytest.mark.parametrize(
    ("headers", "sign", "status", "code"),
    [
        ({}, False, 400, "MissingAuthorizationHeader"),
        ({"Date": formatdate(time.time() - 3600, usegmt=True)}, True, 408, "TimeExpired"),
        ({"Content-MD5": "bm90IGl0"}, True, 400, "InvalidDegist"),
    ],
)
async def test_authentication_failures(
    mns_http: MnsHttp, jobs: str, headers: dict[str, str], sign: bool, status: int, code: str
) -> None:
    reply = await mns_http("POST", jobs, message("x"), headers, sign=sign)
    assert (reply.status, error_code(reply)) == (status, code)


async def test_success_answers_carry_a_request_id(mns_http: MnsHttp, jobs: str) -> None:
    reply = await mns_http("POST", jobs, message("hello"))
    assert reply.status == 201
    assert len(reply.headers["x-mns-request-id"]) == 24
    assert reply.headers["Content-Type"].startswith("text/xml")


async def test_batch_delete_reports_each_failure(mns_http: MnsHttp, jobs: str) -> None:
    items = b"<ReceiptHandle>1-A-1</ReceiptHandle><ReceiptHandle>1-B-2</ReceiptHandle>"
    body = b"<ReceiptHandles>" + items + b"</ReceiptHandles>"
    reply = await mns_http("DELETE", jobs, body)
    root = SafeET.fromstring(reply.body)
    assert reply.status == 404 and root.tag == f"{NS}Errors"
    handles = [e.findtext(f"{NS}ReceiptHandle") for e in root]
    codes = {e.findtext(f"{NS}ErrorCode") for e in root}
    assert (handles, codes) == (["1-A-1", "1-B-2"], {"ReceiptHandleError"})
