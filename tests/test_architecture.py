"""The shape of the code base, checked: what a newcomer can rely on when reading it.

Layers are checked by import-linter (``make lint``, contracts in pyproject.toml); these
check what it cannot: SDKs loaded by importing the config, SQL drivers outside ``store/``,
module and function sizes, and a docstring on every module.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import batchrelay

PACKAGE = Path(batchrelay.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
#: What importing the config must not load: platform SDKs, the template engine, drivers.
SDKS = ("mns", "alibabacloud_", "aiosmtpd", "jinja2", "asyncpg")


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_importing_the_config_loads_no_sdk() -> None:
    probe = "import sys, json, batchrelay.config; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    loaded = [m for m in json.loads(out) if m.split(".")[0].startswith(SDKS)]
    assert loaded == []


def test_only_the_store_imports_a_sql_driver() -> None:
    driver = re.compile(r"^\s*(import|from)\s+(sqlite3|asyncpg)\b", re.M)
    drivers = [relative(p) for p in MODULES if driver.search(p.read_text())]
    assert [name for name in drivers if not name.startswith("store/")] == []
    assert drivers  # the check finds what it looks for


def test_no_module_is_over_500_lines() -> None:
    sizes = {relative(p): len(p.read_text().splitlines()) for p in MODULES}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long[f"{relative(path)}:{node.name}"] = size
    assert long == {}


def test_every_module_says_what_it_holds() -> None:
    silent = [relative(p) for p in MODULES if not ast.get_docstring(ast.parse(p.read_text()))]
    assert silent == []
