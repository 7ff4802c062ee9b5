"""Ingest throughput: batchrelay's /ingest/eventbridge against a bare aiohttp handler.

N concurrent keep-alive clients POST distinct structured CloudEvents. batchrelay commits each
one durably (SQLite, synchronous=FULL, group commit) before answering; the baseline answers
204 and does nothing. Both servers run as child processes on 127.0.0.1 in the same run, each
pinned to the same single core (the load generator gets the others), and rounds alternate
between them, so the ratio compares like with like on this machine.

    python bench/ingest.py [--seconds 3] [--rounds 3] [--clients 1,16,64]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml
from _common import child, free_port, median, percentile

_counter = itertools.count()

# Each server is pinned to the last core and the load generator to the others, the same for
# both: the measurement is then "one server core", and a server's threads do not pay for
# GIL hand-offs across cores that a busy load generator makes slow.
SERVER_CPUS = {max(os.sched_getaffinity(0))} if len(os.sched_getaffinity(0)) > 1 else None
CLIENT_CPUS = os.sched_getaffinity(0) - SERVER_CPUS if SERVER_CPUS else None


def cloud_event(run: str) -> bytes:
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


async def load(url: str, clients: int, seconds: float, run: str) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Content-Type": "application/cloudevents+json"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                body = cloud_event(run)
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status >= 300:
                        errors += 1
                        continue
                latencies.append(time.perf_counter() - start)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.monotonic() - started
    return {
        "rate": len(latencies) / elapsed,
        "p50_ms": median(latencies) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": errors,
    }


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


def run_levels(
    levels: list[int], seconds: float, rounds: int, alerts: bool = False
) -> list[tuple[int, dict[str, float], dict[str, float]]]:
    """Alternate bare and relay rounds at each level; keep each side's median round."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare_port, relay_port = free_port(), free_port()
        config = write_config(folder, relay_port, alerts)
        bare_argv = ["bench/bare_server.py", str(bare_port)]
        relay_argv = ["-m", "batchrelay", "run", "-c", str(config)]
        bare_url, relay_url = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{relay_port}"
        with (
            child(bare_argv, f"{bare_url}/healthz", folder / "bare.log", SERVER_CPUS),
            child(relay_argv, f"{relay_url}/readyz", folder / "relay.log", SERVER_CPUS),
        ):
            path = "/ingest/eventbridge"
            for clients in levels:
                bare, relay = [], []
                for n in range(rounds):
                    bare.append(asyncio.run(load(bare_url + path, clients, seconds, "bare")))
                    run = f"c{clients}r{n}"
                    relay.append(asyncio.run(load(relay_url + path, clients, seconds, run)))
                rows.append((clients, median_round(bare), median_round(relay)))
    return rows


def median_round(results: list[dict[str, float]]) -> dict[str, float]:
    return sorted(results, key=lambda r: r["rate"])[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per level")
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--alerts", action="store_true", help="with the four starter rules")
    args = parser.parse_args()
    if CLIENT_CPUS:
        os.sched_setaffinity(0, CLIENT_CPUS)
    levels = [int(c) for c in args.clients.split(",")]
    rows = run_levels(levels, args.seconds, args.rounds, args.alerts)
    rules = " with the four starter alert rules" if args.alerts else ""
    print(f"ingest: POST /ingest/eventbridge, durable commit (SQLite FULL){rules},")
    print("vs a bare 204 handler;")
    print(f"each server on one core, median of {args.rounds} alternating rounds per level")
    columns = ("bare ev/s", "relay ev/s", "ratio", "relay p50 ms", "relay p99 ms")
    print(" | ".join(("clients", *columns, "bare p50 ms", "bare p99 ms")))
    for clients, bare, relay in rows:
        ratio = relay["rate"] / bare["rate"] if bare["rate"] else float("nan")
        print(
            f"{clients:>7} | {bare['rate']:>9.0f} | {relay['rate']:>10.0f} | {ratio:>5.2f} | "
            f"{relay['p50_ms']:>12.2f} | {relay['p99_ms']:>12.2f} | "
            f"{bare['p50_ms']:>11.2f} | {bare['p99_ms']:>11.2f}"
        )
        if relay["errors"] or bare["errors"]:
            print(f"        errors: relay {relay['errors']:.0f}, bare {bare['errors']:.0f}")


if __name__ == "__main__":
    main()
