"""The ``batchrelay`` command line. Known errors map to exit codes, never to tracebacks.

Exit codes: 0 success, 1 bad input (``parse``/``ingest``, a file that cannot be read;
``batch``: an unknown batch or an action the service's rules refuse), 2 usage or
configuration error, 3 the store failed or is missing, 4 the cloud service refused or
failed a call (``batch``), 141 the reader of the output went away
(``batchrelay ledger show | head``), quietly.

Commands that read a store refuse a SQLite file that does not exist (only ``run`` and
``ingest`` create one). Lists print a table on a terminal and JSON lines otherwise or
with ``--json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from batchrelay.cli.common import (
    EXIT_INPUT,
    EXIT_PIPE,
    EXIT_STORE,
    EXIT_USAGE,
    InputFileError,
    fail,
)
from batchrelay.cli.parser import build_parser
from batchrelay.errors import ConfigError, StoreError

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:  # the emulator parses its own flags, --help included
        from batchrelay import emulator

        result: int = emulator.main(argv[1:])
        return result
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "run":  # one-shot commands keep stdout for their output
        from batchrelay import log as logconf

        logconf.configure("warning", "json", stream="stderr")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
        return EXIT_USAGE
    except StoreError as exc:
        fail(f"store error: {exc}")
        return EXIT_STORE
    except InputFileError as exc:
        fail(str(exc))
        return EXIT_INPUT
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:
        return 130


def _discard_stdout() -> None:
    """The reader is gone: send what is still buffered nowhere, so that flushing stdout at
    exit does not raise again (the recipe in Python's ``signal`` documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
