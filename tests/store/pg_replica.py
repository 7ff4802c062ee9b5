"""One replica process for ``test_postgres``: commits its share of an event stream.

``python -m tests.store.pg_replica DSN SEED INDEX REPLICAS`` starts a PostgresStore, prints
``ready``, waits for a line on stdin (so that all replicas start committing together),
commits every event ``n`` with ``n % REPLICAS == INDEX`` and, redelivered, every third
event of the next replica's share, all at once; then prints the outcomes as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

from batchrelay.store.postgres.store import PostgresStore

from .factories import event_stream, inbound

BATCHES, TASKS = 4, 30


def share(seed: int, index: int, replicas: int) -> list[int]:
    events = event_stream(seed, batches=BATCHES, tasks_per_batch=TASKS)
    mine = [n for n in range(len(events)) if n % replicas == index]
    redelivered = [n for n in range(len(events)) if n % replicas == (index + 1) % replicas]
    return mine + redelivered[::3]


async def main(dsn: str, seed: int, index: int, replicas: int) -> None:
    events = event_stream(seed, batches=BATCHES, tasks_per_batch=TASKS)
    store = PostgresStore(dsn, min_size=1, max_size=2)
    await store.start()
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        calls = [store.commit(inbound(events[n])) for n in share(seed, index, replicas)]
        outcomes = await asyncio.gather(*calls)
        print(json.dumps({"outcomes": [str(o) for o in outcomes], "groups": store.groups}))
    finally:
        await store.close()


if __name__ == "__main__":
    dsn, seed, index, replicas = sys.argv[1], *map(int, sys.argv[2:5])
    asyncio.run(main(dsn, seed, index, replicas))
