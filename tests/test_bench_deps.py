"""bench/deps: what `make bench` installs, or asks for, before the benchmarks run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "bench" / "deps"


@pytest.fixture
def sysroot() -> Iterator[Path]:
    """A world-readable folder (the non-root run must see it) with a recording apt-get."""
    folder = Path(tempfile.mkdtemp(prefix="bench-deps-"))
    folder.chmod(0o755)
    bin_dir = folder / "stub-bin"
    bin_dir.mkdir()
    apt = bin_dir / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$*" >> {folder}/apt.log\n')
    apt.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def run(sysroot: Path, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{sysroot}/stub-bin:/usr/bin:/bin:/usr/sbin:/sbin", "SYSROOT": str(sysroot)}
    argv = [str(SCRIPT)]
    if as_nobody and os.geteuid() == 0:
        argv = ["runuser", "-u", "nobody", "--", *argv]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="installing packages needs root")
def test_as_root_installs_wrk_where_missing(sysroot: Path) -> None:
    done = run(sysroot)
    assert done.returncode == 0, done.stderr
    assert (sysroot / "apt.log").read_text().splitlines() == [
        "update -qq",
        "install -y -qq --no-install-recommends wrk",
    ]


def test_with_wrk_installed_does_nothing(sysroot: Path) -> None:
    wrk = sysroot / "usr/bin/wrk"
    wrk.parent.mkdir(parents=True)
    wrk.write_text("#!/bin/sh\n")
    wrk.chmod(0o755)
    done = run(sysroot)
    assert (done.returncode, done.stderr) == (0, "")
    assert not (sysroot / "apt.log").exists()


def test_not_root_prints_one_line_naming_the_command(sysroot: Path) -> None:
    done = run(sysroot, as_nobody=True)
    assert done.returncode == 0  # the benchmarks still run, with the Python client
    assert not (sysroot / "apt.log").exists()
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "apt-get install -y --no-install-recommends wrk" in lines[0]
