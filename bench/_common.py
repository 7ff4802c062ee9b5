"""Helpers shared by the benchmarks: free ports, child processes, latency summaries."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


@contextlib.contextmanager
def child(
    argv: Sequence[str], ready_url: str, log: Path, cpus: set[int] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a child process until the block ends; its output goes to ``log``.

    ``cpus`` pins the child, threads included, to those cores.
    """
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=os.environ.copy(),
            preexec_fn=pin,
        )
        try:
            wait_http(ready_url)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def percentile(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def cpu_pressure_us() -> int | None:
    """The machine's CPU pressure so far (``/proc/pressure/cpu``, "some": microseconds in
    which a runnable task waited for a CPU); ``None`` where the kernel does not report it."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None
    return int(some.rsplit("total=", 1)[1])


class CpuPressure:
    """The share of a block's time in which some runnable task waited for a CPU: what
    others' work (before a run) or the run itself (during it) asked of the cores beyond
    what they had. Printed beside figures measured on a machine that others may use."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.share: float | None = None

    def __enter__(self) -> CpuPressure:
        self._start, self._began = cpu_pressure_us(), time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        end, elapsed = cpu_pressure_us(), time.monotonic() - self._began
        if self._start is not None and end is not None and elapsed > 0:
            self.share = (end - self._start) / 1e6 / elapsed

    def __str__(self) -> str:
        share = "not reported by this kernel" if self.share is None else f"{self.share:.0%}"
        return f"CPU pressure {self.label}: {share}"


def machine_load(seconds: float = 3.0) -> CpuPressure:
    """CPU pressure over a few seconds before a run: others' load on the machine (0% when
    nothing else runs)."""
    with CpuPressure("from other work before the run") as pressure:
        time.sleep(seconds)
    return pressure
