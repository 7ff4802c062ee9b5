"""A daemon in its own process, for tests that watch its output and its memory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .processes import Child, free_port, wait_ready, write_config


@dataclass
class Live:
    port: int
    child: Child
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_kib(self) -> int:
        assert self.child.proc is not None
        status = Path(f"/proc/{self.child.proc.pid}/status").read_text()
        [line] = [x for x in status.splitlines() if x.startswith("VmRSS:")]
        return int(line.split()[1])


@contextlib.asynccontextmanager
async def live_daemon(folder: Path, **sections: Any) -> AsyncIterator[Live]:
    port = free_port()
    sections.setdefault("log", {"level": "info", "format": "json"})
    sections["server"] = {"host": "127.0.0.1", "port": port, "drain_timeout": 5,
                          **sections.get("server", {})}  # fmt: skip
    config = write_config(folder, port, **sections)
    log = folder / "daemon.log"
    child = Child(["run", "-c", str(config)], log)
    child.start()
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        yield Live(port, child, log)
    finally:
        child.stop()
        await asyncio.sleep(0)
