"""bench/deps: what `make bench` installs, or asks for, before the benchmarks run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .apt_stub import run_script, stub_root

SCRIPT = Path(__file__).parents[1] / "bench" / "deps"


@pytest.fixture
def sysroot() -> Iterator[Path]:
    with stub_root("bench-deps-") as folder:
        yield folder


def run(sysroot: Path, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    return run_script(SCRIPT, sysroot, as_nobody)


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


def test_make_bench_installs_what_its_benchmarks_start_before_them() -> None:
    """bench/replicas.py and bench/scale.py start PostgreSQL, bench/dashboard.py Chromium:
    `make bench` runs scripts/test-deps (which installs both) before any of them."""
    repo = Path(__file__).parents[1]
    done = subprocess.run(["make", "-n", "bench"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    deps = next(i for i, line in enumerate(lines) if line.startswith("./scripts/test-deps"))
    first_bench = next(i for i, line in enumerate(lines) if "bench/" in line and ".py" in line)
    assert deps < first_bench, lines
