"""Commands an operator runs against a running deployment: dead letters, silences and
batch actions."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from batchrelay.cli.common import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_SERVICE,
    EXIT_USAGE,
    fail,
    open_existing,
    open_routed,
    settings_of,
)
from batchrelay.config import Settings
from batchrelay.terminal import Column, print_listing, wants_table


def cmd_deadletters(args: argparse.Namespace) -> int:
    return asyncio.run(_deadletters(settings_of(args), args.action, args.delivery_id, args.json))


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

    from batchrelay.store.contracts import SECOND

    store = open_existing(settings)
    await store.start()
    try:
        if action == "list":
            rows = await store.outbox.list_deliveries("dead", None, 100, "")
            print_listing(rows, _DEAD_LETTER_COLUMNS, as_table=wants_table(as_json),
                          empty="No dead letters.")  # fmt: skip
            return EXIT_OK
        if not delivery_id:
            fail("deadletters replay: which one? give its id (see: deadletters list)")
            return EXIT_USAGE
        now = int(time.time() * SECOND)
        if not await store.outbox.replay(delivery_id, now):
            fail(f"deadletters replay: no dead letter {delivery_id!r}")
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
    return asyncio.run(_silence(settings_of(args), args))


async def _silence(settings: Settings, args: argparse.Namespace) -> int:
    import time
    import uuid
    from datetime import UTC, datetime

    from batchrelay.http.alerts import silence_from_body, silence_json

    now = datetime.fromtimestamp(time.time(), UTC)
    if args.action == "add":
        body = {"matchers": args.match, "batch_key": args.batch, "duration": args.duration,
                "ends_at": args.until, "comment": args.comment or "", "created_by": args.author,
                "expire_on_batch_close": args.expire_on_close}  # fmt: skip
        try:
            silence = silence_from_body({k: v for k, v in body.items() if v is not None},
                                        now, uuid.uuid4().hex)  # fmt: skip
        except ValueError as exc:
            fail(f"silence add: {exc}")
            return EXIT_USAGE
    elif args.action == "expire" and not args.silence_id:
        fail("silence expire: which one? give its id (see: silence list)")
        return EXIT_USAGE
    store = open_existing(settings)
    await store.start()
    alerts = store.alerts
    try:
        if args.action == "add":
            await alerts.put_silence(silence, now)
        elif args.action == "expire":
            found = await alerts.silence(args.silence_id)
            if found is None:
                fail(f"silence expire: no silence {args.silence_id!r}")
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


def cmd_batch(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if settings.sources.imm_api is None:
        fail("batch: the config has no sources.imm_api")
        return EXIT_USAGE
    changes = {}
    for name in ("tags", "actions", "input"):
        given = getattr(args, name)
        if given is not None and args.action != "update":
            fail(f"batch {args.action}: --{name} is for update only")
            return EXIT_USAGE
        if given is not None:
            try:
                changes[name.title()] = json.loads(given)
            except ValueError:
                fail(f"batch update: --{name} is not valid JSON")
                return EXIT_USAGE
    return asyncio.run(_batch(settings, args, changes))


async def _batch(settings: Settings, args: argparse.Namespace, changes: dict[str, Any]) -> int:
    from batchrelay.cloudapi.actions import BatchActions, UnknownBatch
    from batchrelay.cloudapi.clients import ImmApi
    from batchrelay.errors import ActionRefused, CloudApiError
    from batchrelay.metrics import Metrics
    from batchrelay.sources.pipeline import Pipeline

    if settings.sources.imm_api is None:  # checked by the caller; for the type checker
        return EXIT_USAGE
    store = open_routed(settings)
    await store.start()
    try:
        registry = Metrics()
        pipeline = Pipeline(store, registry, settings.batch_key)
        actions = BatchActions(ImmApi(settings.sources.imm_api), pipeline, store, registry)
        result = await actions.run(args.batch_key, args.action, args.actor, changes)
    except ValueError as exc:
        fail(f"batch {args.action}: {exc}")
        return EXIT_USAGE
    except UnknownBatch:
        fail(f"batch {args.action}: no batch {args.batch_key!r} in the ledger")
        return EXIT_INPUT
    except ActionRefused as exc:
        fail(f"batch {args.action}: refused: {exc}")
        return EXIT_INPUT
    except CloudApiError as exc:
        fail(f"batch {args.action}: the service answered {exc.code or exc.reason}: {exc.message}")
        return EXIT_SERVICE
    finally:
        await store.close()
    print(json.dumps({"batch_key": result.batch_key, "action": result.action,
                      "outcome": result.outcome, "state": result.state,
                      "raw_state": result.raw_state}))  # fmt: skip
    return EXIT_OK
