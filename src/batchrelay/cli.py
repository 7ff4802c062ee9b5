"""The ``batchrelay`` command line. Known errors map to exit codes, never to tracebacks.

Exit codes: 0 success, 1 bad input (``parse``/``ingest``; ``batch``: unknown batch or an
action the service's rules refuse), 2 usage or configuration error, 3 the store failed,
4 the cloud service refused or failed a call (``batch``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from batchrelay import __version__
from batchrelay.config import Settings, load
from batchrelay.errors import ConfigError, InputError, StoreError

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_STORE, EXIT_SERVICE = 0, 1, 2, 3, 4
DEFAULT_CONFIG_HELP = "YAML config file (default: embedded defaults)"


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
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> None:
    print(f"batchrelay: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchrelay", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"batchrelay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_: str) -> Any:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    command("run", cmd_run, "run the daemon").add_argument(
        "-c", "--config", help=DEFAULT_CONFIG_HELP
    )
    command("check-config", cmd_check_config, "validate a config file").add_argument(
        "-c", "--config", required=True, help="YAML config file"
    )
    p = command("parse", cmd_parse, "print the normalized view of each input in FILE (- = stdin)")
    p.add_argument("file")
    p.add_argument(
        "--ingress",
        default="replay",
        choices=["replay", "mns-queue", "mns-push", "eventbridge", "ice-http"],
    )
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("ingest", cmd_ingest, "commit each input in FILE (- = stdin) to the store")
    p.add_argument("file")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("simulate", cmd_simulate, "send realistic IMM/ICE batch traffic")
    _add_simulate_arguments(p)
    sub.add_parser("emulator", help="run the local MNS emulator (see: emulator --help)")
    p = command("routes", cmd_routes, "show where an event goes and what it would send")
    p.add_argument("action", choices=["test"])
    p.add_argument("event_file")
    p.add_argument("-c", "--config", required=True, help="YAML config file")
    p = command("deadletters", cmd_deadletters, "list dead letters or replay one")
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("delivery_id", nargs="?")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("silence", cmd_silence, "add, list or expire alert silences")
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
    p.add_argument("--author", default=os.environ.get("USER", ""), help="add: who")
    p.add_argument("--state", choices=["active", "pending", "expired"], help="list: only these")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("store", cmd_store, "copy another store's journal into the configured one")
    p.add_argument("action", choices=["copy"])
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="the store to read, e.g. sqlite:///data/batchrelay.db",
    )
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("batch", cmd_batch, "suspend, resume or update an IMM batch (sources.imm_api)")
    p.add_argument("action", choices=["suspend", "resume", "update"])
    p.add_argument("batch_key", metavar="ID")
    p.add_argument("--actor", default=os.environ.get("USER", "") or "cli", help="who asks")
    for name in ("tags", "actions", "input"):
        p.add_argument(f"--{name}", metavar="JSON", help=f"update: the new {name.title()}")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p = command("ledger", cmd_ledger, "show or rebuild the ledger")
    p.add_argument("action", choices=["show", "rebuild"])
    p.add_argument("batch_key", nargs="?")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load(getattr(args, "config", None))


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from batchrelay.app import run

    run(_settings(args))
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

    result: int = asyncio.run(simulate.run(args))
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
    from datetime import UTC, datetime

    from batchrelay.delivery.preview import preview

    settings = _settings(args)
    if settings.routing is None:
        _fail("routes: the config has no routing section")
        return EXIT_USAGE
    try:
        events = _events_in(args.event_file, settings)
    except InputError as exc:
        _fail(f"routes: {args.event_file}: {exc.reason.value}: {exc.detail}")
        return EXIT_INPUT
    now = datetime.now(UTC)
    for event in events:
        view = event.normalized()
        print(f"event {view['event_id']} ({view['type']}, {view['status']}, "
              f"batch {view['batch_key']})")  # fmt: skip
        for shown in asyncio.run(preview(settings, event, now)):
            _print_preview(shown)
    return EXIT_OK


def _print_preview(shown: Any) -> None:
    match = shown.match
    name = f" ({match.name})" if match.name else ""
    muted = ", muted now" if match.muted else ""
    print(f"  route {match.route}{name} -> receiver {match.receiver} [{shown.kind}]{muted}")
    print(f"    group {match.group_key}")
    for host, body in shown.messages:
        print(f"    message to {host}:")
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=2)
        print("\n".join("      " + line for line in text.splitlines()))
    if shown.error:
        print(f"    not rendered: {shown.error}")


def cmd_deadletters(args: argparse.Namespace) -> int:
    return asyncio.run(_deadletters(_settings(args), args.action, args.delivery_id))


async def _deadletters(settings: Settings, action: str, delivery_id: str | None) -> int:
    import time

    from batchrelay.delivery import outbox
    from batchrelay.delivery.outboxes import outbox_for
    from batchrelay.stores import open_store

    store = open_store(settings)
    await store.start()
    try:
        if action == "list":
            rows = await outbox_for(store).list_deliveries("dead", None, 100, "")
            for row in rows:
                print(json.dumps(row, ensure_ascii=False))
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


def cmd_silence(args: argparse.Namespace) -> int:
    return asyncio.run(_silence(_settings(args), args))


async def _silence(settings: Settings, args: argparse.Namespace) -> int:
    import time
    import uuid
    from datetime import UTC, datetime

    from batchrelay.alerts.api import silence_from_body, silence_json
    from batchrelay.alerts.stores import alert_store_for
    from batchrelay.stores import open_store

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
    store = open_store(settings)
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
            for listed in await alerts.silences():
                shown = silence_json(listed, now)
                if args.state in (None, shown["state"]):
                    print(json.dumps(shown, ensure_ascii=False))
            return EXIT_OK
        print(json.dumps(silence_json(silence, now), ensure_ascii=False))
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
    source = open_store(settings.model_copy(update={**quiet, "store": source_cfg}))
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
    return asyncio.run(_ledger(_settings(args), args.action, args.batch_key))


async def _ledger(settings: Settings, action: str, batch_key: str | None) -> int:
    from batchrelay.stores import open_store

    store = open_store(settings)
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
        print(json.dumps(await store.ledger_snapshot(), ensure_ascii=False, indent=2))
        return EXIT_OK
    finally:
        await store.close()
