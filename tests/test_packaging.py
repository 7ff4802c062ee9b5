"""The distribution: what ``pip install .`` (and so the image) gets.

The wheel is built from a copy of the project with the setuptools of this environment,
offline. It must carry every file of the package (templates, migrations, the dashboard,
the API description), the license, and the version from its one home.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from batchrelay import __version__

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_carries_every_package_file_the_license_and_the_version(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", project / "src", ignore=junk)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--quiet",
         "--wheel-dir", str(tmp_path / "dist"), str(project)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    [wheel] = (tmp_path / "dist").glob("batchrelay-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = project / "src" / "batchrelay"
    shipped = {f"batchrelay/{p.relative_to(package)}" for p in package.rglob("*") if p.is_file()}
    assert shipped <= names, sorted(shipped - names)
    info = f"batchrelay-{__version__}.dist-info"
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode())
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0"
    license_text = zipfile.ZipFile(wheel).read(f"{info}/licenses/LICENSE").decode()
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_version_is_what_the_command_and_the_installed_metadata_say() -> None:
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", "batchrelay", "--version"],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == f"batchrelay {__version__}"
    assert version("batchrelay") == __version__
