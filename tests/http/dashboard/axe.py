"""axe-core for the accessibility tests: installed from the npm registry on first use into
an ignored cache folder (``.cache/axe-core``, pinned version), never shipped or committed,
and handed to each tab by the test (an init script: the pages' policy allows no other)."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

AXE_VERSION = "4.10.3"
CACHE = Path(__file__).resolve().parents[3] / ".cache" / "axe-core" / AXE_VERSION
SCRIPT = CACHE / "node_modules" / "axe-core" / "axe.min.js"
SEVERE = ("serious", "critical")


@cache
def axe_source() -> str:
    if not SCRIPT.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is missing: apt-get install npm (the accessibility tests install "
                        f"axe-core {AXE_VERSION} with it)", pytrace=False)  # fmt: skip
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(CACHE), "--no-save", "--no-audit", "--no-fund",
             "--loglevel=error", f"axe-core@{AXE_VERSION}"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not SCRIPT.is_file():
            pytest.fail(f"npm could not install axe-core {AXE_VERSION}: {done.stderr.strip()}",
                        pytrace=False)  # fmt: skip
    return SCRIPT.read_text("utf-8")


def severe_violations(page: Any) -> list[str]:
    """axe's serious and critical violations on the page as it is now, one line each."""
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] })).violations"
        ".map(v => ({ id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))"
    )
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in found
            if v["impact"] in SEVERE]  # fmt: skip
