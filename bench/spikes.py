"""Where ingest latency spikes come from: a timeline of one daemon under a steady load.

Runs one batchrelay daemon (the config of bench/ingest.py: SQLite, synchronous=FULL) and
loads it at a steady rate with wrk and bench/ingest.lua (latency counted from each
request's due time). Meanwhile, every 20 ms, it samples from outside the daemon:

* the SQLite WAL index (the ``-shm`` file's header, see SQLite's "WAL-mode file format"):
  frames in the WAL (``mxFrame``: pages written by the commits) and frames copied back into
  the database (``nBackfill``: a checkpoint's progress). The WAL restarting (mxFrame
  falling) marks a completed checkpoint;
* each daemon thread's time on a CPU and time waiting for one (``/proc/PID/task/TID/
  schedstat``): a thread that waits to run is starved by other processes, not slow;
* the machine's CPU pressure (``/proc/pressure/cpu``, "some": time in which a runnable
  task had no CPU).

The daemon runs under bench/traced.py, which logs every full garbage collection (and any
other over a millisecond) and every moment no thread of the daemon could run for over
5 ms (a thread that wakes every 5 ms woke late: the GIL was held, or the process had no
CPU).

``--checkpointer 0.1`` tries a remedy from outside, without changing the daemon: a thread
of this process checkpoints the database every 0.1 s (PASSIVE, on a connection of its own,
synchronous=FULL), so that the WAL never grows to the daemon's autocheckpoint threshold
and the daemon's writer never checkpoints inside a commit.

``--strace`` also runs the daemon under strace, tracing only fsync/fdatasync (seccomp
filter; other system calls run untouched), which times every commit's WAL sync and every
checkpoint's database sync.

Printed: the latency percentiles, then each spike (requests over ``--threshold`` ms, in
clusters) with what the samples show around it, and a summary that compares the windows
with a checkpoint to those without.

    python bench/spikes.py [--rate 1000] [--seconds 30] [--threshold 50] [--strace]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from _common import ROOT, cpu_pressure_us, free_port, percentile, wait_http
from ingest import LUA, PATH, write_config

SAMPLE_EVERY = 0.02


@dataclass
class Sample:
    at: float  # time.monotonic()
    frames: int  # mxFrame: frames in the WAL
    backfilled: int  # nBackfill: frames already checkpointed
    threads: dict[int, tuple[int, int]]  # tid: (ns on a CPU, ns waiting for one)
    pressure_us: int  # /proc/pressure/cpu "some" total


def wal_index(shm: Path) -> tuple[int, int]:
    """(mxFrame, nBackfill) from the first WalIndexHdr and the WalCkptInfo after both
    copies of it; native byte order, as SQLite writes them."""
    try:
        with shm.open("rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return 0, 0
    if len(head) < 100:
        return 0, 0
    (frames,) = struct.unpack_from("=I", head, 16)
    (backfilled,) = struct.unpack_from("=I", head, 96)
    return frames, backfilled


def schedstat(pid: int) -> dict[int, tuple[int, int]]:
    stats = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError):
            on_cpu, waiting, _ = (task / "schedstat").read_text().split()
            stats[int(task.name)] = (int(on_cpu), int(waiting))
    return stats


class Sampler(threading.Thread):
    def __init__(self, pid: int, shm: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.shm = pid, shm
        self.samples: list[Sample] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_EVERY):
            frames, backfilled = wal_index(self.shm)
            sample = Sample(time.monotonic(), frames, backfilled, schedstat(self.pid),
                            cpu_pressure_us() or 0)  # fmt: skip
            self.samples.append(sample)


class Checkpointer(threading.Thread):
    """PASSIVE checkpoints every ``every`` seconds from a connection of its own."""

    def __init__(self, db: Path, every: float) -> None:
        super().__init__(daemon=True)
        self.db, self.every = db, every
        self.took: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA busy_timeout = 5000")
        while not self.stopping.wait(self.every):
            began = time.monotonic()
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.took.append(time.monotonic() - began)
        conn.close()


@contextlib.contextmanager
def daemon(folder: Path, port: int, strace: bool) -> Iterator[int]:
    """The daemon's PID, under strace if asked."""
    config = write_config(folder, port)
    traced = Path(__file__).with_name("traced.py")
    argv = [sys.executable, str(traced), str(folder / "trace"), "run", "-c", str(config)]
    if strace:
        trace = ["strace", "-f", "--seccomp-bpf", "-e", "trace=fsync,fdatasync", "-y", "-T"]
        trace += ["--absolute-timestamps=format:unix,precision:us", "-o", str(folder / "strace")]
        argv = trace + argv
    with (folder / "relay.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    pid = proc.pid
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        if strace:  # the daemon is strace's child
            pid = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        yield pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # strace ends with the daemon
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Request:
    due: float  # monotonic
    latency: float
    late: float


def load(port: int, rate: float, seconds: int, connections: int, folder: Path) -> list[Request]:
    out = folder / "wrk.txt"
    env = {**os.environ, "BENCH_RUN": "spikes", "BENCH_OUT": str(out),
           "BENCH_RATE": str(rate), "BENCH_CONNECTIONS": str(connections)}  # fmt: skip
    argv = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    subprocess.run([*argv, "-s", str(LUA), f"http://127.0.0.1:{port}{PATH}"], env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    requests = []
    for line in out.read_text().splitlines()[1:]:
        latency, late, due = (int(x) / 1e6 for x in line.split())
        requests.append(Request(due, latency, late))
    return sorted(requests, key=lambda r: r.due)


def fsyncs(path: Path, clock_offset: float) -> list[tuple[float, str, float]]:
    """(start on the monotonic clock, file, seconds) of every traced fsync/fdatasync."""
    pattern = re.compile(r"\d+\s+([\d.]+) f(?:data)?sync\(\d+<([^>]+)>\) = 0 <([\d.]+)>")
    found = []
    for line in path.read_text().splitlines():
        if match := pattern.match(line):
            at, name, took = match.groups()
            found.append((float(at) - clock_offset, Path(name).name, float(took)))
    return found


@dataclass
class Trace:
    """What bench/traced.py logged: garbage collections and stalls (start, seconds)."""

    names: dict[int, str] = field(default_factory=dict)  # thread id: Python name
    full_gcs: list[tuple[float, float]] = field(default_factory=list)
    other_gcs: list[tuple[float, float]] = field(default_factory=list)
    stalls: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Trace:
        trace = cls()
        for line in path.read_text().splitlines():
            kind, *fields = line.split()
            if kind == "thread":
                trace.names[int(fields[0])] = " ".join(fields[1:])
            elif kind == "gc":
                gcs = trace.full_gcs if fields[2] == "2" else trace.other_gcs
                gcs.append((float(fields[0]), float(fields[1])))
            elif kind == "stall":
                trace.stalls.append((float(fields[0]), float(fields[1])))
        return trace

    def within(self, start: float, end: float) -> str:
        def inside(spans: list[tuple[float, float]]) -> list[float]:
            return [took for at, took in spans if start <= at <= end]

        full, other, stalls = inside(self.full_gcs), inside(self.other_gcs), inside(self.stalls)
        return (
            f"{len(full)} full GC ({sum(full) * 1000:.0f} ms), {len(other)} other GC over 1 ms"
            f" ({sum(other) * 1000:.0f} ms); stalls over 5 ms: {len(stalls)}, longest "
            f"{max(stalls, default=0) * 1000:.0f} ms"
        )


@dataclass
class Window:
    """What the samples say about [start, end)."""

    frames: int  # WAL frames written (summed over restarts)
    checkpointed: int  # frames copied back into the database
    restarts: int  # the WAL restarted (a checkpoint had completed)
    on_cpu: dict[int, float]  # thread: seconds on a CPU
    waiting: dict[int, float]  # thread: seconds runnable, waiting for a CPU
    pressure: float  # share of the window in which some task waited for a CPU


def window(samples: list[Sample], start: float, end: float) -> Window:
    inside = [s for s in samples if start <= s.at <= end]
    if len(inside) < 2:
        return Window(0, 0, 0, {}, {}, 0.0)
    frames = checkpointed = restarts = 0
    for a, b in itertools.pairwise(inside):
        if b.frames < a.frames:  # restarted: count what was written since
            restarts += 1
            frames += b.frames
        else:
            frames += b.frames - a.frames
        if b.backfilled >= a.backfilled:
            checkpointed += b.backfilled - a.backfilled
        else:
            checkpointed += b.backfilled
    first, last = inside[0], inside[-1]
    span = last.at - first.at
    on_cpu, waiting = {}, {}
    for tid, (run, wait) in last.threads.items():
        run0, wait0 = first.threads.get(tid, (0, 0))
        on_cpu[tid], waiting[tid] = (run - run0) / 1e9, (wait - wait0) / 1e9
    pressure = (last.pressure_us - first.pressure_us) / 1e6 / span if span else 0.0
    return Window(frames, checkpointed, restarts, on_cpu, waiting, pressure)


def spikes(requests: list[Request], threshold: float) -> list[list[Request]]:
    """Requests over the threshold, in clusters: one spike is what a stall does."""
    clusters: list[list[Request]] = []
    for r in (r for r in requests if r.latency > threshold):
        if clusters and r.due - clusters[-1][-1].due < 0.5:
            clusters[-1].append(r)
        else:
            clusters.append([r])
    return clusters


def describe(w: Window, names: dict[int, str], seconds: float) -> str:
    threads = sorted(w.on_cpu, key=lambda t: -w.on_cpu[t])[:2]
    cpu = ", ".join(
        f"{names.get(t, t)} on CPU {w.on_cpu[t] / seconds:.0%} waiting {w.waiting[t] / seconds:.0%}"
        for t in threads
    )
    return (
        f"WAL +{w.frames} frames, {w.restarts} checkpoints completed (WAL restarts); "
        f"CPU pressure {w.pressure:.0%}; {cpu}"
    )


def report(
    requests: list[Request],
    samples: list[Sample],
    names: dict[int, str],
    threshold: float,
    trace: Trace,
    synced: list[tuple[float, str, float]] | None,
) -> None:
    latencies = [r.latency for r in requests]
    t0 = requests[0].due
    pcts = " / ".join(f"{percentile(latencies, p) * 1000:.1f}" for p in (50, 99, 99.9))
    print(f"{len(requests)} requests; latency from due time p50/p99/p99.9 ms: {pcts}, "
          f"max {max(latencies) * 1000:.1f}")  # fmt: skip
    clusters = spikes(requests, threshold)
    print(f"spikes (requests over {threshold * 1000:.0f} ms, clustered): {len(clusters)}")
    for cluster in clusters:
        worst = max(cluster, key=lambda r: r.latency)
        # the stall began about when the worst request was due and lasted about its
        # latency; a little before, in case its cause began just before
        start, end = worst.due - 0.05, worst.due + worst.latency
        w = window(samples, start, end)
        print(
            f"  t={start - t0:6.2f}s {len(cluster):4} requests, worst {worst.latency * 1000:6.1f}"
            f" ms: {describe(w, names, end - start)}"
        )
        print(f"          {trace.within(start, end)}")
        if synced is not None:
            near = [f for f in synced if start - 0.05 <= f[0] <= end]
            slow = sorted(near, key=lambda f: -f[2])[:3]
            syncs = ", ".join(f"{name} {took * 1000:.1f} ms" for _, name, took in slow)
            print(f"          {len(near)} fsyncs in it, the slowest: {syncs or '-'}")
    compare(requests, samples, trace)
    for label, spans in (("full GCs", trace.full_gcs), ("other GCs over 1 ms", trace.other_gcs),
                         ("stalls over 5 ms", trace.stalls)):  # fmt: skip
        took = [t for _, t in spans]
        figures = f"p50 {percentile(took, 50) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms"
        print(f"{label}: {len(took)}" + (f", {figures}" if took else ""))
        if label == "full GCs" and spans:
            at = ", ".join(f"{start - t0:.1f}" for start, _ in spans)
            print(f"  at t (s): {at}")
    frames = window(samples, requests[0].due, requests[-1].due).frames
    print(f"WAL frames (pages) written: {frames}, {frames / len(requests):.1f} per event")
    if synced:
        for suffix in ("-wal", ".db"):
            took = [f[2] for f in synced if f[1].endswith(suffix)]
            print(f"fdatasync of *{suffix}: {len(took)}, {ms_pcts(took)}")
        cost = checkpoint_costs(synced)
        every = (requests[-1].due - t0) / len(cost) if cost else float("nan")
        print(f"checkpoints: {len(cost)}, one every {every:.2f} s; each one's time in the "
              f"writer's commit: {ms_pcts(cost)}")  # fmt: skip


def ms_pcts(seconds: list[float]) -> str:
    return (
        f"p50 {percentile(seconds, 50) * 1000:.2f} ms, p99 {percentile(seconds, 99) * 1000:.2f}"
        f" ms, max {max(seconds, default=float('nan')) * 1000:.1f} ms"
    )


def checkpoint_costs(synced: list[tuple[float, str, float]]) -> list[float]:
    """How long each checkpoint held up the commit it ran in: from the end of that
    commit's WAL sync to the end of the database sync, which closes the checkpoint (SQLite
    checkpoints in the committing connection once the WAL passes wal_autocheckpoint;
    between the two it copies the frames into the database file)."""
    costs, wal_synced = [], None
    for at, name, took in synced:
        if name.endswith("-wal"):
            wal_synced = at + took
        elif name.endswith(".db") and wal_synced is not None:
            costs.append(at + took - wal_synced)
    return costs


def compare(requests: list[Request], samples: list[Sample], trace: Trace) -> None:
    """Latency in 100 ms windows where a checkpoint ran against windows where none did,
    with and without a full garbage collection, and of high against low CPU pressure."""
    step, start = 0.1, requests[0].due
    rows = []
    while start < requests[-1].due:
        inside = [r.latency for r in requests if start <= r.due < start + step]
        if inside:
            full_gc = any(start <= at < start + step for at, _ in trace.full_gcs)
            rows.append((window(samples, start, start + step), full_gc, max(inside)))
        start += step
    groups = {
        "with a checkpoint": [m for w, _, m in rows if w.checkpointed or w.restarts],
        "without a checkpoint": [m for w, _, m in rows if not (w.checkpointed or w.restarts)],
        "with a full GC": [m for _, gc, m in rows if gc],
        "without a full GC": [m for _, gc, m in rows if not gc],
        "CPU pressure >= 50%": [m for w, _, m in rows if w.pressure >= 0.5],
        "CPU pressure < 20%": [m for w, _, m in rows if w.pressure < 0.2],
    }
    print("100 ms windows: worst latency in the window, median / p90 / max ms")
    for label, worst in groups.items():
        if worst:
            figures = " / ".join(f"{percentile(worst, p) * 1000:.1f}" for p in (50, 90, 100))
            print(f"  {label:<20} {len(worst):4} windows: {figures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=50, help="ms: a spike")
    parser.add_argument("--checkpointer", type=float, help="s between outside checkpoints")
    parser.add_argument("--strace", action="store_true", help="time every fsync (strace)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, port = Path(tmp), free_port()
        clock_offset = time.time() - time.monotonic()
        with daemon(folder, port, args.strace) as pid:
            sampler = Sampler(pid, folder / "bench.db-shm")
            sampler.start()
            checkpointer = Checkpointer(folder / "bench.db", args.checkpointer or 0)
            if args.checkpointer:
                checkpointer.start()
            requests = load(port, args.rate, args.seconds, args.connections, folder)
            for thread in (sampler, checkpointer):
                thread.stopping.set()
                if thread.is_alive():
                    thread.join()
        synced = fsyncs(folder / "strace", clock_offset) if args.strace else None
        trace = Trace.read(folder / "trace")
    report(requests, sampler.samples, trace.names, args.threshold / 1000, trace, synced)
    if args.checkpointer:
        print(f"outside checkpoints (every {args.checkpointer:g} s): {len(checkpointer.took)}, "
              f"{ms_pcts(checkpointer.took)}")  # fmt: skip


if __name__ == "__main__":
    main()
