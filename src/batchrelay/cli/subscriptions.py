"""``batchrelay subscriptions``: webhook subscriptions from the command line, on the
configured store (what the daemon serves at ``/api/v1/subscriptions``, the same rules)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from batchrelay.cli.common import EXIT_INPUT, EXIT_OK, EXIT_USAGE, fail, open_existing, settings_of
from batchrelay.config import Settings
from batchrelay.store import Store
from batchrelay.store.contracts import SECOND
from batchrelay.terminal import Column, print_listing, wants_table

_COLUMNS: list[Column] = [
    ("ID", lambda r: r["id"]),
    ("URL", lambda r: r["url"]),
    ("ENABLED", lambda r: "yes" if r["enabled"] else f"no: {r['disabled_reason']}"),
    ("FILTER", lambda r: json.dumps(r["filter"])),
    ("DESCRIPTION", lambda r: r["description"]),
]


def cmd_subscriptions(args: argparse.Namespace) -> int:
    return asyncio.run(_run(settings_of(args), args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.action not in ("add", "list") and not args.target:
        fail(f"subscriptions {args.action}: which one? give its id (see: subscriptions list)")
        return EXIT_USAGE
    if args.action == "add" and not args.target:
        fail("subscriptions add: give the URL to send to")
        return EXIT_USAGE
    store = open_existing(settings)
    await store.start()
    try:
        return await _ACTIONS[args.action](store, settings, args)
    except ValueError as exc:  # a BadQuery: the same message the API gives
        fail(f"subscriptions {args.action}: {exc}")
        return EXIT_INPUT
    finally:
        await store.close()


def _now() -> int:
    return time.time_ns() // 1000


def _show(value: dict[str, Any]) -> int:
    print(json.dumps(value, ensure_ascii=False))
    return EXIT_OK


async def _add(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    from batchrelay.delivery.subscriptions import egress_policy
    from batchrelay.http.subscription_input import CreateBody, new_subscription, parsed

    body: dict[str, Any] = {"url": args.target, "description": args.description or ""}
    if args.filter:
        body["filter"] = json.loads(args.filter)
    if args.kind:
        body["kinds"] = args.kind
    if args.secret:
        body["secret"] = args.secret
    if args.header:
        body["headers"] = dict(h.split("=", 1) for h in args.header if "=" in h)
    created: CreateBody = parsed(CreateBody, body)
    problem = await egress_policy(settings.subscriptions).refusal(created.url)
    if problem:
        raise ValueError(f"url: {problem}")
    sub, secret = new_subscription(created, _now())
    await store.subscriptions.create(sub)
    return _show({**sub.public(), "secret": secret})


async def _list(store: Store, _: Settings, args: argparse.Namespace) -> int:
    rows = [sub.public() for sub in await store.subscriptions.all()]
    print_listing(rows, _COLUMNS, as_table=wants_table(args.json), empty="No subscriptions.")
    return EXIT_OK


async def _show_one(store: Store, _: Settings, args: argparse.Namespace) -> int:
    sub = await store.subscriptions.get(args.target)
    if sub is None:
        fail(f"subscriptions {args.action}: no subscription {args.target!r}")
        return EXIT_INPUT
    return _show(sub.public())


async def _rotate(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    from batchrelay.http.subscription_input import RotateBody, new_secret, overlap_seconds, parsed

    given: RotateBody = parsed(RotateBody, {"secret": args.secret} if args.secret else {})
    sub = await store.subscriptions.get(args.target)
    if sub is None:
        return await _show_one(store, settings, args)
    overlap = overlap_seconds(args.overlap or "", settings.subscriptions.rotation_overlap)
    now, secret = _now(), given.secret or new_secret()
    rotated = sub.rotated(secret, now + int(overlap * SECOND), now)
    await store.subscriptions.save(rotated)
    return _show({**rotated.public(), "secret": secret,
                  "previous_expires_at": now + int(overlap * SECOND)})  # fmt: skip


async def _test(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    from batchrelay.delivery.subscriptions import egress_policy
    from batchrelay.notifiers.base import SendError, snippet
    from batchrelay.notifiers.subscription import SubscriptionSender, ping

    sub = await store.subscriptions.get(args.target)
    if sub is None:
        return await _show_one(store, settings, args)
    sender = SubscriptionSender(egress_policy(settings.subscriptions))
    try:
        reply = await sender.exchange(sub.url, "msg_test_cli_" + str(_now()), ping(sub.id),
                                      sub.signing_secrets(_now()), sub.headers)  # fmt: skip
    except SendError as exc:
        _show({"ok": False, "error": exc.reason.value, "detail": exc.detail})
        return EXIT_INPUT
    finally:
        await sender.close()
    ok = 200 <= reply.status < 300
    _show({"ok": ok, "status": reply.status, "body": snippet(reply.body, 1000)})
    return EXIT_OK if ok else EXIT_INPUT


async def _replay(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    if not (args.batch or args.since or args.until):
        fail("subscriptions replay: give --batch, or --since and/or --until")
        return EXIT_USAGE
    if await store.subscriptions.get(args.target) is None:
        return await _show_one(store, settings, args)
    since, until = _time(args.since, "--since"), _time(args.until, "--until")
    count = await store.subscriptions.replay(args.target, args.batch, since, until, _now())
    return _show({"replayed": count})


def _time(text: str | None, flag: str) -> int | None:
    if not text:
        return None
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"{flag}: give a time zone (Z or +08:00)")
    return int(at.timestamp() * SECOND)


async def _enable(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    sub = await store.subscriptions.get(args.target)
    if sub is None:
        return await _show_one(store, settings, args)
    on = args.action == "enable"
    now = _now()
    changed = replace(sub, enabled=on, disabled_reason=None if on else "disabled by hand",
                      failing_since=None if on else sub.failing_since, updated_at=now)  # fmt: skip
    await store.subscriptions.save(changed)
    if on and not sub.enabled:
        await store.subscriptions.resume(sub.id, now)
    return _show(changed.public())


async def _remove(store: Store, _: Settings, args: argparse.Namespace) -> int:
    if not await store.subscriptions.delete(args.target):
        fail(f"subscriptions rm: no subscription {args.target!r}")
        return EXIT_INPUT
    return _show({"removed": args.target})


_ACTIONS = {
    "add": _add, "list": _list, "show": _show_one, "rotate": _rotate, "test": _test,
    "replay": _replay, "disable": _enable, "enable": _enable, "rm": _remove,
}  # fmt: skip
