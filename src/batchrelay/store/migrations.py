"""Versioned schema migrations as files: ``NNNN_name.sql`` in each backend's ``migrations/``
folder, read in version order. Each backend applies them its own way (``migrate.py``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from batchrelay.errors import StoreError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Traversable) -> list[Migration]:
    """Every ``NNNN_name.sql`` in ``directory``, by version; other files are ignored."""
    found = []
    for entry in directory.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a version in {directory}")
    return sorted(found, key=lambda migration: migration.version)
