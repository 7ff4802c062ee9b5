"""WAL checkpoints off the commit path: one thread, one connection of its own.

In WAL mode a commit appends pages to the WAL; a checkpoint copies them back into the
database file and syncs it, and once every page is copied the next commit starts the WAL
over from its beginning. Left to the writer (``wal_autocheckpoint``), the copy and the
database sync happen inside the commit that crosses the threshold, and every caller of
that group and of the groups queued behind it waits for them.

Here the writer only nudges (:meth:`Checkpointer.nudge`, a flag, after each commit that
wrote) and this thread runs a PASSIVE checkpoint: it never waits for the writer nor makes
the writer wait, and it copies what the writer committed while the writer goes on with the
next group, whose commit restarts the WAL when the copy finished first. The writer keeps
its own ``wal_autocheckpoint`` as the bound on the WAL's size for when this thread cannot
keep up (a writer that never pauses, a long read holding old pages): by then most pages are
copied already, and its checkpoint has only the rest to do.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection after each nudge.

    ``passes`` counts the checkpoints run, ``frames`` and ``copied`` are what the newest
    one reported (pages in the WAL, pages copied back) — for tests and benchmarks.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._wakeup = threading.Condition()
        self._due = False  # under the condition's lock
        self._stop = False
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.frames = 0
        self.copied = 0

    def start(self) -> None:
        conn = self._connect()  # here, so that a file that cannot be opened fails start()
        self._thread = threading.Thread(
            target=self._run, args=(conn,), name="batchrelay-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def nudge(self) -> None:
        """Something was committed: checkpoint it (called on the writer thread)."""
        with self._wakeup:
            self._due = True
            self._wakeup.notify()

    def stop(self) -> None:
        """Finish the checkpoint in progress, if any, and close the connection."""
        with self._wakeup:
            self._stop = True
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while self._wait():
                self._checkpoint(conn)
        finally:
            conn.close()

    def _wait(self) -> bool:
        """Waits for a nudge; false once stopped."""
        with self._wakeup:
            while not self._due and not self._stop:
                self._wakeup.wait()
            self._due = False
            return not self._stop

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            # (busy, frames, copied): busy when the writer's own checkpoint holds the lock
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the writer's bound still holds: never fatal
            log.warning("store.checkpoint_failed", error=f"{type(exc).__name__}: {exc}")
            return
        self.passes += 1
        _, self.frames, self.copied = row
