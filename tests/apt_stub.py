"""A folder that stands in for the system root of scripts that install Debian packages
(``scripts/test-deps``, ``bench/deps``), with an ``apt-get`` that records its calls."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def stub_root(prefix: str) -> Iterator[Path]:
    """A world-readable folder (the non-root run must see it); ``apt.log`` gets one line
    per ``apt-get`` call."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
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


def run_script(
    script: Path, sysroot: Path, as_nobody: bool = False
) -> subprocess.CompletedProcess[str]:
    """``script`` with ``SYSROOT=sysroot`` and the stub first on the PATH; as ``nobody``
    when asked and run as root."""
    env = {"PATH": f"{sysroot}/stub-bin:/usr/bin:/bin:/usr/sbin:/sbin", "SYSROOT": str(sysroot)}
    argv = [str(script)]
    if as_nobody and os.geteuid() == 0:
        argv = ["runuser", "-u", "nobody", "--", *argv]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
