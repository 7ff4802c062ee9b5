"""One MNS queue in memory: visibility timeouts, delays, priorities, receipt handles.

Cost per operation stays logarithmic so a consumer can drain many thousands of messages:
visible messages sit in a heap ordered by (priority, arrival); delayed and in-flight
messages sit in a second heap ordered by the time they become visible again. Entries in
that heap are invalidated lazily (a generation number on the message) instead of being
searched for and removed.

Time is an injected clock returning epoch seconds, so state tests never sleep.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
from collections import OrderedDict, deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from enum import IntEnum

from batchrelay.emulator.attributes import QueueAttributes
from batchrelay.emulator.errors import internal_error, message_not_exist, receipt_handle_error
from batchrelay.emulator.ids import Ids

Clock = Callable[[], float]
"""Returns the current time in epoch seconds."""

DEFAULT_PRIORITY = 8


class State(IntEnum):
    VISIBLE = 0
    DELAYED = 1  # sent with DelaySeconds, not yet visible
    INACTIVE = 2  # received, hidden until its visibility timeout ends
    GONE = 3  # deleted, expired, or its queue was deleted


@dataclass(slots=True, eq=False)
class Message:
    """A message and its delivery bookkeeping. Times are epoch seconds or milliseconds."""

    key: int  # arrival order within the queue; also the heap tie-breaker
    message_id: str
    body: str
    body_md5: str
    priority: int
    enqueue_ms: int
    first_dequeue_ms: int = 0
    dequeue_count: int = 0
    visible_at: float = 0.0
    handle: str | None = None
    state: State = State.VISIBLE
    generation: int = 0  # bumped on every hide; stale heap entries carry an older one
    duplicate: bool = False  # injected copy; never copied again

    @property
    def next_visible_ms(self) -> int:
        return int(self.visible_at * 1000)

    @property
    def first_dequeue_time_ms(self) -> int:
        """``FirstDequeueTime``: the enqueue time until the first receive (PeekMessage doc)."""
        return self.first_dequeue_ms or self.enqueue_ms


@dataclass(frozen=True, slots=True)
class QueueCounts:
    active: int
    inactive: int
    delayed: int


def body_md5(body: str) -> str:
    """``MessageBodyMD5``: upper-case hex MD5 of the body as sent."""
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def _never() -> bool:
    return False


class Queue:
    """The state of one queue. Synchronous; long polling waits through :meth:`wait`."""

    def __init__(
        self,
        name: str,
        attributes: QueueAttributes,
        *,
        ids: Ids,
        clock: Clock,
        max_messages: int,
    ) -> None:
        self.name = name
        self.attributes = attributes
        self.created = self.modified = int(clock())
        self.closed = False
        self._ids = ids
        self._clock = clock
        self._max_messages = max_messages
        self._keys = itertools.count()
        self._visible: list[tuple[int, int, Message]] = []
        self._hidden: list[tuple[float, int, int, Message]] = []
        self._handles: dict[str, Message] = {}
        # Handles whose message became visible again or was deleted: MNS answers those with
        # MessageNotExist, and anything it never issued with ReceiptHandleError. Bounded.
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._counts = {State.DELAYED: 0, State.INACTIVE: 0}
        self._waiters: deque[asyncio.Future[None]] = deque()

    # -- producing ----------------------------------------------------------------------

    def room(self) -> int:
        """How many more messages the queue accepts before it answers 'full'."""
        return self._max_messages - len(self._visible) - sum(self._counts.values())

    def send(self, body: str, delay: int | None = None, priority: int | None = None) -> Message:
        """Enqueue one message; a delayed one gets a receipt handle, as on MNS."""
        if self.room() <= 0:
            raise internal_error(f"queue {self.name} holds its maximum of messages")
        now = self._clock()
        message = Message(
            key=next(self._keys),
            message_id=self._ids.message_id(),
            body=body,
            body_md5=body_md5(body),
            priority=DEFAULT_PRIORITY if priority is None else priority,
            enqueue_ms=int(now * 1000),
            visible_at=now,
        )
        delay = self.attributes.delay_seconds if delay is None else delay
        if delay > 0:
            self._give_handle(message)
            self._hide(message, now + delay, State.DELAYED)
        else:
            self._show(message)
        return message

    # -- consuming ----------------------------------------------------------------------

    def receive(self, limit: int, duplicate: Callable[[], bool] = _never) -> list[Message]:
        """Take up to ``limit`` visible messages; each gets a new handle and hides.

        ``duplicate`` is asked once per message; when it says yes, a copy stays visible
        so the message is delivered again (the duplicate-delivery fault).
        """
        now = self._clock()
        taken = [self._take(message, now) for message in self._pop_visible(limit, now)]
        for message in taken:
            if not message.duplicate and duplicate() and self.room() > 0:
                self._show(replace_copy(message, next(self._keys)))
        return taken

    def peek(self, limit: int) -> list[Message]:
        """The next ``limit`` visible messages, left where they are."""
        now = self._clock()
        messages = self._pop_visible(limit, now)
        for message in messages:
            heapq.heappush(self._visible, (message.priority, message.key, message))
        return messages

    def delete(self, handle: str) -> None:
        """Remove the message ``handle`` was issued for; a stale handle is an error."""
        message = self._live(handle, self._clock())
        self._drop_handle(message, ended=True)
        self._counts[message.state] -= 1
        message.state = State.GONE

    def change_visibility(self, handle: str, seconds: int) -> Message:
        """Hide the message for ``seconds`` from now under a new handle."""
        now = self._clock()
        message = self._live(handle, now)
        self._counts[message.state] -= 1
        self._give_handle(message)
        self._hide(message, now + seconds, State.INACTIVE)
        return message

    # -- inspection -----------------------------------------------------------------------

    def counts(self) -> QueueCounts:
        self._promote(self._clock())
        return QueueCounts(
            active=len(self._visible),
            inactive=self._counts[State.INACTIVE],
            delayed=self._counts[State.DELAYED],
        )

    def seconds_until_ready(self) -> float | None:
        """When the next hidden message becomes visible, if any is hidden."""
        if not self._hidden:
            return None
        return max(0.0, self._hidden[0][0] - self._clock())

    def snapshot(self) -> list[Message]:
        """Every live message in arrival order. O(n): for tests and diagnostics only."""
        self._promote(self._clock())
        live = {m.key: m for *_, m in self._visible}
        live.update((m.key, m) for *_, m in self._hidden if m.state in self._counts)
        return [live[key] for key in sorted(live)]

    # -- long polling ---------------------------------------------------------------------

    async def wait(self, seconds: float) -> None:
        """Sleep until a message may be available, the queue closes, or ``seconds`` pass."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            async with asyncio.timeout(seconds):
                await future
        except TimeoutError:
            pass
        finally:
            if not future.done():
                future.cancel()
                with suppress(ValueError):
                    self._waiters.remove(future)

    def wake(self, count: int = 1) -> None:
        """Wake up to ``count`` long polls; a woken poll that finds nothing waits again."""
        while count > 0 and self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                count -= 1

    def close(self) -> None:
        """The queue was deleted or the emulator stops: end every long poll now."""
        self.closed = True
        self.wake(len(self._waiters))

    # -- internals ------------------------------------------------------------------------

    def _pop_visible(self, limit: int, now: float) -> list[Message]:
        self._promote(now)
        retention_ms = self.attributes.message_retention_period * 1000
        popped: list[Message] = []
        while len(popped) < limit and self._visible:
            message = heapq.heappop(self._visible)[2]
            if now * 1000 - message.enqueue_ms > retention_ms:
                message.state = State.GONE  # past its retention period: MNS drops it
                continue
            popped.append(message)
        return popped

    def _take(self, message: Message, now: float) -> Message:
        message.dequeue_count += 1
        if not message.first_dequeue_ms:
            message.first_dequeue_ms = int(now * 1000)
        self._give_handle(message)
        self._hide(message, now + self.attributes.visibility_timeout, State.INACTIVE)
        return message

    def _live(self, handle: str, now: float) -> Message:
        self._promote(now)  # a handle whose message is visible again has ended
        message = self._handles.get(handle)
        if message is not None:
            return message
        if handle in self._ended:
            raise message_not_exist()
        raise receipt_handle_error(handle)  # malformed, never issued, or replaced

    def _give_handle(self, message: Message) -> None:
        self._drop_handle(message)
        message.handle = self._ids.receipt_handle()
        self._handles[message.handle] = message

    def _drop_handle(self, message: Message, *, ended: bool = False) -> None:
        if message.handle is not None:
            self._handles.pop(message.handle, None)
            if ended:
                self._ended[message.handle] = None
                if len(self._ended) > self._max_messages:
                    self._ended.popitem(last=False)
            message.handle = None

    def _hide(self, message: Message, until: float, state: State) -> None:
        message.state = state
        message.visible_at = until
        message.generation += 1
        self._counts[state] += 1
        heapq.heappush(self._hidden, (until, message.key, message.generation, message))
        if self._hidden[0][3] is message:
            # The earliest wake-up moved closer: long polls recompute how long to sleep.
            self.wake(len(self._waiters))

    def _show(self, message: Message) -> None:
        message.state = State.VISIBLE
        heapq.heappush(self._visible, (message.priority, message.key, message))
        self.wake()

    def _promote(self, now: float) -> None:
        """Make every hidden message whose time has come visible again."""
        while self._hidden and self._hidden[0][0] <= now:
            _, _, generation, message = heapq.heappop(self._hidden)
            if generation != message.generation or message.state not in self._counts:
                continue  # stale entry: deleted, or hidden again since
            self._counts[message.state] -= 1
            self._drop_handle(message, ended=True)
            self._show(message)


def replace_copy(message: Message, key: int) -> Message:
    """A visible duplicate of a just-received message, sharing its id and body."""
    return replace(message, key=key, handle=None, state=State.VISIBLE, duplicate=True)


async def poll(
    queue: Queue, limit: int, wait: float, duplicate: Callable[[], bool] = _never
) -> list[Message]:
    """ReceiveMessage with long polling: answer as soon as something is visible.

    Sleeps on the queue's waiters (woken by sends) with a timeout that also covers the
    next delayed or in-flight message becoming visible: no polling loop.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        messages = queue.receive(limit, duplicate)
        remaining = deadline - loop.time()
        if messages or queue.closed or remaining <= 0:
            return messages
        ready = queue.seconds_until_ready()
        # A millisecond of slack so the wake-up lands after, not just before, the deadline.
        await queue.wait(remaining if ready is None else min(remaining, ready + 0.001))
