"""The official SDK, unchanged, against the emulator: every queue operation batchrelay uses."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, Queue, QueueMeta

from batchrelay.emulator import RunningEmulator

SdkFactory = Callable[..., Account]
run = asyncio.to_thread


def meta(**values: int) -> QueueMeta:
    queue_meta = QueueMeta()
    for name, value in values.items():
        getattr(queue_meta, f"set_{name}")(value)
    return queue_meta


async def test_create_get_attributes_and_list(sdk: SdkFactory, emu: RunningEmulator) -> None:
    account = sdk()
    for name in ("jobs-a", "jobs-b", "other"):
        url = await run(account.get_queue(name).create, meta(visibilitytimeout=7))
        assert url == f"{emu.url}/queues/{name}"
    attributes = await run(account.get_queue("jobs-a").get_attributes)
    assert (attributes.queue_name, attributes.visibility_timeout) == ("jobs-a", 7)
    assert (attributes.maximum_message_size, attributes.polling_wait_seconds) == (65536, 0)
    first, marker = await run(account.list_queue, "jobs", 1)
    assert first == [f"{emu.url}/queues/jobs-a"]
    rest, end = await run(account.list_queue, "jobs", 10, marker)
    assert (rest, end) == ([f"{emu.url}/queues/jobs-b"], "")


async def test_create_conflict_and_set_attributes(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta(visibilitytimeout=7))
    await run(queue.create, meta(visibilitytimeout=7))  # same attributes: accepted
    with pytest.raises(MNSServerException) as caught:
        await run(queue.create, meta(visibilitytimeout=8))
    assert caught.value.type == "QueueAlreadyExist"
    await run(queue.set_attributes, meta(polling_wait_seconds=3))
    attributes = await run(queue.get_attributes)
    assert (attributes.visibility_timeout, attributes.polling_wait_seconds) == (7, 3)


async def test_send_receive_delete(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta())
    before = int(time.time() * 1000)
    sent = await run(queue.send_message, Message("héllo", priority=3))
    encoded = base64.b64encode("héllo".encode()).decode()  # the SDK base64-encodes bodies
    assert sent.message_body_md5 == hashlib.md5(encoded.encode()).hexdigest().upper()
    got = await run(queue.receive_message, 0)
    assert got.message_body == "héllo".encode()
    assert (got.message_id, got.dequeue_count, got.priority) == (sent.message_id, 1, 3)
    assert before <= got.enqueue_time <= got.first_dequeue_time < got.next_visible_time
    await run(queue.delete_message, got.receipt_handle)
    with pytest.raises(MNSServerException) as caught:
        await run(queue.receive_message, 0)
    assert caught.value.type == "MessageNotExist"


async def test_batch_send_and_batch_receive_sixteen(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta())
    for start in (0, 16):
        batch = [Message(f"m{i}") for i in range(start, start + 16)]
        assert len(await run(queue.batch_send_message, batch)) == 16
    got = await run(queue.batch_receive_message, 16, 1)
    assert [m.message_body for m in got] == [f"m{i}".encode() for i in range(16)]
    assert len({m.receipt_handle for m in got}) == 16
    await run(queue.batch_delete_message, [m.receipt_handle for m in got])
    assert len(await run(queue.batch_receive_message, 16, 0)) == 16


async def test_long_poll_returns_when_a_message_arrives(sdk: SdkFactory) -> None:
    consumer, producer = sdk().get_queue("jobs"), sdk().get_queue("jobs")
    await run(consumer.create, meta())
    started = time.monotonic()
    polling = asyncio.ensure_future(run(consumer.receive_message, 2))
    await asyncio.sleep(0.4)
    assert not polling.done()
    await run(producer.send_message, Message("late"))
    got = await asyncio.wait_for(polling, 2.0)
    assert got.message_body == b"late"
    assert 0.35 < time.monotonic() - started < 1.5


async def test_long_poll_waits_its_full_time_when_nothing_comes(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta())
    started = time.monotonic()
    with pytest.raises(MNSServerException) as caught:
        await run(queue.batch_receive_message, 16, 1)
    assert caught.value.type == "MessageNotExist"
    assert 0.9 < time.monotonic() - started < 1.8


async def test_queue_polling_wait_seconds_applies_without_waitseconds(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta(polling_wait_seconds=1))
    started = time.monotonic()
    with pytest.raises(MNSServerException):
        await run(queue.receive_message)
    assert time.monotonic() - started > 0.9


async def test_batch_delete_reports_a_stale_handle(sdk: SdkFactory, emu: RunningEmulator) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta())
    await run(queue.batch_send_message, [Message("a"), Message("b")])
    first, second = await run(queue.batch_receive_message, 2, 0)
    changed = await run(queue.change_message_visibility, first.receipt_handle, 30)
    with pytest.raises(MNSServerException) as caught:
        await run(queue.batch_delete_message, [second.receipt_handle, first.receipt_handle])
    assert caught.value.type == "ReceiptHandleError"
    assert [e["ReceiptHandle"] for e in caught.value.sub_errors] == [first.receipt_handle]
    # The valid handle was deleted; the stale one left its message in place.
    assert [m.message_id for m in emu.messages("jobs")] == [first.message_id]
    await run(queue.delete_message, changed.receipt_handle)
    assert emu.messages("jobs") == []


async def test_change_visibility_replaces_the_handle(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta())
    await run(queue.send_message, Message("a"))
    got = await run(queue.receive_message, 0)
    changed = await run(queue.change_message_visibility, got.receipt_handle, 1)
    assert changed.receipt_handle != got.receipt_handle
    # The SDK hands this one back as a string (ChangeMsgVisDecoder does not convert it).
    assert int(changed.next_visible_time) <= int(time.time() * 1000) + 1000
    with pytest.raises(MNSServerException) as caught:
        await run(queue.delete_message, got.receipt_handle)
    assert caught.value.type == "ReceiptHandleError"


async def test_visibility_timeout_expiry_redelivers(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta(visibilitytimeout=1))
    await run(queue.send_message, Message("again"))
    first = await run(queue.receive_message, 0)
    second = await run(queue.receive_message, 2)  # waits for the message to reappear
    assert (second.message_id, second.dequeue_count) == (first.message_id, 2)
    assert second.receipt_handle != first.receipt_handle
    with pytest.raises(MNSServerException) as caught:
        await run(queue.delete_message, first.receipt_handle)
    assert caught.value.type == "MessageNotExist"
    await run(queue.delete_message, second.receipt_handle)


async def test_peek_and_batch_peek(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta())
    await run(queue.batch_send_message, [Message("a"), Message("b")])
    peeked = await run(queue.peek_message)
    assert (peeked.message_body, peeked.dequeue_count) == (b"a", 0)
    assert peeked.first_dequeue_time == peeked.enqueue_time  # PeekMessage doc
    assert [m.message_body for m in await run(queue.batch_peek_message, 5)] == [b"a", b"b"]
    assert len(await run(queue.batch_receive_message, 16, 0)) == 2


async def test_delayed_message(sdk: SdkFactory, emu: RunningEmulator) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta())
    sent = await run(queue.send_message, Message("later", delay_seconds=1))
    assert sent.receipt_handle
    assert emu.counts("jobs").delayed == 1
    got = await run(queue.receive_message, 2)
    assert got.message_body == b"later"


async def test_delete_queue(sdk: SdkFactory) -> None:
    queue = sdk().get_queue("jobs")
    await run(queue.create, meta())
    await run(queue.delete)
    with pytest.raises(MNSServerException) as caught:
        await run(queue.get_attributes)
    assert caught.value.type == "QueueNotExist"


async def test_plain_bodies_for_consumers_that_do_not_decode(
    sdk: SdkFactory, emu: RunningEmulator
) -> None:
    emu.create_queue("events")
    emu.send("events", '{"TaskId": "t-1", "Status": "Succeeded"} & <more>\r\n')
    queue = sdk().get_queue("events")
    queue.set_encoding(False)
    got = await run(queue.receive_message, 0)
    assert got.message_body == '{"TaskId": "t-1", "Status": "Succeeded"} & <more>\r\n'


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda q: q.batch_receive_message(17, 0), "InvalidArgument"),
        (lambda q: q.receive_message(31), "InvalidArgument"),
        (lambda q: q.send_message(Message("x" * 70_000)), "InvalidArgument"),
        (lambda q: q.change_message_visibility("1-nope-1", 5), "ReceiptHandleError"),
        (lambda q: q.change_message_visibility("1-nope-1", 0), "InvalidArgument"),
    ],
)
async def test_bad_parameters(
    sdk: SdkFactory, emu: RunningEmulator, call: Callable[[Queue], object], code: str
) -> None:
    emu.create_queue("jobs")
    with pytest.raises(MNSServerException) as caught:
        await run(call, sdk().get_queue("jobs"))
    assert caught.value.type == code


async def test_wrong_secret_and_unknown_key(sdk: SdkFactory) -> None:
    for account, code in [
        (sdk(secret="wrong"), "SignatureDoesNotMatch"),
        (sdk(key_id="nobody"), "InvalidAccessKeyId"),
    ]:
        with pytest.raises(MNSServerException) as caught:
            await run(account.get_queue("jobs").create, meta())
        assert caught.value.type == code
