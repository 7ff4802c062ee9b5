"""A throwaway PostgreSQL cluster for tests: Debian's PostgreSQL 15 binaries in a temp dir.

``running_postgres()`` runs ``initdb`` and ``pg_ctl`` in a fresh directory, listening on a
free port on 127.0.0.1 only (its unix socket in that directory too), and removes it all
at the end. PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user that Debian's package creates. Missing binaries are an error,
never a skip: install them with ``apt-get install -y postgresql-15``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from .processes import free_port

PG_BIN = Path(os.environ.get("BATCHRELAY_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "batchrelay"
RUN_AS = "postgres"  # the system user for the server when we are root
START_TIMEOUT = 60  # seconds; pg_ctl -w waits this long at most


class PostgresMissingError(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


@dataclass
class Cluster:
    """One running cluster; ``dsn(db)`` connects to database ``db`` as the superuser."""

    directory: Path
    port: int
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory}"
        log = self.directory / "server.log"
        _run([_bin("pg_ctl"), "-D", str(self.data), "-l", str(log), "-o", options,
              "-w", "-t", str(START_TIMEOUT), "start"])  # fmt: skip

    def stop(self, mode: str = "fast", *, check: bool = True) -> None:
        _run([_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], check=check)

    async def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its DSN."""
        name = f"{prefix}_{next(self._names)}"
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.dsn(name)

    async def drop_database(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@contextmanager
def running_postgres() -> Iterator[Cluster]:
    """A started cluster, stopped and deleted on exit."""
    for tool in ("initdb", "pg_ctl"):
        if not _bin(tool).is_file():
            raise PostgresMissingError(
                f"{_bin(tool)} not found: the PostgreSQL tests need Debian's PostgreSQL 15 "
                "server (apt-get install -y postgresql-15), or BATCHRELAY_PG_BIN set to "
                "the directory holding initdb and pg_ctl"
            )
    directory = Path(tempfile.mkdtemp(prefix="batchrelay-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, RUN_AS, RUN_AS)
        cluster = Cluster(directory, free_port())
        _run([_bin("initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "--auth=trust",
              "-E", "UTF8", "--no-locale", "--no-sync"])  # fmt: skip
        cluster.start()
        try:
            yield cluster
        finally:
            # immediate: the data is thrown away, no checkpoint needed; a test may have
            # stopped the server already
            cluster.stop("immediate", check=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _bin(tool: str) -> Path:
    return PG_BIN / tool


def _run(argv: list[str | Path], *, check: bool = True) -> None:
    command = [str(arg) for arg in argv]
    if os.geteuid() == 0:
        command = ["runuser", "-u", RUN_AS, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
