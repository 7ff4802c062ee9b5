"""Ingest throughput on SQLite, on PostgreSQL with one replica, and with three replicas.

N concurrent keep-alive clients POST distinct structured CloudEvents to /ingest/eventbridge
(the event mix of bench/ingest.py) for a fixed time against three configurations:

  sqlite       one daemon, SQLite with synchronous=FULL
  postgres x1  one daemon on a PostgreSQL database
  postgres x3  three daemons on the same PostgreSQL database, clients spread round-robin

Each daemon commits every event durably before its 200 (group commit; on PostgreSQL the
cluster's default fsync=on and synchronous_commit=on). One throwaway PostgreSQL 15 cluster
(tests/pg.py) on 127.0.0.1 serves the whole run; every configuration gets a fresh database
(or a fresh SQLite file) and fresh daemons in every round, so round order does not matter,
and the order rotates from round to round anyway. After each round the events committed
in the database are counted and must equal the 200 answers (and the sum of their
"committed" counts), or the bench stops: no phantom throughput. Reported: the median
round per configuration, and its ratio to SQLite, measured side by side in the same run.

CPUs: by default nothing is pinned. On a small machine PostgreSQL, the daemons and the load
generator share every core, and no split is neutral: giving the daemons one core of their
own would put three replicas on one core and leave PostgreSQL to
fight the load generator for the other. Unpinned, every configuration gets the same whole
machine and the scheduler shares it. ``--pin`` instead puts the load generator on the
first core and the daemons on the others (PostgreSQL stays unpinned), for comparison.

    python bench/replicas.py [--seconds 5] [--rounds 3] [--clients 64] [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg  # type: ignore[import-untyped]
from _common import ROOT, child, free_port, median, percentile
from ingest import cloud_event

sys.path.insert(0, str(ROOT))  # for tests/pg.py, the throwaway PostgreSQL cluster
from tests.pg import Cluster, running_postgres

CONFIGS: dict[str, tuple[str, int]] = {  # name: (store, daemons)
    "sqlite": ("sqlite", 1),
    "postgres x1": ("postgres", 1),
    "postgres x3": ("postgres", 3),
}
PATH = "/ingest/eventbridge"
CORES = len(os.sched_getaffinity(0))
_runs = itertools.count()


@dataclass
class Round:
    seconds: float = 0.0
    ok: int = 0
    committed: int = 0  # the sum of the 200 answers' "committed"
    refused: Counter[str] = field(default_factory=Counter)  # non-200 status or client error
    per_daemon: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    stored: int = 0  # rows in the events table afterwards
    log_problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def load(bases: list[str], clients: int, seconds: float, run: str) -> Round:
    """``clients`` keep-alive clients, client i posting to ``bases[i % len(bases)]``."""
    result = Round()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Content-Type": "application/cloudevents+json"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(base: str) -> None:
            url = base + PATH
            while time.monotonic() < deadline:
                body = cloud_event(run)
                start = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        answer = await resp.read()
                except aiohttp.ClientError as exc:
                    result.refused[type(exc).__name__] += 1
                    await asyncio.sleep(0.05)
                    continue
                if resp.status != 200:
                    result.refused[str(resp.status)] += 1
                    continue
                result.latencies.append(time.perf_counter() - start)
                result.ok += 1
                result.committed += json.loads(answer)["committed"]
                result.per_daemon[base] += 1

        started = time.monotonic()
        await asyncio.gather(*(client(bases[i % len(bases)]) for i in range(clients)))
        result.seconds = time.monotonic() - started
    return result


def daemon_config(folder: Path, port: int, store_url: str) -> Path:
    config = folder / f"daemon-{port}.yaml"
    store = (
        {"url": store_url, "synchronous": "FULL"}
        if store_url.startswith("sqlite")
        else {"url": store_url}
    )
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "server": {"host": "127.0.0.1", "port": port},
                "store": store,
                "log": {"level": "info", "format": "json"},
            }
        )
    )
    return config


def count_events(store_url: str) -> int:
    if store_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])

    async def count() -> int:
        conn = await asyncpg.connect(store_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM events"))
        finally:
            await conn.close()

    return asyncio.run(count())


def log_problems(log: Path) -> list[str]:
    """Log lines at warning level or above, and lines that are not JSON (tracebacks); but
    not the start-up warning that the push endpoints take unauthenticated pushes (the bench
    configures no token, as bench/ingest.py)."""
    problems = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            level, event = entry.get("level", ""), entry.get("event", "")
        except (ValueError, AttributeError):
            level, event = "unstructured", ""
        if level not in ("debug", "info") and event != "ingress.unauthenticated":
            problems.append(f"{log.name}: {line[:300]}")
    return problems


def server_log_problems(cluster: Cluster) -> list[str]:
    """PostgreSQL's own complaints: errors (deadlocks, serialization failures), fatals."""
    log = cluster.directory / "server.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    marks = ("WARNING:", "ERROR:", "FATAL:", "PANIC:")
    return [line[:300] for line in lines if any(mark in line for mark in marks)]


def one_round(
    name: str, cluster: Cluster, tmp: Path, args: argparse.Namespace, cpus: set[int] | None
) -> Round:
    store, daemons = CONFIGS[name]
    run = f"r{next(_runs)}"
    folder = tmp / run
    folder.mkdir()
    with contextlib.ExitStack() as database:
        if store == "sqlite":
            store_url = f"sqlite:///{folder}/bench.db"
        else:
            store_url = asyncio.run(cluster.create_database("bench"))
            database.callback(lambda: asyncio.run(cluster.drop_database(store_url)))
        logs: list[Path] = []
        with contextlib.ExitStack() as running:
            bases = []
            for _ in range(daemons):
                port = free_port()
                config = daemon_config(folder, port, store_url)
                base = f"http://127.0.0.1:{port}"
                logs.append(folder / f"daemon-{port}.log")
                argv = ["-m", "batchrelay", "run", "-c", str(config)]
                running.enter_context(child(argv, f"{base}/readyz", logs[-1], cpus))
                bases.append(base)
            result = asyncio.run(load(bases, args.clients, args.seconds, run))
        # the daemons have stopped: everything they answered 200 for is in the database
        result.stored = count_events(store_url)
        result.log_problems = [p for log in logs for p in log_problems(log)]
    if not result.stored == result.ok == result.committed:
        raise RuntimeError(
            f"{name}, round {run}: {result.ok} answers 200 ({result.committed} committed), "
            f"but {result.stored} events in the database"
        )
    return result


def median_round(results: list[Round]) -> Round:
    return sorted(results, key=lambda r: r.rate)[len(results) // 2]


def report(results: dict[str, list[Round]], args: argparse.Namespace) -> None:
    print(
        f"ingest: POST {PATH}, {args.clients} keep-alive clients, durable commit before each 200;"
    )
    print(
        f"median of {args.rounds} rotating rounds of {args.seconds:g} s; fresh database and "
        "daemons per round"
    )
    shared = (
        "load generator on core 0, daemons on the rest, PostgreSQL unpinned"
        if args.pin
        else "nothing pinned"
    )
    print(
        f"this machine: {CORES} cores, shared by PostgreSQL, the daemons and the load "
        f"generator ({shared})"
    )
    base = median([r.rate for r in results["sqlite"]])  # the ratio's denominator: SQLite's median
    print()
    print("configuration | ev/s  | vs sqlite | p50 ms | p99 ms | rounds ev/s")
    for name, rounds in results.items():
        rate = median([r.rate for r in rounds])
        mid = median_round(rounds)
        each = ", ".join(f"{r.rate:.0f}" for r in rounds)
        print(
            f"{name:<13} | {rate:>5.0f} | {rate / base:>9.2f} | "
            f"{median(mid.latencies) * 1000:>6.1f} | "
            f"{percentile(mid.latencies, 99) * 1000:>6.1f} | {each}"
        )
    print()
    total = sum(r.ok for rounds in results.values() for r in rounds)
    print(f"verified: {total} answers 200, each one an event committed in its round's database")
    for name, rounds in results.items():
        refused = sum((r.refused for r in rounds), Counter())
        if refused:
            print(f"{name}: not 200: {dict(refused)}")
        if CONFIGS[name][1] > 1:
            split = [sorted(r.per_daemon.values()) for r in rounds]
            print(f"{name}: 200s per daemon by round: {split}")
        problems = [p for r in rounds for p in r.log_problems]
        if problems:
            print(f"{name}: {len(problems)} daemon log lines at warning or above, e.g.:")
            for line in problems[:5]:
                print(f"    {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3, help="rotating rounds")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--pin", action="store_true", help="see the module docstring")
    args = parser.parse_args()
    results: dict[str, list[Round]] = {name: [] for name in CONFIGS}
    names = list(CONFIGS)
    with running_postgres() as cluster, tempfile.TemporaryDirectory() as tmp:
        cpus, daemon_cpus = os.sched_getaffinity(0), None
        if args.pin and len(cpus) > 1:  # after PostgreSQL started: it inherits no pinning
            os.sched_setaffinity(0, {min(cpus)})
            daemon_cpus = cpus - {min(cpus)}
        for n in range(args.rounds):
            for name in names[n % len(names) :] + names[: n % len(names)]:
                results[name].append(one_round(name, cluster, Path(tmp), args, daemon_cpus))
        server_problems = server_log_problems(cluster)
    report(results, args)
    if server_problems:
        print(f"PostgreSQL server log: {len(server_problems)} warnings or errors, e.g.:")
        for line in server_problems[:5]:
            print(f"    {line}")


if __name__ == "__main__":
    main()
