"""MNS drain rate: batchrelay's queue consumer against the limit and against the naive loop.

Three consumers drain the same N simulated IMM/ICE messages (``batchrelay simulate
--dry-run``), each from its own queue, freshly filled, on one local MNS emulator (a child
process, ``batchrelay emulator``), one after the other:

* naive loop: what the SDK's samples show, on one thread: receive one message, store it
  durably (its own SQLite file, WAL, synchronous=FULL, one transaction per message),
  delete it, repeat;
* do-nothing consumer, the limit: the official SDK on as many threads as batchrelay has
  pollers, each with its own client, doing what batchrelay's pollers do with the queue
  (BatchReceiveMessage of 16 with a long poll, BatchDeleteMessage of what it received)
  and nothing else: no parsing, no commit. What the emulator and the SDK allow;
* batchrelay: the daemon (``batchrelay run``, a child process) consuming the queue with
  its pollers: batch receive, decode, parse and a durable group commit (SQLite,
  synchronous=FULL) of every message, then batch delete.

Every drain is timed the same way, from outside: a watcher polls the queue's attributes
every 10 ms and times from the first message received (fewer active messages) to the
queue being empty (no active or inactive message left).

    python bench/mns_consume.py [--messages 20000] [--pollers 8]
"""

from __future__ import annotations

import argparse
import functools
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT, CpuPressure, child, free_port, machine_load
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

KEY_ID, KEY_SECRET = "bench", "bench-secret"
START = "2026-11-20T02:00:00+00:00"


def bodies(count: int) -> list[str]:
    """``count`` realistic queue messages: mixed IMM/ICE batches of 250 files (about 500
    messages each), as the simulator would send them."""
    argv = [sys.executable, "-m", "batchrelay", "simulate", "--dry-run", "--target",
            "mns-queue", "--kind", "mixed", "--batches", str(count // 400 + 1), "--tasks",
            "250", "--seed", "1", "--start-time", START]  # fmt: skip
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert len(lines) >= count, "generate more batches"
    return lines[:count]


def queue(endpoint: str, name: str) -> Any:
    q = Account(endpoint, KEY_ID, KEY_SECRET).get_queue(name)
    q.set_encoding(False)  # as IMM and ICE write them: plain text
    return q


def fill(endpoint: str, name: str, messages: list[str]) -> None:
    q = queue(endpoint, name)
    q.create(QueueMeta(vis_timeout=30))
    for start in range(0, len(messages), 16):
        q.batch_send_message([Message(m) for m in messages[start : start + 16]])


def counts(q: Any) -> tuple[int, int]:
    """(active, inactive) messages."""
    with warnings.catch_warnings():  # deprecated in the SDK, still served
        warnings.simplefilter("ignore", DeprecationWarning)
        attrs = q.get_attributes()
        return int(attrs.active_messages), int(attrs.inactive_messages)


def timed_drain(
    endpoint: str, name: str, total: int, consume: Callable[[threading.Event], object]
) -> float:
    """Seconds from the first message received to an empty queue, seen from outside while
    ``consume(drained)`` runs on a thread; ``drained`` is set once the queue is empty."""
    watcher = queue(endpoint, name)
    first: list[float] = []
    drained = threading.Event()
    worker = threading.Thread(target=consume, args=(drained,))
    worker.start()
    try:
        while True:
            active, inactive = counts(watcher)
            now = time.perf_counter()
            if not first and active < total:
                first.append(now - 0.005)  # received within the last poll: count half of it
            if first and active + inactive == 0:
                return now - first[0]
            time.sleep(0.01)
    finally:
        drained.set()
        worker.join()


def naive_loop(endpoint: str, name: str, folder: Path, drained: threading.Event) -> None:
    """receive_message → store → delete_message, one at a time, as in the SDK samples."""
    db = sqlite3.connect(folder / f"{name}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE messages (id TEXT PRIMARY KEY, type TEXT, body TEXT)")
    q = queue(endpoint, name)
    while True:
        try:
            message = q.receive_message(wait_seconds=1)
        except MNSServerException as exc:
            if exc.type == "MessageNotExist":
                break
            raise
        event = json.loads(message.message_body)
        with db:  # one durable transaction per message
            db.execute("BEGIN")
            db.execute("INSERT OR IGNORE INTO messages VALUES (?, ?, ?)",
                       (message.message_id, event.get("type"), message.message_body))  # fmt: skip
        q.delete_message(message.receipt_handle)
    db.close()


def do_nothing(endpoint: str, name: str, threads: int, drained: threading.Event) -> None:
    """``threads`` SDK clients: batch receive 16, batch delete them; no other work."""

    def poller() -> None:
        q = queue(endpoint, name)
        while True:
            try:
                messages = q.batch_receive_message(16, 1)
            except MNSServerException as exc:
                if exc.type == "MessageNotExist":
                    return
                raise
            q.batch_delete_message([m.receipt_handle for m in messages])

    workers = [threading.Thread(target=poller) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def daemon_config(folder: Path, endpoint: str, name: str, pollers: int) -> tuple[Path, int]:
    port = free_port()
    source = {"endpoint": endpoint, "queue": name, "access_key_id": KEY_ID,
              "access_key_secret": KEY_SECRET, "pollers": pollers, "wait_seconds": 1}  # fmt: skip
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "store": {"url": f"sqlite:///{folder}/{name}.db", "synchronous": "FULL"},
        "log": {"level": "info", "format": "json"},
        "sources": {"mns_queues": [source]},
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path, port


def daemon(folder: Path, endpoint: str, name: str, pollers: int, drained: threading.Event) -> None:
    """batchrelay as a process (``batchrelay run``) until the queue is drained."""
    config, port = daemon_config(folder, endpoint, name, pollers)
    argv = ["-m", "batchrelay", "run", "-c", str(config)]
    with child(argv, f"http://127.0.0.1:{port}/readyz", folder / f"{name}.log"):
        drained.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--pollers", type=int, default=8)
    args = parser.parse_args()
    messages, pollers = bodies(args.messages), args.pollers
    n = len(messages)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    before = machine_load()
    seconds: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        CpuPressure("during the run (consumers, emulator, others' work)") as during,
    ):
        folder = Path(tmp)
        argv = ["-m", "batchrelay", "emulator", "--port", str(port), "--log-level", "warning",
                "--access-key", f"{KEY_ID}:{KEY_SECRET}"]  # fmt: skip
        with child(argv, f"{endpoint}/x509_public_certificate.pem", folder / "emulator.log"):
            consumers = {
                "naive": functools.partial(naive_loop, endpoint, "naive", folder),
                "limit": functools.partial(do_nothing, endpoint, "limit", pollers),
                "relay": functools.partial(daemon, folder, endpoint, "relay", pollers),
            }
            for name, consume in consumers.items():  # each on a queue of its own, just filled
                fill(endpoint, name, messages)
                seconds[name] = timed_drain(endpoint, name, n, consume)
    naive, limit, relay = seconds["naive"], seconds["limit"], seconds["relay"]
    print(f"mns_consume: drain {n} messages from the MNS emulator (one process, serving each")
    print("consumer in turn); timed from the first message received to an empty queue")
    print(f"{'consumer':<62} | seconds | messages/s")
    rows = [
        ("naive loop (1 thread: receive 1, store durably, delete 1)", naive),
        (f"do-nothing ({pollers} threads: receive 16, delete them; no work)", limit),
        (f"batchrelay ({pollers} pollers: receive 16, durable commit, delete)", relay),
    ]
    for label, seconds in rows:
        print(f"{label:<62} | {seconds:7.2f} | {n / seconds:10.0f}")
    print(f"batchrelay / do-nothing consumer: {limit / relay:.2f} of the limit")
    print(f"batchrelay / naive loop: {naive / relay:.1f}x")
    print(before)
    print(during)


if __name__ == "__main__":
    main()
