"""The argument parser: every command, its options and an example."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from batchrelay import __version__
from batchrelay.cli.common import (
    DEFAULT_CONFIG_HELP,
    EXIT_OK,
    login_name,
)
from batchrelay.cli.events import add_simulate_arguments, cmd_ingest, cmd_parse, cmd_simulate
from batchrelay.cli.ledger import cmd_ledger, cmd_store
from batchrelay.cli.operations import cmd_batch, cmd_deadletters, cmd_silence
from batchrelay.cli.routes import cmd_routes
from batchrelay.cli.run import cmd_check_config, cmd_run
from batchrelay.cli.subscriptions import cmd_subscriptions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchrelay",
        description="Watch Alibaba Cloud batch processing: ingest IMM, OSS and ICE "
        "notifications, keep a per-batch ledger, route notifications and raise alerts.",
        epilog="Run 'batchrelay COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"batchrelay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _daemon(sub)
    _events(sub)
    _routes(sub)
    _operations(sub)
    _batches(sub)
    _ledger(sub)
    _subscriptions(sub)
    _command(sub, "completion", cmd_completion, "print the shell completion script for SHELL",
             "batchrelay completion bash > /etc/bash_completion.d/batchrelay").add_argument(
        "shell", choices=["bash", "zsh", "tcsh"]
    )  # fmt: skip
    return parser


def cmd_completion(args: argparse.Namespace) -> int:
    from batchrelay.cli.completion import script

    print(script(build_parser(), args.shell))
    return EXIT_OK


def _command(
    sub: Any, name: str, handler: Callable[[argparse.Namespace], int], help_: str, example: str
) -> Any:
    p = sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {example}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.set_defaults(handler=handler)
    return p


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="JSON lines even on a terminal (the default when piped)")  # fmt: skip


def _daemon(sub: Any) -> None:
    """The daemon itself."""
    p = _command(sub, "run", cmd_run, "run the daemon (SIGHUP reloads the config file)",
                 "batchrelay run -c config/local.yaml --log-level debug")  # fmt: skip
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="every logger's level, over the file's log.level")  # fmt: skip
    p.add_argument("--log-format", choices=["auto", "json", "console"],
                   help="JSON lines, or the console renderer (auto: on a terminal),"
                   " over the file's log.format")  # fmt: skip
    _command(sub, "check-config", cmd_check_config, "validate a config file",
            "batchrelay check-config -c config/example.yaml").add_argument(
        "-c", "--config", required=True, help="YAML config file"
    )  # fmt: skip


def _events(sub: Any) -> None:
    """Events: parse, ingest, simulate, the emulator."""
    p = _command(sub, "parse", cmd_parse,
                 "print the normalized view of each input in FILE (- = stdin)",
                 "batchrelay parse tests/fixtures/samples/imm-task-mns-queue.json")  # fmt: skip
    p.add_argument("file")
    p.add_argument(
        "--ingress",
        default="replay",
        choices=["replay", "mns-queue", "mns-push", "eventbridge", "ice-http"],
    )
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = _command(sub, "ingest", cmd_ingest, "commit each input in FILE (- = stdin) to the store",
                "batchrelay ingest events.jsonl -c config/local.yaml")  # fmt: skip
    p.add_argument("file")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = _command(sub, "simulate", cmd_simulate, "send realistic IMM/ICE batch traffic",
                "batchrelay simulate --target eventbridge --endpoint http://127.0.0.1:8080"
                " --kind imm-batch")  # fmt: skip
    add_simulate_arguments(p)
    sub.add_parser("emulator", help="run the local MNS emulator (see: emulator --help)")


def _routes(sub: Any) -> None:
    """``routes test``."""
    p = _command(sub, "routes", cmd_routes, "show where an event, an alert or a digest goes and "
                "what each receiver would be sent, without sending",
                "batchrelay routes test tests/fixtures/samples/imm-task-eventbridge.json"
                " -c tests/fixtures/routes.yaml\n  batchrelay routes test --alert stalled -c "
                "config/local.yaml\n  batchrelay routes test --digest BATCH_KEY -c "
                "config/local.yaml")  # fmt: skip
    p.add_argument("action", choices=["test"])
    p.add_argument("event_file", nargs="?", help="an event body, or JSON lines of them")
    p.add_argument("--alert", metavar="RULE", help="the firing notice of this alert rule")
    p.add_argument("--batch", metavar="BATCH_KEY",
                   help="--alert: this batch of the store (default: an example batch)")  # fmt: skip
    p.add_argument("--digest", metavar="BATCH_KEY",
                   help="the completion digest of this batch of the store")  # fmt: skip
    p.add_argument("-c", "--config", required=True, help="YAML config file")


def _operations(sub: Any) -> None:
    """Dead letters and silences."""
    p = _command(sub, "deadletters", cmd_deadletters, "list dead letters or replay one",
                "batchrelay deadletters list -c config/local.yaml")  # fmt: skip
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("delivery_id", nargs="?")
    _json_flag(p)
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = _command(sub, "silence", cmd_silence, "add, list or expire alert silences",
                'batchrelay silence add --batch batch-0042 --duration 4h --comment "re-run"'
                " -c config/local.yaml")  # fmt: skip
    p.add_argument("action", choices=["add", "list", "expire"])
    p.add_argument("silence_id", nargs="?", help="expire: the silence's id")
    p.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="MATCHER",
        help='add: a label matcher such as alertname="stalled" (repeatable)',
    )
    p.add_argument("--batch", help="add: silence this batch (with no --match: all of it)")
    p.add_argument(
        "--expire-on-close", action="store_true", help="add: end the silence when the batch closes"
    )
    p.add_argument("--duration", help="add: how long, such as 2h (or --until)")
    p.add_argument("--until", help="add: when it ends, ISO 8601 with a time zone")
    p.add_argument("--comment", help="add: why")
    p.add_argument("--author", default=login_name(), help="add: who (default: your login name)")
    p.add_argument("--state", choices=["active", "pending", "expired"], help="list: only these")
    _json_flag(p)
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)


def _subscriptions(sub: Any) -> None:
    """Webhook subscriptions."""
    p = _command(sub, "subscriptions", cmd_subscriptions,
                 "add, list, show, rotate, test, replay, disable, enable or remove webhook"
                 " subscriptions", "batchrelay subscriptions add https://cms.example.com/hooks"
                 " --filter '{\"status\": [\"failed\"]}' -c config/local.yaml")  # fmt: skip
    p.add_argument("action", choices=["add", "list", "show", "rotate", "test", "replay",
                                      "disable", "enable", "rm"])  # fmt: skip
    p.add_argument("target", nargs="?", help="add: the URL; the others: the subscription's id")
    p.add_argument("--filter", help="add: an event pattern, as JSON")
    p.add_argument("--kind", action="append", help="add: only this kind (repeatable)")
    p.add_argument("--description", help="add: what it is for")
    p.add_argument("--header", action="append", metavar="NAME=VALUE",
                   help="add: a header sent with every message (repeatable)")  # fmt: skip
    p.add_argument("--secret", help="add, rotate: this whsec_ secret instead of a new one")
    p.add_argument("--overlap", help="rotate: how long the old secret signs too, such as 1h")
    p.add_argument("--batch", help="replay: this batch's events")
    p.add_argument("--since", help="replay: events first sent from this time (ISO 8601)")
    p.add_argument("--until", help="replay: events first sent before this time")
    _json_flag(p)
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)


def _batches(sub: Any) -> None:
    """Copying a store, and batch actions."""
    p = _command(sub, "store", cmd_store,
                 "copy another store's journal into the configured one; or show its tables' "
                 "sizes, rows and oldest rows (stats)",
                 "batchrelay store copy --from sqlite:///data/batchrelay.db -c "
                 "config/postgres.yaml")  # fmt: skip
    p.add_argument("action", choices=["copy", "stats"])
    p.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="copy: the store to read, e.g. sqlite:///data/batchrelay.db",
    )
    _json_flag(p)
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = _command(sub, "batch", cmd_batch,
                 "suspend, resume or update an IMM batch (sources.imm_api)",
                 "batchrelay batch resume batch-7c1d2e3f -c config.yaml")  # fmt: skip
    p.add_argument("action", choices=["suspend", "resume", "update"])
    p.add_argument("batch_key", metavar="ID")
    p.add_argument("--actor", default=login_name(), help="who asks (default: your login name)")
    for name in ("tags", "actions", "input"):
        p.add_argument(f"--{name}", metavar="JSON", help=f"update: the new {name.title()}")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)


def _ledger(sub: Any) -> None:
    """The ledger."""
    p = _command(sub, "ledger", cmd_ledger, "show or rebuild the ledger",
                "batchrelay ledger show -c config/local.yaml")  # fmt: skip
    p.add_argument("action", choices=["show", "rebuild"])
    p.add_argument("batch_key", nargs="?")
    _json_flag(p)
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
