"""Whether a store can commit now: what ``Store.ping`` (so ``/readyz``) reports.

A store that answers reads may still be unable to write: a full disk, a read-only file
system, a PostgreSQL server in read-only mode. Reads cannot tell, so each store's writer
reports how its transactions end here, and ``ping`` asks for a small durable write of its
own (a *probe*) when the last transaction failed, or when none has been seen for a while.
A success (a commit or a probe) makes the store ready again: nothing has to restart.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from batchrelay.errors import StoreError

#: Without a commit for this long, ``ping`` writes a probe before it says ready.
QUIET_SECONDS = 10.0
#: Probes at most this often; between them ``ping`` repeats the last answer.
PROBE_SECONDS = 1.0


class WriteHealth:
    """The outcome of the newest write, and when to try a probe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.failure: str | None = None
        self._last_ok = clock()
        self._last_probe = float("-inf")

    def succeeded(self) -> None:
        self.failure = None
        self._last_ok = self._clock()

    def failed(self, error: BaseException) -> None:
        self.failure = str(error) or type(error).__name__

    async def check(self, probe: Callable[[], Awaitable[None]]) -> None:
        """Raise ``StoreError`` unless the store can commit, probing when in doubt."""
        now = self._clock()
        in_doubt = self.failure is not None or now - self._last_ok >= QUIET_SECONDS
        if in_doubt and now - self._last_probe >= PROBE_SECONDS:
            self._last_probe = now
            try:
                await probe()
            except StoreError as exc:
                self.failed(exc)
            else:
                self.succeeded()
        if self.failure is not None:
            raise StoreError(f"the store cannot commit: {self.failure}")
