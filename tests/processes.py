"""Daemon and emulator child processes for end-to-end tests (start, wait, SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """One ``python -m batchrelay ...`` process, its output kept in a log file."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "batchrelay", *self.argv],
            stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(),
        )  # fmt: skip
        out.close()

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, exactly like a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


async def wait_ready(url: str, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


def write_config(folder: Path, port: int, **sections: Any) -> Path:
    config = {
        "server": {"host": "127.0.0.1", "port": port, "drain_timeout": 5},
        "store": {"url": f"sqlite:///{folder}/relay.db", "synchronous": "FULL"},
        "log": {"level": "warning", "format": "json"},
        **sections,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def children(*procs: Child) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            proc.stop()
