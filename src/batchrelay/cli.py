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
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchrelay import __version__
from batchrelay.config import Settings, load
from batchrelay.errors import ConfigError, InputError, StoreError
from batchrelay.terminal import Column, print_listing, wants_table

if TYPE_CHECKING:
    from batchrelay.stores import AnyStore

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_STORE, EXIT_SERVICE = 0, 1, 2, 3, 4
EXIT_PIPE = 128 + 13  # as if killed by SIGPIPE, the shell's convention
DEFAULT_CONFIG_HELP = "YAML config file (default: embedded defaults)"


class InputFileError(Exception):
    """A file named on the command line cannot be read."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:  # the emulator parses its own flags, --help included
        from batchrelay import emulator

        result: int = emulator.main(argv[1:])
        return result
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "run":  # one-shot commands keep stdout for their output
        from batchrelay import log as logconf

        logconf.configure("warning", "json", stream="stderr")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}")
        return EXIT_USAGE
    except StoreError as exc:
        _fail(f"store error: {exc}")
        return EXIT_STORE
    except InputFileError as exc:
        _fail(str(exc))
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


def _fail(message: str) -> None:
    print(f"batchrelay: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchrelay",
        description="Watch Alibaba Cloud batch processing: ingest IMM, OSS and ICE "
        "notifications, keep a per-batch ledger, route notifications and raise alerts.",
        epilog="Run 'batchrelay COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"batchrelay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help_: str, example: str
    ) -> Any:
        p = sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        p.set_defaults(handler=handler)
        return p

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true",
                       help="JSON lines even on a terminal (the default when piped)")  # fmt: skip

    command("run", cmd_run, "run the daemon",
            "batchrelay run -c config/local.yaml").add_argument(
        "-c", "--config", help=DEFAULT_CONFIG_HELP
    )  # fmt: skip
    command("check-config", cmd_check_config, "validate a config file",
            "batchrelay check-config -c config/example.yaml").add_argument(
        "-c", "--config", required=True, help="YAML config file"
    )  # fmt: skip
    p = command("parse", cmd_parse, "print the normalized view of each input in FILE (- = stdin)",
                "batchrelay parse tests/fixtures/samples/imm-task-mns-queue.json")  # fmt: skip
    p.add_argument("file")
    p.add_argument(
        "--ingress",
        default="replay",
        choices=["replay", "mns-queue", "mns-push", "eventbridge", "ice-http"],
    )
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("ingest", cmd_ingest, "commit each input in FILE (- = stdin) to the store",
                "batchrelay ingest events.jsonl -c config/local.yaml")  # fmt: skip
    p.add_argument("file")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("simulate", cmd_simulate, "send realistic IMM/ICE batch traffic",
                "batchrelay simulate --target eventbridge --endpoint http://127.0.0.1:8080"
                " --kind imm-batch")  # fmt: skip
    _add_simulate_arguments(p)
    sub.add_parser("emulator", help="run the local MNS emulator (see: emulator --help)")
    p = command("routes", cmd_routes, "show where an event, an alert or a digest goes and "
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
    p = command("deadletters", cmd_deadletters, "list dead letters or replay one",
                "batchrelay deadletters list -c config/local.yaml")  # fmt: skip
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("delivery_id", nargs="?")
    json_flag(p)
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("silence", cmd_silence, "add, list or expire alert silences",
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
    p.add_argument("--author", default=_login_name(), help="add: who (default: your login name)")
    p.add_argument("--state", choices=["active", "pending", "expired"], help="list: only these")
    json_flag(p)
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("store", cmd_store, "copy another store's journal into the configured one",
                "batchrelay store copy --from sqlite:///data/batchrelay.db -c "
                "config/postgres.yaml")  # fmt: skip
    p.add_argument("action", choices=["copy"])
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="the store to read, e.g. sqlite:///data/batchrelay.db",
    )
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("batch", cmd_batch, "suspend, resume or update an IMM batch (sources.imm_api)",
                "batchrelay batch resume batch-7c1d2e3f -c config.yaml")  # fmt: skip
    p.add_argument("action", choices=["suspend", "resume", "update"])
    p.add_argument("batch_key", metavar="ID")
    p.add_argument("--actor", default=_login_name(), help="who asks (default: your login name)")
    for name in ("tags", "actions", "input"):
        p.add_argument(f"--{name}", metavar="JSON", help=f"update: the new {name.title()}")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("ledger", cmd_ledger, "show or rebuild the ledger",
                "batchrelay ledger show -c config/local.yaml")  # fmt: skip
    p.add_argument("action", choices=["show", "rebuild"])
    p.add_argument("batch_key", nargs="?")
    json_flag(p)
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    command("completion", cmd_completion, "print the shell completion script for SHELL",
            "batchrelay completion bash > /etc/bash_completion.d/batchrelay").add_argument(
        "shell", choices=["bash", "zsh", "tcsh"]
    )  # fmt: skip
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load(getattr(args, "config", None))


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None


def _open_existing(settings: Settings) -> AnyStore:
    """The configured store, refusing a SQLite file that is not there: opening would
    create an empty one, and the command would report on nothing."""
    from batchrelay.stores import open_store

    if settings.store.backend == "sqlite" and not settings.store.sqlite_path.exists():
        path = settings.store.sqlite_path
        raise StoreError(
            f"no database at {path} (resolved: {path.resolve()}); `batchrelay run` creates it."
            " Run this from the folder the daemon runs in, or give its config with -c"
        )
    return open_store(settings)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): say which uid it was
        return f"uid {os.getuid()}"


def cmd_run(args: argparse.Namespace) -> int:
    from batchrelay.app import run

    run(_settings(args), args.config)
    return EXIT_OK


def cmd_completion(args: argparse.Namespace) -> int:
    from batchrelay.completion import script

    print(script(_parser(), args.shell))
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    _settings(args)
    print(f"{args.config}: ok")
    return EXIT_OK


def cmd_parse(args: argparse.Namespace) -> int:
    from batchrelay.events.decode import decode_each
    from batchrelay.events.parse import parse
    from batchrelay.inputs import split_inputs

    settings = _settings(args)
    status = EXIT_OK
    for line, raw in split_inputs(_read(args.file)):
        for part in _decode_safely(raw, args.ingress, decode_each):
            try:
                if isinstance(part, InputError):
                    raise part
                event = parse(part, args.ingress, batch_keys=settings.batch_key)
            except InputError as exc:
                _fail(f"parse: {_where(args.file, line)}{exc.reason.value}: {exc.detail}")
                status = EXIT_INPUT
                continue
            print(json.dumps(event.normalized(), ensure_ascii=False))
    return status


def _decode_safely(raw: bytes, ingress: str, decode_each: Any) -> list[Any]:
    try:
        return list(decode_each(raw, ingress, {}))
    except InputError as exc:
        return [exc]


def _where(path: str, line: int) -> str:
    return f"{path}:{line}: " if line else f"{path}: "


def cmd_ingest(args: argparse.Namespace) -> int:
    from batchrelay.inputs import split_inputs

    settings = _settings(args)
    inputs = list(split_inputs(_read(args.file)))
    return asyncio.run(_ingest(settings, args.file, inputs))


async def _ingest(settings: Settings, path: str, inputs: list[tuple[int, bytes]]) -> int:
    from batchrelay.metrics import Metrics
    from batchrelay.pipeline import Pipeline
    from batchrelay.stores import open_store

    store = open_store(settings)
    await store.start()
    try:
        pipeline = Pipeline(store, Metrics(), settings.batch_key)
        totals = {"committed": 0, "duplicates": 0, "quarantined": 0}
        for line, raw in inputs:
            result = await pipeline.ingest(raw, "replay", {})
            totals["committed"] += result.committed
            totals["duplicates"] += result.duplicates
            totals["quarantined"] += len(result.errors)
            for exc in result.errors:
                _fail(f"ingest: {_where(path, line)}quarantined: {exc.reason.value}: {exc.detail}")
    finally:
        await store.close()
    print(json.dumps(totals))
    return EXIT_INPUT if totals["quarantined"] else EXIT_OK


def _add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    from batchrelay import simulate

    simulate.add_arguments(parser)


def cmd_simulate(args: argparse.Namespace) -> int:
    from batchrelay import simulate

    try:
        result: int = asyncio.run(simulate.run(args))
    except ConfigError as exc:  # the flags are wrong: a usage error, there is no config
        _fail(f"simulate: {exc}")
        return EXIT_USAGE
    return result


def _events_in(path: str, settings: Settings) -> list[Any]:
    from batchrelay.events.decode import decode_each
    from batchrelay.events.parse import parse
    from batchrelay.inputs import split_inputs

    events = []
    for _, raw in split_inputs(_read(path)):
        for part in _decode_safely(raw, "replay", decode_each):
            if isinstance(part, InputError):
                raise part
            events.append(parse(part, "replay", batch_keys=settings.batch_key))
    return events


def cmd_routes(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.routing is None and not args.alert and not args.digest:
        _fail("routes: the config has no routing section")
        return EXIT_USAGE
    if sum(bool(x) for x in (args.event_file, args.alert, args.digest)) != 1:
        _fail("routes test: give one of EVENT_FILE, --alert RULE or --digest BATCH_KEY")
        return EXIT_USAGE
    if args.event_file:
        return _routes_for_events(settings, args.event_file)
    return asyncio.run(_routes_for_notice(settings, args.alert, args.batch, args.digest))


def _routes_for_events(settings: Settings, path: str) -> int:
    from datetime import UTC, datetime

    from batchrelay.delivery.preview import preview

    try:
        events = _events_in(path, settings)
    except InputError as exc:
        _fail(f"routes: {path}: {exc.reason.value}: {exc.detail}")
        return EXIT_INPUT
    now = datetime.now(UTC)
    for event in events:
        view = event.normalized()
        print(f"event {view['event_id']} ({view['type']}, {view['status']}, "
              f"batch {view['batch_key']})")  # fmt: skip
        for shown in asyncio.run(preview(settings, event, now)):
            _print_preview(shown)
    return EXIT_OK


async def _routes_for_notice(
    settings: Settings, rule: str | None, batch_key: str | None, digest_of: str | None
) -> int:
    from datetime import UTC, datetime

    from batchrelay.alerts import preview

    now = datetime.now(UTC)
    if rule is not None and rule not in {r.name for r in settings.alerts.rules}:
        names = ", ".join(r.name for r in settings.alerts.rules) or "none"
        _fail(f"routes test --alert: no rule {rule!r} (rules: {names})")
        return EXIT_USAGE
    key = digest_of or batch_key
    batch, facts = (
        (preview.example_batch(now), None) if key is None else await _read_batch(settings, key)
    )
    if batch is None or (facts is None and digest_of):
        _fail(f"routes test: no batch {key!r} in the store")
        return EXIT_INPUT
    if rule is not None:
        notice = preview.alert_notice(settings, rule, batch, now)
        print(f"alert {rule} firing for batch {batch.batch_key} ({batch.state})")
    else:
        assert facts is not None  # read with the batch
        notice = preview.digest_notice(settings, batch, facts, now)
        print(f"completion digest for batch {batch.batch_key} ({batch.state})")
    for shown in await preview.preview_notice(settings, notice, batch, now):
        _print_preview(shown)
    return EXIT_OK


async def _read_batch(settings: Settings, key: str) -> tuple[Any, Any]:
    """(BatchView, DigestFacts) of ``key`` from the store, or (None, None)."""
    from batchrelay.alerts.stores import alert_store_for

    store = _open_existing(settings)
    await store.start()
    try:
        batch = await store.get_batch(key)
        if batch is None:
            return None, None
        limit = settings.alerts.digest.max_failures
        return batch, await alert_store_for(store).digest_facts(key, limit)
    finally:
        await store.close()


def _print_preview(shown: Any) -> None:
    match = shown.match
    name = f" ({match.name})" if match.name else ""
    muted = ", muted now" if match.muted else ""
    print(f"  route {match.route}{name} -> receiver {match.receiver} [{shown.kind}]{muted}")
    if shown.kind == "null":
        print("    dropped: a null receiver sends nothing")
        return
    print(f"    group {match.group_key}")
    for host, body in shown.messages:
        print(f"    message to {host}:")
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=2)
        print("\n".join("      " + line for line in text.splitlines()))
    if shown.error:
        print(f"    not rendered: {shown.error}")


def cmd_deadletters(args: argparse.Namespace) -> int:
    return asyncio.run(_deadletters(_settings(args), args.action, args.delivery_id, args.json))


_DEAD_LETTER_COLUMNS: list[Column] = [
    ("ID", lambda r: r["id"]),
    ("RECEIVER", lambda r: r["receiver"]),
    ("BATCH", lambda r: r["batch_key"]),
    ("ATTEMPTS", lambda r: r["attempts"]),
    ("REASON", lambda r: f"{r['last_reason'] or ''} {r['last_detail'] or ''}"),
]


async def _deadletters(
    settings: Settings, action: str, delivery_id: str | None, as_json: bool
) -> int:
    import time

    from batchrelay.delivery import outbox
    from batchrelay.delivery.outboxes import outbox_for

    store = _open_existing(settings)
    await store.start()
    try:
        if action == "list":
            rows = await outbox_for(store).list_deliveries("dead", None, 100, "")
            print_listing(rows, _DEAD_LETTER_COLUMNS, as_table=wants_table(as_json),
                          empty="No dead letters.")  # fmt: skip
            return EXIT_OK
        if not delivery_id:
            _fail("deadletters replay: which one? give its id (see: deadletters list)")
            return EXIT_USAGE
        now = int(time.time() * outbox.SECOND)
        if not await outbox_for(store).replay(delivery_id, now):
            _fail(f"deadletters replay: no dead letter {delivery_id!r}")
            return EXIT_INPUT
        print(json.dumps({"replayed": delivery_id}))
        return EXIT_OK
    finally:
        await store.close()


_SILENCE_COLUMNS: list[Column] = [
    ("ID", lambda r: r["id"]),
    ("STATE", lambda r: r["state"]),
    ("MATCHERS", lambda r: ", ".join(f'{n}{op}"{v}"' for n, op, v in r["matchers"])),
    ("BATCH", lambda r: r.get("batch_key")),
    ("ENDS", lambda r: r["ends_at"]),
    ("BY", lambda r: r["created_by"]),
    ("COMMENT", lambda r: r["comment"]),
]


def cmd_silence(args: argparse.Namespace) -> int:
    return asyncio.run(_silence(_settings(args), args))


async def _silence(settings: Settings, args: argparse.Namespace) -> int:
    import time
    import uuid
    from datetime import UTC, datetime

    from batchrelay.alerts.api import silence_from_body, silence_json
    from batchrelay.alerts.stores import alert_store_for

    now = datetime.fromtimestamp(time.time(), UTC)
    if args.action == "add":
        body = {"matchers": args.match, "batch_key": args.batch, "duration": args.duration,
                "ends_at": args.until, "comment": args.comment or "", "created_by": args.author,
                "expire_on_batch_close": args.expire_on_close}  # fmt: skip
        try:
            silence = silence_from_body({k: v for k, v in body.items() if v is not None},
                                        now, uuid.uuid4().hex)  # fmt: skip
        except ValueError as exc:
            _fail(f"silence add: {exc}")
            return EXIT_USAGE
    elif args.action == "expire" and not args.silence_id:
        _fail("silence expire: which one? give its id (see: silence list)")
        return EXIT_USAGE
    store = _open_existing(settings)
    await store.start()
    alerts = alert_store_for(store)
    try:
        if args.action == "add":
            await alerts.put_silence(silence, now)
        elif args.action == "expire":
            found = await alerts.silence(args.silence_id)
            if found is None:
                _fail(f"silence expire: no silence {args.silence_id!r}")
                return EXIT_INPUT
            silence = found.expire(now)
            await alerts.put_silence(silence, now)
        else:
            shown = [silence_json(listed, now) for listed in await alerts.silences()]
            rows = [row for row in shown if args.state in (None, row["state"])]
            print_listing(rows, _SILENCE_COLUMNS, as_table=wants_table(args.json),
                          empty=f"No {args.state or ''} silences.".replace("  ", " "))  # fmt: skip
            return EXIT_OK
        print_listing([silence_json(silence, now)], _SILENCE_COLUMNS,
                      as_table=wants_table(args.json), empty="")  # fmt: skip
        return EXIT_OK
    finally:
        await store.close()


def cmd_store(args: argparse.Namespace) -> int:
    return asyncio.run(_store_copy(_settings(args), args.source))


async def _store_copy(settings: Settings, source_url: str) -> int:
    """Replay the source's journal, in arrival order, into the configured store.

    Idempotent (an event already there is a duplicate), so an interrupted copy is simply run
    again. Nothing is routed or marked for alerting: old events notify no one.
    """
    from pydantic import ValidationError

    from batchrelay.alerts.rules import AlertsConfig, DigestConfig
    from batchrelay.config import StoreConfig
    from batchrelay.store.base import CommitOutcome
    from batchrelay.stores import open_store

    quiet = {"routing": None, "alerts": AlertsConfig(digest=DigestConfig(enabled=False))}
    try:
        source_cfg = StoreConfig(url=source_url)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        _fail(f"store copy: --from: {problem}")
        return EXIT_USAGE
    source = _open_existing(settings.model_copy(update={**quiet, "store": source_cfg}))
    target = open_store(settings.model_copy(update=quiet))
    await source.start()
    try:
        await target.start()
        try:
            copied = duplicates = 0
            after = 0
            while page := await source.read_journal(after, 1000):
                outcomes = await target.commit_many([inbound for _, inbound in page])
                after = page[-1][0]
                copied += sum(o is CommitOutcome.COMMITTED for o in outcomes)
                duplicates += sum(o is CommitOutcome.DUPLICATE for o in outcomes)
            print(json.dumps({"copied": copied, "already_there": duplicates}))
            return EXIT_OK
        finally:
            await target.close()
    finally:
        await source.close()


def cmd_batch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.sources.imm_api is None:
        _fail("batch: the config has no sources.imm_api")
        return EXIT_USAGE
    changes = {}
    for name in ("tags", "actions", "input"):
        given = getattr(args, name)
        if given is not None and args.action != "update":
            _fail(f"batch {args.action}: --{name} is for update only")
            return EXIT_USAGE
        if given is not None:
            try:
                changes[name.title()] = json.loads(given)
            except ValueError:
                _fail(f"batch update: --{name} is not valid JSON")
                return EXIT_USAGE
    return asyncio.run(_batch(settings, args, changes))


async def _batch(settings: Settings, args: argparse.Namespace, changes: dict[str, Any]) -> int:
    from batchrelay.cloudapi.actions import BatchActions, UnknownBatch
    from batchrelay.cloudapi.clients import ImmApi
    from batchrelay.errors import ActionRefused, CloudApiError
    from batchrelay.metrics import Metrics
    from batchrelay.pipeline import Pipeline
    from batchrelay.stores import open_store

    if settings.sources.imm_api is None:  # checked by the caller; for the type checker
        return EXIT_USAGE
    store = open_store(settings)
    await store.start()
    try:
        registry = Metrics()
        pipeline = Pipeline(store, registry, settings.batch_key)
        actions = BatchActions(ImmApi(settings.sources.imm_api), pipeline, store, registry)
        result = await actions.run(args.batch_key, args.action, args.actor, changes)
    except ValueError as exc:
        _fail(f"batch {args.action}: {exc}")
        return EXIT_USAGE
    except UnknownBatch:
        _fail(f"batch {args.action}: no batch {args.batch_key!r} in the ledger")
        return EXIT_INPUT
    except ActionRefused as exc:
        _fail(f"batch {args.action}: refused: {exc}")
        return EXIT_INPUT
    except CloudApiError as exc:
        _fail(f"batch {args.action}: the service answered {exc.code or exc.reason}: {exc.message}")
        return EXIT_SERVICE
    finally:
        await store.close()
    print(json.dumps({"batch_key": result.batch_key, "action": result.action,
                      "outcome": result.outcome, "state": result.state,
                      "raw_state": result.raw_state}))  # fmt: skip
    return EXIT_OK


def cmd_ledger(args: argparse.Namespace) -> int:
    return asyncio.run(_ledger(_settings(args), args.action, args.batch_key, args.json))


_BATCH_COLUMNS: list[Column] = [
    ("BATCH", lambda b: b["batch_key"]),
    ("KIND", lambda b: b["kind"]),
    ("STATE", lambda b: b["state"]),
    ("PROJECT", lambda b: b.get("project")),
    ("TASKS", lambda b: " ".join(f"{k} {v}" for k, v in sorted(b["task_counts"].items()))),
    ("UPDATED", lambda b: b["update_time"]),
]


async def _ledger(settings: Settings, action: str, batch_key: str | None, as_json: bool) -> int:
    store = _open_existing(settings)
    await store.start()
    try:
        if action == "rebuild":
            count = await store.rebuild_ledger()
            print(json.dumps({"rebuilt_from_events": count}))
            return EXIT_OK
        if batch_key:
            batch = await store.get_batch(batch_key)
            if batch is None:
                _fail(f"ledger: no batch {batch_key!r}")
                return EXIT_INPUT
            print(json.dumps(batch.model_dump(mode="json"), ensure_ascii=False, indent=2))
            return EXIT_OK
        snapshot = await store.ledger_snapshot()
        if wants_table(as_json):
            print_listing(list(snapshot["batches"].values()), _BATCH_COLUMNS, as_table=True,
                          empty="No batches yet.")  # fmt: skip
        else:
            print(json.dumps(snapshot, ensure_ascii=False, indent=2))
        return EXIT_OK
    finally:
        await store.close()
