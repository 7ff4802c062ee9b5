"""Docs that run: every shell command in README.md's code blocks, against a daemon.

Blocks are found, not listed: every ```sh, ```bash, ```shell and ```console block (console
blocks: the ``$`` lines) runs as one bash script with ``set -e``, in a scratch copy of the
checkout (its files linked, ``config/`` copied) with ``.venv/bin`` on the PATH. The daemon
is the one the README's own quick start starts: its ``make run`` block, marked
``background``, runs first, with ``config/local.yaml`` moved to free ports; every
``127.0.0.1:8080`` and ``:8090`` in the README is rewritten to those ports, and commands
that read the store find the daemon's ``data/batchrelay.db`` in the working folder.

A comment on the line before a block says how to run it:

``<!-- readme-test: background: why -->``  started before the other blocks, left running
    until the end (the test waits for the daemon's ``/healthz``);
``<!-- readme-test: skip: why -->``  not run, and reported as skipped with the reason
    (``skip: real-account: …`` for what needs an Alibaba Cloud account);
``<!-- readme-test: output -->``  a console block whose shown output must be what each
    ``$`` line prints.

A server started inside a block (``batchrelay emulator``, ``batchrelay run``) runs in the
background until the block ends, on a free port that replaces its ``--port`` in the block.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
SHELLS = {"sh", "bash", "shell", "console"}
MARKER = re.compile(r"<!--\s*readme-test:\s*(?P<kind>[a-z-]+)\s*(?::\s*(?P<why>.*?))?\s*-->")
KINDS = {"background", "skip", "output"}
SERVER = re.compile(r"^\s*(?:\S*/)?batchrelay (?:emulator|run)\b.*?--port (?P<port>\d+)")


@dataclass(frozen=True)
class Block:
    line: int  # where its fence is in README.md
    lang: str
    body: str
    kind: str | None  # background, skip, output, or None: run it
    why: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line} {self.lang}"

    def script(self) -> str:
        if self.lang != "console":
            return self.body
        return "\n".join(command for command, _ in self.commands())

    def commands(self) -> list[tuple[str, str]]:
        """A console block's ``$`` commands, each with the output shown after it."""
        found: list[tuple[str, list[str]]] = []
        for line in self.body.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif found and found[-1][0].endswith("\\"):
                found[-1] = (f"{found[-1][0]}\n{line}", found[-1][1])
            elif found:
                found[-1][1].append(line)
        return [(command, "\n".join(shown)) for command, shown in found]


def readme_blocks(text: str) -> list[Block]:
    """Every shell block of the README, with the marker on the line before it, if any."""
    lines = text.splitlines()
    blocks: list[Block] = []
    marker: re.Match[str] | None = None
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped.startswith("```"):
            indent = len(lines[index]) - len(lines[index].lstrip())
            start, index = index, index + 1
            while not lines[index].strip().startswith("```"):
                index += 1
            body = "\n".join(line[indent:] for line in lines[start + 1 : index])
            lang = stripped[3:].strip()
            if lang in SHELLS:
                kind, why = (marker["kind"], marker["why"] or "") if marker else (None, "")
                blocks.append(Block(start + 1, lang, body, kind, why))
            marker = None
        elif found := MARKER.fullmatch(stripped):
            marker = found
        elif stripped:
            marker = None
        index += 1
    return blocks


BLOCKS = readme_blocks(README.read_text())


@dataclass
class Workspace:
    folder: Path
    ports: dict[str, str]  # README port -> the port used here
    env: dict[str, str]

    def rewrite(self, text: str, ports: dict[str, str] | None = None) -> str:
        for old, new in (ports or self.ports).items():
            text = re.sub(rf"(?<=127\.0\.0\.1:){old}\b|(?<=localhost:){old}\b", new, text)
        return text

    def run(self, script: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        command = ["bash", "-c", f"set -e\n{script}"]
        return subprocess.run(command, cwd=self.folder, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)  # fmt: skip


def _copy_checkout(folder: Path) -> None:
    """Links to the checkout's files, but a real ``config/`` and ``data/`` of our own."""
    for entry in ROOT.iterdir():
        if entry.name not in ("config", "data", ".git"):
            (folder / entry.name).symlink_to(entry)
    shutil.copytree(ROOT / "config", folder / "config")


def _move_local_config(folder: Path, port: str, mns_port: str) -> None:
    path = folder / "config" / "local.yaml"
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    config["server"]["port"] = int(port)
    config["demo"]["emulator_port"] = int(mns_port)
    emulator = f"http://127.0.0.1:{mns_port}"
    push = config["ingress"]["mns_push"]
    push["cert_url_prefixes"] = [f"{emulator}/" if "127.0.0.1" in p else p
                                 for p in push["cert_url_prefixes"]]  # fmt: skip
    for source in config["sources"]["mns_queues"]:
        source["endpoint"] = emulator
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _wait_healthy(port: str, daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the background block ended:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no /healthz on {port}:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("readme")
    _copy_checkout(folder)
    ports = {"8080": str(free_port()), "8090": str(free_port())}
    _move_local_config(folder, ports["8080"], ports["8090"])
    env = dict(os.environ, PATH=f"{folder}/.venv/bin:{os.environ['PATH']}")
    space = Workspace(folder, ports, env)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for number, block in enumerate(b for b in BLOCKS if b.kind == "background"):
            log = folder / f"background-{number}.log"
            with log.open("wb") as out:
                started.append(subprocess.Popen(
                    ["bash", "-c", space.rewrite(block.script())], cwd=folder, env=env,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                ))  # fmt: skip
            _wait_healthy(ports["8080"], started[-1], log)
        yield space
    finally:
        for proc in started:  # the whole group: make and the daemon it started
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def _with_servers(block: Block, space: Workspace) -> str:
    """The block's script, its servers sent to the background on ports of their own."""
    ports = dict(space.ports)
    for line in block.script().splitlines():
        if found := SERVER.match(line):
            ports[found["port"]] = str(free_port())
    script = []
    for line in space.rewrite(block.script(), ports).splitlines():
        server = SERVER.match(line)
        if server is None:
            script.append(line)
            continue
        port = ports[server["port"]]
        command = line.split(" #")[0].replace(f"--port {server['port']}", f"--port {port}")
        script += [f"{command} > server-{port}.log 2>&1 &",
                   "trap 'status=$?; kill $(jobs -p) 2>/dev/null; exit $status' EXIT",
                   f"for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null"
                   " && break; sleep 0.2; done"]  # fmt: skip
    return "\n".join(script)


def test_every_shell_block_is_found_and_every_marker_is_known() -> None:
    assert len(BLOCKS) >= 10
    assert {b.kind for b in BLOCKS} <= KINDS | {None}
    assert [b for b in BLOCKS if b.kind == "background"], "the quick start's make run"
    assert all(b.why for b in BLOCKS if b.kind == "skip"), "a skip says why"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind != "background"],
                         ids=lambda b: b.id)  # fmt: skip
def test_readme_block_runs(block: Block, workspace: Workspace) -> None:
    if block.kind == "skip":
        pytest.skip(block.why)
    if block.kind == "output":
        for command, shown in block.commands():
            done = workspace.run(workspace.rewrite(command))
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            assert done.stdout.rstrip("\n") == workspace.rewrite(shown), command
        return
    done = workspace.run(_with_servers(block, workspace))
    assert done.returncode == 0, f"{block.id}\n{block.body}\n--- stderr:\n{done.stderr}"
