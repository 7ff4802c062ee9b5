"""Ingest: batchrelay's /ingest/eventbridge against a bare aiohttp handler, loaded by wrk.

Both servers run as child processes on 127.0.0.1, unpinned, in the same run; rounds
alternate between them. batchrelay commits each event durably (SQLite, synchronous=FULL,
group commit) before its 200; the baseline reads the body and answers 204. The load
comes from wrk (a C client) running bench/ingest.lua, which sends a distinct CloudEvent
(its own id and task id) in every request, so that the client is not what is measured.

Throughput (the default): each of ``--clients`` keep-alive connections sends as fast as
it is answered. Printed per level: the median round's rate, its p50, p99 and p99.9
latency, and the ratio of the two rates.

Steady load (``--rate 1000``): one connection per wrk thread, each sending on its own
fixed schedule, and every latency counted from the time its request was due (so a server
that stalls is charged for the requests it kept waiting: what wrk2 does, which Debian does
not package). That is the commit latency a sender sees at that rate: request to durable
answer. Printed with it: the daemon's own ``batchrelay_commit_seconds`` histogram over the
same rounds (the transaction alone, without the wait for the writer).

``--client python`` (the default where wrk is missing) loads the servers from an aiohttp
client in this process instead; it is the bottleneck above a few thousand requests a
second, so its ratios are not comparable with wrk's.

    python bench/ingest.py [--seconds 5] [--rounds 3] [--clients 64] [--alerts]
    python bench/ingest.py --rate 1000 [--connections 32] [--seconds 10]
    python bench/ingest.py --rss 1000000 [--clients 64]

Memory (``--rss N``): one daemon, loaded by wrk until it has answered N events; its
resident set (``VmRSS`` in ``/proc/PID/status``) is read after N/10 events and after N,
to show that memory stays flat as the store grows.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml
from _common import CpuPressure, child, free_port, machine_load, percentile
from prometheus_client.parser import text_string_to_metric_families

PATH = "/ingest/eventbridge"
LUA = Path(__file__).with_name("ingest.lua")
_counter = itertools.count()


def cloud_event(run: str) -> bytes:
    """One distinct event (bench/ingest.lua sends the same mix from wrk)."""
    n = next(_counter)
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"bench-{run}-{n}",
            "source": "acs.imm",
            "type": "imm:Task:OfficeConversion",
            "subject": "acs.imm:cn-shanghai:1234567890123456:bench",
            "time": "2026-11-20T11:30:02+08:00",
            "datacontenttype": "application/json",
            "data": {
                "ProjectName": "bench",
                "TaskType": "OfficeConversion",
                "TaskId": f"OfficeConversion-{run}-{n}",
                "Status": "Succeeded" if n % 10 else "Failed",
                "Code": "" if n % 10 else "InvalidFile.Corrupted",
                "EventSourceId": f"batch-{run}-{n % 50}",
                "StartTime": "2026-11-20T03:29:58.102Z",
                "EndTime": "2026-11-20T03:30:02.211Z",
                "Sources": [{"URI": f"oss://bench/in/{n}.docx"}],
            },
        }
    ).encode()


PCTS = (50, 99, 99.9)


@dataclass
class Round:
    """One server's round: answered requests, time taken, latency percentiles (s) and,
    when every latency is known, the latencies themselves and how late each request went
    out (paced rounds)."""

    answered: int
    seconds: float
    pcts: dict[float, float]
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)

    @classmethod
    def of(
        cls, answered: int, seconds: float, latencies: list[float], errors: int, late: list[float]
    ) -> Round:
        pcts = {p: percentile(latencies, p) for p in PCTS}
        return cls(answered, seconds, pcts, errors, latencies, late)

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


# ------------------------------------------------------------------------------ wrk


def wrk_round(
    url: str, clients: int, seconds: int, run: str, folder: Path, rate: float | None = None
) -> Round:
    out = folder / f"wrk-{run}.txt"
    env = {**os.environ, "BENCH_RUN": run, "BENCH_OUT": str(out)}
    threads = min(clients, len(os.sched_getaffinity(0)))
    if rate:  # one connection per thread, each on its own schedule (see ingest.lua)
        env |= {"BENCH_RATE": str(rate), "BENCH_CONNECTIONS": str(clients)}
        threads = clients
    argv = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s"]
    argv += ["-s", str(LUA), url + PATH]
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    summary_line, *samples = out.read_text().splitlines()
    summary = json.loads(summary_line)
    errors = sum(summary[k] for k in ("connect", "read", "write", "status", "timeout"))
    answered = summary["requests"] - summary["status"]
    if not rate:  # closed loop: wrk's own histogram has the percentiles
        keys = ("p50_us", "p99_us", "p999_us")
        pcts = {p: summary[k] / 1e6 for p, k in zip(PCTS, keys, strict=True)}
        return Round(answered, summary["duration_us"] / 1e6, pcts, errors)
    due = [int(line.split()[0]) / 1e6 for line in samples]
    late = [int(line.split()[1]) / 1e6 for line in samples]
    # the schedules start 0.2 s after wrk sets its threads up (ingest.lua's epoch)
    return Round.of(answered, summary["duration_us"] / 1e6 - 0.2, due, errors, late)


# ------------------------------------------------------------------------------ Python


async def python_round(
    url: str, clients: int, seconds: float, run: str, rate: float | None = None
) -> Round:
    """The fallback: ``clients`` aiohttp workers; paced when ``rate`` is given (each
    request then starts at its due time, and its latency counts from that time)."""
    latencies: list[float] = []
    late: list[float] = []
    errors = 0
    headers = {"Content-Type": "application/cloudevents+json"}
    started = time.perf_counter()
    deadline = started + seconds
    slots = itertools.count()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def worker() -> None:
            nonlocal errors
            while True:
                due = started + next(slots) / rate if rate else time.perf_counter()
                if due >= deadline:
                    return
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                late.append(max(0.0, time.perf_counter() - due))
                async with session.post(url + PATH, data=cloud_event(run), headers=headers) as r:
                    await r.read()
                    if r.status >= 300:
                        errors += 1
                        continue
                latencies.append(time.perf_counter() - due)

        await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return Round.of(len(latencies), elapsed, latencies, errors, late if rate else [])


# ------------------------------------------------------------------------------ the daemon


def write_config(folder: Path, port: int, alerts: bool = False) -> Path:
    """The daemon's config; with ``alerts``, the four starter rules of config/example.yaml
    (every commit marks its batch, the evaluator looks at it within half a second)."""
    config = folder / "bench.yaml"
    text = (
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        f"store: {{url: 'sqlite:///{folder}/bench.db', synchronous: FULL}}\n"
        "log: {level: info, format: json}\n"
    )
    if alerts:
        example = yaml.safe_load((Path(__file__).parents[1] / "config/example.yaml").read_text())
        text += yaml.safe_dump({"alerts": {"rules": example["alerts"]["rules"]}})
    config.write_text(text)
    return config


def commit_histogram(base_url: str) -> dict[float, float]:
    """The daemon's ``batchrelay_commit_seconds`` buckets: upper bound → cumulative count."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "batchrelay_commit_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets[float(sample.labels["le"])] = sample.value
    return buckets


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """``q`` of the observations made between two scrapes, interpolated inside the bucket
    as Prometheus's histogram_quantile() does."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower  # past the last finite bucket: its bound is all we know
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1)
        lower, below = bound, cumulative
    return lower


# ------------------------------------------------------------------------------ runs


@dataclass
class Side:
    rounds: list[Round] = field(default_factory=list)

    def median(self) -> Round:
        return sorted(self.rounds, key=lambda r: r.rate)[len(self.rounds) // 2]

    def pooled(self) -> Round:
        answered = sum(r.answered for r in self.rounds)
        seconds = sum(r.seconds for r in self.rounds)
        latencies = [x for r in self.rounds for x in r.latencies]
        late = [x for r in self.rounds for x in r.late]
        return Round.of(answered, seconds, latencies, sum(r.errors for r in self.rounds), late)


def run(
    args: argparse.Namespace, levels: list[int]
) -> tuple[dict[int, tuple[Side, Side]], tuple[dict[float, float], dict[float, float]]]:
    """Alternate bare and relay rounds at each level; returns both sides' rounds per level
    and the daemon's commit histogram before and after."""
    results: dict[int, tuple[Side, Side]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare_port, relay_port = free_port(), free_port()
        config = write_config(folder, relay_port, args.alerts)
        bare_url, relay_url = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{relay_port}"
        bare_argv = ["bench/bare_server.py", str(bare_port)]
        relay_argv = ["-m", "batchrelay", "run", "-c", str(config)]
        with (
            child(bare_argv, f"{bare_url}/healthz", folder / "bare.log"),
            child(relay_argv, f"{relay_url}/readyz", folder / "relay.log"),
        ):
            before = commit_histogram(relay_url)
            for clients in levels:
                bare, relay = Side(), Side()
                for n in range(args.rounds):
                    for side, url, name in ((bare, bare_url, "bare"), (relay, relay_url, "relay")):
                        tag = f"{name}-c{clients}-r{n}"
                        side.rounds.append(one_round(args, url, clients, tag, folder))
                results[clients] = (bare, relay)
            after = commit_histogram(relay_url)
    return results, (before, after)


def one_round(args: argparse.Namespace, url: str, clients: int, tag: str, folder: Path) -> Round:
    if args.client == "wrk":
        return wrk_round(url, clients, args.seconds, tag, folder, args.rate)
    return asyncio.run(python_round(url, clients, args.seconds, tag, args.rate))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_throughput(args: argparse.Namespace, results: dict[int, tuple[Side, Side]]) -> None:
    rules = " with the four starter alert rules" if args.alerts else ""
    client = "wrk (C), distinct events" if args.client == "wrk" else "Python aiohttp client"
    print(f"ingest: POST {PATH}, durable commit (SQLite FULL){rules}, vs a bare 204 handler")
    print(f"load: {client}; both servers unpinned; median of {args.rounds} alternating")
    print(f"rounds of {args.seconds:g} s per level")
    print(
        "clients | bare ev/s | relay ev/s | ratio | relay p50/p99/p99.9 ms | bare p50/p99/p99.9 ms"
    )
    for clients, (bare_side, relay_side) in results.items():
        bare, relay = bare_side.median(), relay_side.median()
        ratio = relay.rate / bare.rate if bare.rate else float("nan")
        print(
            f"{clients:>7} | {bare.rate:>9.0f} | {relay.rate:>10.0f} | {ratio:>5.2f} | "
            f"{latencies(relay):>22} | {latencies(bare):>21}"
        )
        ratios = [r.rate / b.rate for b, r in zip(bare_side.rounds, relay_side.rounds, strict=True)]
        print(f"        ratio by round: {' '.join(f'{x:.2f}' for x in ratios)}")
        errors = sum(r.errors for r in relay_side.rounds), sum(r.errors for r in bare_side.rounds)
        if any(errors):
            print(f"        errors (refused, timeouts): relay {errors[0]}, bare {errors[1]}")


def latencies(r: Round) -> str:
    return " / ".join(ms(r.pcts[p]) for p in PCTS)


def print_steady(
    args: argparse.Namespace,
    results: dict[int, tuple[Side, Side]],
    histogram: tuple[dict[float, float], dict[float, float]],
) -> None:
    (clients, (bare_side, relay_side)), *_ = results.items()
    print(f"ingest at a steady {args.rate:g} events/s: POST {PATH}, durable commit (SQLite FULL)")
    if args.client == "wrk":
        print(f"load: wrk, {clients} connections, each on its own schedule; latency from the")
    else:
        print(f"load: Python aiohttp client, {clients} workers on one schedule; latency from the")
    print(f"time each request was due; {args.rounds} alternating rounds of {args.seconds:g} s,")
    print("pooled")
    print("server     | sent ev/s | p50 ms | p99 ms | p99.9 ms | max ms | late > 1 ms | errors")
    for name, side in (("bare", bare_side), ("batchrelay", relay_side)):
        r = side.pooled()
        late = sum(1 for x in r.late if x > 0.001)
        p50, p99, p999 = (ms(r.pcts[p]) for p in PCTS)
        print(
            f"{name:<10} | {r.rate:>9.0f} | {p50:>6} | {p99:>6} | {p999:>8} | "
            f"{ms(max(r.latencies, default=float('nan'))):>6} | {late:>11} | {r.errors:>6}"
        )
    by_round = " ".join(ms(r.pcts[99]) for r in relay_side.rounds)
    print(f"batchrelay p99 by round (ms): {by_round}")
    before, after = histogram
    quantiles = " / ".join(ms(histogram_quantile(q, before, after)) for q in (0.5, 0.99, 0.999))
    print(f"batchrelay_commit_seconds (one group transaction) p50/p99/p99.9 ms: {quantiles}")


def vm_rss_kib(pid: int) -> int:
    """The process's resident set, as the kernel counts it (``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def rss_run(args: argparse.Namespace) -> list[tuple[int, int]]:
    """wrk rounds against one daemon until ``args.rss`` events are answered; returns
    (events answered, VmRSS KiB) after the first round past a tenth of them, and at the end."""
    clients = int(args.clients.split(",")[0])
    readings: list[tuple[int, int]] = []
    answered = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        config = write_config(folder, port, args.alerts)
        url = f"http://127.0.0.1:{port}"
        argv = ["-m", "batchrelay", "run", "-c", str(config)]
        with child(argv, f"{url}/readyz", folder / "relay.log") as daemon:
            for n in itertools.count():
                answered += one_round(args, url, clients, f"rss-r{n}", folder).answered
                if not readings and answered >= args.rss // 10:
                    readings.append((answered, vm_rss_kib(daemon.pid)))
                if answered >= args.rss:
                    readings.append((answered, vm_rss_kib(daemon.pid)))
                    return readings
    raise AssertionError("unreachable")  # pragma: no cover


def print_rss(readings: list[tuple[int, int]]) -> None:
    (early, early_kib), (late, late_kib) = readings
    print("ingest memory: the daemon's VmRSS as the store grows (POST /ingest/eventbridge,")
    print("durable commit, SQLite FULL, distinct events)")
    print("events answered | VmRSS MiB")
    for events, kib in readings:
        print(f"{events:>15,} | {kib / 1024:>9.1f}")
    print(f"growth from {early:,} to {late:,} events: {late_kib / early_kib - 1:+.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, help="per round (default 5; 10 with --rate)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per level")
    parser.add_argument("--clients", default="64", help="connections, e.g. 1,16,64")
    parser.add_argument("--alerts", action="store_true", help="with the four starter rules")
    parser.add_argument("--rate", type=float, help="steady load: events/s over all connections")
    parser.add_argument("--connections", type=int, default=32, help="with --rate (default 32)")
    parser.add_argument("--client", choices=("wrk", "python"), help="default: wrk if installed")
    parser.add_argument("--rss", type=int, help="memory: VmRSS after N/10 and N events")
    args = parser.parse_args()
    if args.client is None:
        args.client = "wrk" if shutil.which("wrk") else "python"
        if args.client == "python":
            print("ingest: wrk is not installed (apt-get install wrk): using the Python client")
    args.seconds = args.seconds or (10 if args.rate else 5)
    levels = [args.connections] if args.rate else [int(c) for c in args.clients.split(",")]
    before = machine_load()
    if args.rss:
        with CpuPressure("during the run (the daemon, the load and others' work)") as during:
            print_rss(rss_run(args))
        print(before)
        print(during)
        return
    with CpuPressure("during the run (the servers, the load and others' work)") as during:
        results, histogram = run(args, levels)
    if args.rate:
        print_steady(args, results, histogram)
    else:
        print_throughput(args, results)
    print(before)
    print(during)


if __name__ == "__main__":
    main()
