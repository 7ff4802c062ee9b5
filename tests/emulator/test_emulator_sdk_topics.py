"""Topics through the official SDK: queue subscriptions per format, and signed HTTP pushes
verified the way a receiver must verify them (certificate fetched from its URL)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import aiohttp
import defusedxml.ElementTree as SafeET
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.subscription import SubscriptionMeta
from mns.topic import TopicMessage, TopicMeta

from batchrelay.emulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
    RunningEmulator,
    running_emulator,
)

SdkFactory = Callable[..., Account]
NS = "{http://mns.aliyuncs.com/doc/v1/}"
run = asyncio.to_thread


# -- a push receiver that verifies signatures --------------------------------------------


def push_string_to_sign(headers: dict[str, str], path: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    mns = "".join(f"{k}:{lowered[k]}\n" for k in sorted(lowered) if k.startswith("x-mns-"))
    fixed = [lowered.get(k, "") for k in ("content-md5", "content-type", "date")]
    return "\n".join(["POST", *fixed, mns + path])


def verify_push(cert_pem: bytes, headers: dict[str, str], path: str, body: bytes) -> None:
    """Raise InvalidSignature unless the push is authentic; §3.5 steps 2-4, with the
    Content-MD5 of real pushes (§3.7): the hex digest in upper case."""
    if headers.get("Content-MD5") != hashlib.md5(body).hexdigest().upper():
        raise InvalidSignature("Content-MD5 does not match the body")
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    signature = base64.b64decode(headers["Authorization"])
    data = push_string_to_sign(headers, path).encode()
    key.verify(signature, data, padding.PKCS1v15(), hashes.SHA1())


@dataclass
class Receiver:
    """Answers pushes with ``statuses`` in turn (then 204) after verifying each one."""

    allowed_cert_prefix: str
    statuses: list[int] = field(default_factory=list)
    pushes: list[tuple[dict[str, str], str, bytes]] = field(default_factory=list)
    url: str = ""
    _certs: dict[str, bytes] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        cert_url = base64.b64decode(headers["x-mns-signing-cert-url"]).decode()
        if not cert_url.startswith(self.allowed_cert_prefix):
            return web.Response(status=403)
        try:
            verify_push(await self._cert(cert_url), headers, request.raw_path, body)
        except InvalidSignature:
            return web.Response(status=403)
        self.pushes.append((headers, request.raw_path, body))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)

    async def _cert(self, url: str) -> bytes:
        if url not in self._certs:  # cache by URL, as production receivers should
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                self._certs[url] = await response.read()
        return self._certs[url]


@pytest.fixture
async def receiver(emu: RunningEmulator) -> AsyncIterator[Receiver]:
    receiving = Receiver(allowed_cert_prefix=emu.url + "/")
    app = web.Application()
    app.router.add_post("/notify/{name}", receiving.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiving.url = f"http://127.0.0.1:{runner.addresses[0][1]}/notify"
    yield receiving
    await runner.cleanup()


async def subscribe(account: Account, endpoint: str, fmt: str = "XML", **options: str) -> None:
    topic = account.get_topic("events")
    await run(topic.create, TopicMeta())
    subscription = topic.get_subscription(options.pop("name", "sub"))
    meta = SubscriptionMeta(
        endpoint, options.get("strategy", "BACKOFF_RETRY"), fmt, options.get("tag", "")
    )
    await run(subscription.subscribe, meta)


async def publish(account: Account, body: str, tag: str = "") -> str:
    sent = await run(account.get_topic("events").publish_message, TopicMessage(body, tag))
    return str(sent.message_id)


# -- topic management ---------------------------------------------------------------------


async def test_topic_and_subscription_lifecycle(sdk: SdkFactory, emu: RunningEmulator) -> None:
    account = sdk()
    topic = account.get_topic("events")
    assert await run(topic.create, TopicMeta()) == f"{emu.url}/topics/events"
    assert (await run(topic.get_attributes)).topic_name == "events"
    subscription = topic.get_subscription("to-jobs")
    await run(
        subscription.subscribe,
        SubscriptionMeta(emu.queue_endpoint("jobs"), "EXPONENTIAL_DECAY_RETRY", "JSON"),
    )
    attributes = await run(subscription.get_attributes)
    assert (attributes.endpoint, attributes.notify_content_format) == (
        emu.queue_endpoint("jobs"),
        "JSON",
    )
    urls, _ = await run(topic.list_subscription)
    assert urls == [f"{emu.url}/topics/events/subscriptions/to-jobs"]
    with pytest.raises(MNSServerException) as caught:
        await run(subscription.subscribe, SubscriptionMeta(emu.queue_endpoint("other")))
    assert caught.value.type == "SubscriptionAlreadyExist"
    await run(subscription.unsubscribe)
    assert (await run(topic.list_subscription))[0] == []
    await run(topic.delete)
    with pytest.raises(MNSServerException) as caught:
        await run(topic.get_attributes)
    assert caught.value.type == "TopicNotExist"


# -- topic -> queue -----------------------------------------------------------------------


async def receive_plain(account: Account, queue: str) -> str:
    handle = account.get_queue(queue)
    handle.set_encoding(False)  # notifications are written as plain text, not base64
    return str((await run(handle.receive_message, 1)).message_body)


async def test_queue_subscriptions_in_each_format(sdk: SdkFactory, emu: RunningEmulator) -> None:
    account = sdk()
    for fmt in ("XML", "JSON", "SIMPLIFIED"):
        emu.create_queue(f"q-{fmt.lower()}")
        await subscribe(
            account, emu.queue_endpoint(f"q-{fmt.lower()}"), fmt, name=f"s-{fmt.lower()}"
        )
    body = '{"TaskId": "t-1", "note": "a <b> & c"}'
    before = int(time.time() * 1000)
    message_id = await publish(account, body, tag="imm")

    wrapper = SafeET.fromstring(await receive_plain(account, "q-xml"))
    assert wrapper.tag == f"{NS}Notification"
    fields = {child.tag.removeprefix(NS): child.text for child in wrapper}
    assert fields["Message"] == body
    assert (fields["MessageId"], fields["MessageTag"], fields["TopicName"]) == (
        message_id,
        "imm",
        "events",
    )
    assert (fields["SubscriptionName"], fields["TopicOwner"]) == ("s-xml", emu.account_id)
    assert fields["MessageMD5"] == hashlib.md5(body.encode()).hexdigest().upper()
    assert int(str(fields["PublishTime"])) >= before

    as_json = json.loads(await receive_plain(account, "q-json"))
    assert (as_json["Message"], as_json["MessageId"], as_json["MessageTag"]) == (
        body,
        message_id,
        "imm",
    )
    assert isinstance(as_json["PublishTime"], str)

    assert await receive_plain(account, "q-simplified") == body


async def test_filter_tag(sdk: SdkFactory, emu: RunningEmulator) -> None:
    account = sdk()
    emu.create_queue("red")
    await subscribe(account, emu.queue_endpoint("red"), "SIMPLIFIED", tag="red")
    await publish(account, "blue one", tag="blue")
    await publish(account, "red one", tag="red")
    assert [m.body for m in emu.messages("red")] == ["red one"]


# -- topic -> HTTP --------------------------------------------------------------------------


async def test_http_push_is_signed_and_verifiable(
    sdk: SdkFactory, emu: RunningEmulator, receiver: Receiver
) -> None:
    account = sdk()
    await subscribe(account, receiver.url + "/mns?source=emulator", "XML")
    message_id = await publish(account, "payload <x>", tag="t1")
    async with asyncio.timeout(5):
        await emu.drain_pushes()
    [(headers, path, body)] = receiver.pushes
    assert path == "/notify/mns?source=emulator"
    assert headers["Content-Type"] == "text/xml;charset=utf-8"
    assert headers["x-mns-version"] == "2015-06-06" and headers["x-mns-request-id"]
    fields = {child.tag.removeprefix(NS): child.text for child in SafeET.fromstring(body)}
    assert (fields["MessageId"], fields["Message"], fields["MessageTag"]) == (
        message_id,
        "payload <x>",
        "t1",
    )
    assert fields["SigningCertURL"] == emu.cert_url
    assert [a.status for a in emu.push_attempts] == [204]


async def test_tampered_push_fails_verification(
    sdk: SdkFactory, emu: RunningEmulator, receiver: Receiver
) -> None:
    await subscribe(sdk(), receiver.url + "/mns", "JSON")
    await publish(sdk(), "payload")
    async with asyncio.timeout(5):
        await emu.drain_pushes()
    [(headers, path, body)] = receiver.pushes
    verify_push(emu.cert_pem, headers, path, body)
    with pytest.raises(InvalidSignature):
        verify_push(emu.cert_pem, headers, path, body.replace(b"payload", b"forged!"))
    with pytest.raises(InvalidSignature):
        verify_push(emu.cert_pem, headers | {"x-mns-message-tag": "x"}, path, body)


async def test_simplified_push_carries_the_real_header_set(
    sdk: SdkFactory, emu: RunningEmulator, receiver: Receiver
) -> None:
    account = sdk()
    await subscribe(account, receiver.url + "/simple", "SIMPLIFIED", name="sub-simple")
    before = int(time.time() * 1000)
    message_id = await publish(account, "raw body", tag="green")
    async with asyncio.timeout(5):
        await emu.drain_pushes()
    [(headers, _, body)] = receiver.pushes
    assert body == b"raw body"
    assert headers["Content-Type"] == "text/plain;charset=utf-8"
    assert headers["User-Agent"] == "Aliyun Notification Service Agent"
    assert headers["Content-MD5"] == hashlib.md5(body).hexdigest().upper()
    mns = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-mns-")}
    assert sorted(mns) == [
        "x-mns-message-id",
        "x-mns-message-tag",
        "x-mns-publish-time",
        "x-mns-request-id",
        "x-mns-signing-cert-url",
        "x-mns-subscriber",
        "x-mns-subscription-name",
        "x-mns-topic-name",
        "x-mns-topic-owner",
        "x-mns-version",
    ]
    assert (mns["x-mns-message-id"], mns["x-mns-message-tag"]) == (message_id, "green")
    assert (mns["x-mns-topic-name"], mns["x-mns-subscription-name"]) == ("events", "sub-simple")
    assert mns["x-mns-topic-owner"] == mns["x-mns-subscriber"] == emu.account_id
    assert int(mns["x-mns-publish-time"]) >= before


async def test_pushes_are_signed_with_a_512_bit_key_expired_in_2016(
    emu: RunningEmulator,
) -> None:
    certificate = x509.load_pem_x509_certificate(emu.cert_pem)
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 512
    assert certificate.not_valid_after_utc.year == 2016


async def test_failed_pushes_are_retried_until_accepted(
    sdk: SdkFactory, emu: RunningEmulator, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    await subscribe(sdk(), receiver.url + "/retry")
    await publish(sdk(), "again")
    async with asyncio.timeout(5):
        await emu.drain_pushes()
    assert [(a.attempt, a.status) for a in emu.push_attempts] == [(1, 500), (2, 503), (3, 204)]
    assert len(receiver.pushes) == 3
    assert len({h["x-mns-request-id"] for h, _, _ in receiver.pushes}) == 3


async def test_backoff_retry_gives_up_after_three_retries(
    sdk: SdkFactory, emu: RunningEmulator, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 10
    await subscribe(sdk(), receiver.url + "/down")
    await publish(sdk(), "lost")
    async with asyncio.timeout(5):
        await emu.drain_pushes()
    assert [a.status for a in emu.push_attempts] == [500] * 4


async def test_unreachable_endpoint_is_retried_as_a_connection_error(
    sdk: SdkFactory, emu: RunningEmulator
) -> None:
    await subscribe(sdk(), "http://127.0.0.1:9/nothing-listens-here")
    await publish(sdk(), "nowhere")
    async with asyncio.timeout(5):
        await emu.drain_pushes()
    assert [a.status for a in emu.push_attempts] == [None] * 4
    assert all(a.error for a in emu.push_attempts)


async def test_unsubscribed_endpoints_get_nothing(
    sdk: SdkFactory, emu: RunningEmulator, receiver: Receiver
) -> None:
    account = sdk()
    await subscribe(account, receiver.url + "/gone")
    await run(account.get_topic("events").get_subscription("sub").unsubscribe)
    await publish(account, "unheard")
    async with asyncio.timeout(5):
        await emu.drain_pushes()
    assert receiver.pushes == []


async def test_shutdown_cancels_pending_retries(
    emulator: Callable[..., AbstractAsyncContextManager[RunningEmulator]], receiver: Receiver
) -> None:
    async with emulator(retry_scale=1.0) as emu:
        account = Account(emu.url, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
        try:
            receiver.allowed_cert_prefix = emu.url
            receiver.statuses = [500] * 10
            await subscribe(account, receiver.url + "/slow", strategy="EXPONENTIAL_DECAY_RETRY")
            await publish(account, "pending")
            await asyncio.sleep(0.3)
            assert emu.backend.pusher.pending == 1  # waiting 1 s before its first retry
        finally:
            account.mns_client.close_connection()
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    assert emu.backend.pusher.pending == 0


async def test_the_certificate_is_served(emu: RunningEmulator) -> None:
    async with aiohttp.ClientSession() as session, session.get(emu.cert_url) as response:
        assert response.status == 200
        pem = await response.read()
    assert pem == emu.cert_pem


async def test_a_fresh_key_unless_the_legacy_one_is_asked_for() -> None:
    sizes = []
    for legacy in (False, True):
        async with running_emulator(EmulatorConfig(port=0, legacy_cert=legacy)) as emu:
            certificate = x509.load_pem_x509_certificate(emu.cert_pem)
            sizes.append(certificate.public_key().key_size)  # type: ignore[union-attr]
    assert sizes == [2048, 512]
