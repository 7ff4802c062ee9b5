"""``batchrelay routes test``: where an event, an alert or a digest goes, and what each
receiver would be sent, without sending."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from batchrelay.cli.common import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    open_existing,
    read_file,
    settings_of,
)
from batchrelay.cli.events import decode_safely
from batchrelay.config import Settings
from batchrelay.errors import InputError


def _events_in(path: str, settings: Settings) -> list[Any]:
    from batchrelay.events.decode import decode_each
    from batchrelay.events.parse import parse
    from batchrelay.inputs import split_inputs

    events = []
    for _, raw in split_inputs(read_file(path)):
        for part in decode_safely(raw, "replay", decode_each):
            if isinstance(part, InputError):
                raise part
            events.append(parse(part, "replay", batch_keys=settings.batch_key))
    return events


def cmd_routes(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if settings.routing is None and not args.alert and not args.digest:
        fail("routes: the config has no routing section")
        return EXIT_USAGE
    if sum(bool(x) for x in (args.event_file, args.alert, args.digest)) != 1:
        fail("routes test: give one of EVENT_FILE, --alert RULE or --digest BATCH_KEY")
        return EXIT_USAGE
    if args.event_file:
        return _routes_for_events(settings, args.event_file)
    return asyncio.run(_routes_for_notice(settings, args.alert, args.batch, args.digest))


def _routes_for_events(settings: Settings, path: str) -> int:
    from datetime import UTC, datetime

    from batchrelay.preview.messages import preview

    try:
        events = _events_in(path, settings)
    except InputError as exc:
        fail(f"routes: {path}: {exc.reason.value}: {exc.detail}")
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

    from batchrelay.preview import notices as preview

    now = datetime.now(UTC)
    if rule is not None and rule not in {r.name for r in settings.alerts.rules}:
        names = ", ".join(r.name for r in settings.alerts.rules) or "none"
        fail(f"routes test --alert: no rule {rule!r} (rules: {names})")
        return EXIT_USAGE
    key = digest_of or batch_key
    batch, facts = (
        (preview.example_batch(now), None) if key is None else await _read_batch(settings, key)
    )
    if batch is None or (facts is None and digest_of):
        fail(f"routes test: no batch {key!r} in the store")
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
    store = open_existing(settings)
    await store.start()
    try:
        batch = await store.get_batch(key)
        if batch is None:
            return None, None
        limit = settings.alerts.digest.max_failures
        return batch, await store.alerts.digest_facts(key, limit)
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
