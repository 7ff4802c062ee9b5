"""Queue state with a fake clock: visibility, handles, delays, priorities, duplicates."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tests.fakes import FakeClock

from batchrelay.emulator.attributes import QueueAttributes
from batchrelay.emulator.errors import MnsError
from batchrelay.emulator.ids import Ids
from batchrelay.emulator.queues import Queue, poll


def make_queue(clock: FakeClock, max_messages: int = 100, **attributes: Any) -> Queue:
    return Queue(
        "q", QueueAttributes(**attributes), ids=Ids(), clock=clock, max_messages=max_messages
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


def test_a_received_message_hides_until_its_visibility_timeout(clock: FakeClock) -> None:
    queue = make_queue(clock, visibility_timeout=10)
    queue.send("a")
    [first] = queue.receive(1)
    assert (first.dequeue_count, first.next_visible_ms) == (1, int((clock.now + 10) * 1000))
    handle = first.handle
    assert queue.receive(1) == []
    clock.advance(10)
    [again] = queue.receive(1)
    assert again.dequeue_count == 2
    assert again.handle != handle
    assert again.first_dequeue_ms == first.first_dequeue_ms
    assert handle is not None
    with pytest.raises(MnsError, match="MessageNotExist"):
        queue.delete(handle)


def test_a_handle_expires_with_the_visibility_timeout(clock: FakeClock) -> None:
    # QueueMessage doc: a handle used after its message became visible is MessageNotExist.
    queue = make_queue(clock, visibility_timeout=5)
    queue.send("a")
    [message] = queue.receive(1)
    clock.advance(5)
    assert message.handle is not None
    with pytest.raises(MnsError) as caught:
        queue.delete(message.handle)
    assert (caught.value.status, caught.value.code) == (404, "MessageNotExist")


def test_a_deleted_message_does_not_exist_and_a_strange_handle_is_an_error(
    clock: FakeClock,
) -> None:
    queue = make_queue(clock, visibility_timeout=5)
    queue.send("a")
    [message] = queue.receive(1)
    handle = message.handle
    assert handle is not None
    queue.delete(handle)
    with pytest.raises(MnsError, match="MessageNotExist"):
        queue.delete(handle)
    with pytest.raises(MnsError) as caught:
        queue.delete("1-NOT-ISSUED-1")
    assert (caught.value.status, caught.value.code) == (400, "ReceiptHandleError")


def test_first_dequeue_time_is_the_enqueue_time_until_the_first_receive(
    clock: FakeClock,
) -> None:
    queue = make_queue(clock, visibility_timeout=5)
    sent = queue.send("a")
    [peeked] = queue.peek(1)
    assert (peeked.dequeue_count, peeked.first_dequeue_time_ms) == (0, sent.enqueue_ms)
    clock.advance(2)
    [received] = queue.receive(1)
    assert received.first_dequeue_time_ms == sent.enqueue_ms + 2000


def test_delete_removes_the_message(clock: FakeClock) -> None:
    queue = make_queue(clock, visibility_timeout=5)
    queue.send("a")
    [message] = queue.receive(1)
    assert message.handle is not None
    queue.delete(message.handle)
    clock.advance(60)
    assert queue.receive(1) == []
    assert queue.counts().active == queue.counts().inactive == 0


def test_priority_then_arrival_order(clock: FakeClock) -> None:
    queue = make_queue(clock)
    for body, priority in [("low", 16), ("first", 8), ("urgent", 1), ("second", 8)]:
        queue.send(body, priority=priority)
    assert [m.body for m in queue.receive(16)] == ["urgent", "first", "second", "low"]


def test_delayed_messages_show_after_their_delay(clock: FakeClock) -> None:
    queue = make_queue(clock, delay_seconds=3)
    sent = queue.send("later")
    assert sent.handle is not None  # a delayed message can be deleted before it shows
    queue.send("now", delay=0)
    assert queue.counts().delayed == 1
    assert [m.body for m in queue.receive(16)] == ["now"]
    clock.advance(3)
    assert [m.body for m in queue.receive(16)] == ["later"]


def test_change_visibility_issues_a_new_handle(clock: FakeClock) -> None:
    queue = make_queue(clock, visibility_timeout=30)
    queue.send("a")
    [message] = queue.receive(1)
    old = message.handle
    assert old is not None
    changed = queue.change_visibility(old, 2)
    assert changed.handle not in (None, old)
    with pytest.raises(MnsError, match="ReceiptHandleError"):
        queue.delete(old)
    clock.advance(2)
    assert [m.dequeue_count for m in queue.receive(1)] == [2]


def test_change_visibility_to_zero_shows_at_once(clock: FakeClock) -> None:
    queue = make_queue(clock)
    queue.send("a")
    [message] = queue.receive(1)
    assert message.handle is not None
    queue.change_visibility(message.handle, 0)
    assert [m.body for m in queue.receive(1)] == ["a"]


def test_peek_leaves_messages_in_place(clock: FakeClock) -> None:
    queue = make_queue(clock)
    queue.send("a")
    queue.send("b")
    assert [m.body for m in queue.peek(16)] == ["a", "b"]
    assert [m.dequeue_count for m in queue.peek(1)] == [0]
    assert [m.body for m in queue.receive(16)] == ["a", "b"]


def test_duplicate_fault_leaves_one_visible_copy(clock: FakeClock) -> None:
    queue = make_queue(clock, visibility_timeout=30)
    sent = queue.send("a")
    [first] = queue.receive(1, duplicate=lambda: True)
    [copy] = queue.receive(1, duplicate=lambda: True)
    assert first.message_id == copy.message_id == sent.message_id
    assert first.handle != copy.handle
    assert queue.receive(1, duplicate=lambda: True) == []  # a copy is never copied again
    assert copy.handle is not None and first.handle is not None
    queue.delete(copy.handle)
    queue.delete(first.handle)


def test_messages_past_retention_are_dropped(clock: FakeClock) -> None:
    queue = make_queue(clock, message_retention_period=60)
    queue.send("old")
    clock.advance(61)
    assert queue.receive(1) == []


def test_a_full_queue_refuses_with_a_server_error(clock: FakeClock) -> None:
    queue = make_queue(clock, max_messages=2)
    queue.send("a")
    queue.send("b")
    with pytest.raises(MnsError) as caught:
        queue.send("c")
    assert caught.value.status == 500


def test_snapshot_lists_live_messages_in_arrival_order(clock: FakeClock) -> None:
    queue = make_queue(clock)
    for body in "abc":
        queue.send(body)
    queue.receive(1)
    assert [m.body for m in queue.snapshot()] == ["a", "b", "c"]


async def test_poll_returns_when_a_message_arrives() -> None:
    queue = Queue("q", QueueAttributes(), ids=Ids(), clock=time.time, max_messages=10)
    started = time.monotonic()
    waiting = asyncio.create_task(poll(queue, 1, 5.0))
    await asyncio.sleep(0.2)
    queue.send("hello")
    [message] = await asyncio.wait_for(waiting, 2.0)
    assert message.body == "hello"
    assert 0.15 < time.monotonic() - started < 1.5


async def test_poll_wakes_when_a_hidden_message_returns() -> None:
    queue = Queue(
        "q", QueueAttributes(visibility_timeout=1), ids=Ids(), clock=time.time, max_messages=10
    )
    queue.send("again")
    queue.receive(1)
    started = time.monotonic()
    [message] = await asyncio.wait_for(poll(queue, 1, 3.0), 3.0)
    assert message.dequeue_count == 2
    assert 0.8 < time.monotonic() - started < 2.0


async def test_poll_times_out_empty_and_close_ends_it_early() -> None:
    queue = Queue("q", QueueAttributes(), ids=Ids(), clock=time.time, max_messages=10)
    assert await poll(queue, 1, 0.1) == []
    waiting = asyncio.create_task(poll(queue, 1, 10.0))
    await asyncio.sleep(0.05)
    queue.close()
    assert await asyncio.wait_for(waiting, 1.0) == []
