"""scripts/test-deps: what `make test` installs, or asks for, before the suite runs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .apt_stub import run_script, stub_root

SCRIPT = Path(__file__).parents[1] / "scripts" / "test-deps"


@pytest.fixture
def sysroot() -> Iterator[Path]:
    with stub_root("test-deps-") as folder:
        yield folder


def run(sysroot: Path, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    return run_script(SCRIPT, sysroot, as_nobody)


def install(sysroot: Path, path: str) -> None:
    tool = sysroot / path.lstrip("/")
    tool.parent.mkdir(parents=True, exist_ok=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)


@pytest.mark.skipif(os.geteuid() != 0, reason="installing packages needs root")
def test_as_root_installs_only_what_is_missing(sysroot: Path) -> None:
    install(sysroot, "/usr/bin/chromium")
    done = run(sysroot)
    assert done.returncode == 0, done.stderr
    assert (sysroot / "apt.log").read_text().splitlines() == [
        "update -qq",
        "install -y -qq --no-install-recommends postgresql-15 prometheus-alertmanager prometheus",
    ]


def test_as_root_with_everything_installed_does_nothing(sysroot: Path) -> None:
    for path in ("/usr/lib/postgresql/15/bin/initdb", "/usr/bin/prometheus-alertmanager",
                 "/usr/bin/chromium", "/usr/bin/promtool"):  # fmt: skip
        install(sysroot, path)
    done = run(sysroot)
    assert (done.returncode, done.stderr) == (0, "")
    assert not (sysroot / "apt.log").exists()


def test_not_root_prints_one_line_naming_the_packages_and_the_command(sysroot: Path) -> None:
    done = run(sysroot, as_nobody=True)
    assert done.returncode == 0  # the suite still runs
    assert not (sysroot / "apt.log").exists()
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "postgresql-15 prometheus-alertmanager chromium prometheus" in lines[0]
    assert "apt-get install -y --no-install-recommends postgresql-15" in lines[0]
