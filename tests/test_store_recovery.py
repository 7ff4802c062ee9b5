"""A store that cannot commit makes the daemon unready, and it recovers by itself.

SQLite: a full disk, made for real with a small tmpfs filled by a file (mounting needs
root, which the test machines have; the test says so when it cannot mount). A read-only
remount cannot be shown faithfully here: Linux refuses ``remount,ro`` while a file on it
is open for writing, and a file system the kernel forced read-only after an error
(``errors=remount-ro``) comes back only through an unmount, which needs every file on it
closed. A full disk fails SQLite's writes the same way (the commit fails, reads go on) and
recovers the same way (the space comes back under the open connection).

PostgreSQL: the server switched to read-only transactions (``default_transaction_read_only``
by ``ALTER SYSTEM`` and a reload), as a primary demoted or fenced off would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import pytest

from .conftest import SettingsFactory
from .pg import Cluster


def body(n: int, pad: int = 20_000) -> bytes:
    return json.dumps({"n": n, "pad": "x" * pad}).encode()


async def status(client: Any, path: str, data: bytes | None = None) -> int:
    if data is None:
        resp = await client.get(path)
    else:
        resp = await client.post(path, data=data)
    await resp.read()
    return int(resp.status)


async def eventually(check: Any, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.2)


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "4m") -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    # unbuffered: a chunk the disk took only part of must not wait in a buffer to fail
    # again when the file closes, outside the suppress
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
    return filler


async def test_sqlite_on_a_full_disk_is_unready_then_recovers(
    make_settings: SettingsFactory, start_daemon: Any, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        settings = make_settings(store={"url": f"sqlite:///{disk}/relay.db"})
        client = await start_daemon(settings)
        assert await status(client, "/ingest/eventbridge", body(1)) == 200
        assert await status(client, "/readyz") == 200
        filler = fill(disk)
        # commits go on into WAL pages that a checkpoint already copied back (they take no
        # new space) until the WAL has to grow: from then on nothing is acked
        answers = [await status(client, "/ingest/eventbridge", body(n)) for n in range(2, 200)]
        assert 503 in answers and set(answers[answers.index(503) :]) == {503}
        # the readiness probe (one small row) may still fit in the WAL's reused pages, so
        # between probes /readyz can say ready while real commits fail: it says unready
        # after a failed commit, and every input stays refused
        readiness = []
        for n in range(200, 210):
            assert await status(client, "/ingest/eventbridge", body(n)) == 503  # not acked
            readiness.append(await status(client, "/readyz"))
            await asyncio.sleep(0.2)
        assert 503 in readiness
        filler.unlink()

        async def ready() -> bool:
            return await status(client, "/readyz") == 200

        await eventually(ready)
        assert await status(client, "/ingest/eventbridge", body(210)) == 200  # no restart


@contextlib.asynccontextmanager
async def read_only(cluster: Cluster) -> Any:
    conn = await asyncpg.connect(cluster.dsn())
    try:
        await conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        await conn.execute("SELECT pg_reload_conf()")
        yield
    finally:
        await conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        await conn.execute("SELECT pg_reload_conf()")
        await conn.close()


async def test_postgres_in_read_only_mode_is_unready_then_recovers(
    make_settings: SettingsFactory, start_daemon: Any, postgres_cluster: Cluster
) -> None:
    dsn = await postgres_cluster.create_database("recovery")
    client = await start_daemon(make_settings(store={"url": dsn}))
    assert await status(client, "/ingest/eventbridge", body(1, 10)) == 200
    async with read_only(postgres_cluster):

        async def refused() -> bool:
            return await status(client, "/ingest/eventbridge", body(2, 10)) == 503

        await eventually(refused)  # sessions see the reloaded setting at their next query
        assert await status(client, "/readyz") == 503

    async def ready() -> bool:
        return await status(client, "/readyz") == 200

    await eventually(ready)
    assert await status(client, "/ingest/eventbridge", body(2, 10)) == 200
