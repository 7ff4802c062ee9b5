"""What every command shares: exit codes, reading the config and input files, opening
the store, and saying what went wrong on stderr."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from batchrelay.config import Settings, load
from batchrelay.errors import StoreError

if TYPE_CHECKING:
    from batchrelay.store import Store


EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_STORE, EXIT_SERVICE = 0, 1, 2, 3, 4


EXIT_PIPE = 128 + 13  # as if killed by SIGPIPE, the shell's convention


DEFAULT_CONFIG_HELP = "YAML config file (default: embedded defaults)"


class InputFileError(Exception):
    """A file named on the command line cannot be read."""


def fail(message: str) -> None:
    print(f"batchrelay: {message}", file=sys.stderr)


def settings_of(args: argparse.Namespace) -> Settings:
    return load(getattr(args, "config", None))


def read_file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None


def open_store(settings: Settings) -> Store:
    """The configured store, marking batches for the alert evaluator when the daemon
    would (what a command commits is then evaluated by the running daemon)."""
    from batchrelay import store

    return store.open(settings.store, store.CommitHooks(mark_dirty=settings.alerting))


def open_routed(settings: Settings) -> Store:
    """The store as the daemon opens it, for commands that commit events: each commit
    also writes the route tree's notifications to the outbox (the running daemon sends
    them) and marks its batches for the alert evaluator."""
    from batchrelay import app
    from batchrelay.metrics import Metrics
    from batchrelay.routing.obligations import Router

    registry = Metrics()
    router = Router(app.route_tree(settings), dropped=registry.count_dropped)
    return app.open_store(settings, registry, router)


def open_existing(settings: Settings) -> Store:
    """The configured store, refusing a SQLite file that is not there: opening would
    create an empty one, and the command would report on nothing."""
    if settings.store.backend == "sqlite" and not settings.store.sqlite_path.exists():
        path = settings.store.sqlite_path
        raise StoreError(
            f"no database at {path} (resolved: {path.resolve()}); `batchrelay run` creates it."
            " Run this from the folder the daemon runs in, or give its config with -c"
        )
    return open_store(settings)


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): say which uid it was
        return f"uid {os.getuid()}"
