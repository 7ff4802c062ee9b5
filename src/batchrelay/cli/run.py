"""``batchrelay run`` and ``batchrelay check-config``."""

from __future__ import annotations

import argparse

from batchrelay.cli.common import (
    EXIT_OK,
    settings_of,
)


def cmd_run(args: argparse.Namespace) -> int:
    from batchrelay.app import run

    run(settings_of(args), args.config, args.log_level, args.log_format)
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    settings_of(args)
    print(f"{args.config}: ok")
    return EXIT_OK
