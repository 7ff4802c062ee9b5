"""Commands on events: ``parse`` (the normalized view), ``ingest`` (commit a file's inputs
through the pipeline) and ``simulate`` (send realistic traffic)."""

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
    open_routed,
    read_file,
    settings_of,
)
from batchrelay.config import Settings
from batchrelay.errors import ConfigError, InputError


def cmd_parse(args: argparse.Namespace) -> int:
    from batchrelay.events.decode import decode_each
    from batchrelay.events.parse import parse
    from batchrelay.inputs import split_inputs

    settings = settings_of(args)
    status = EXIT_OK
    for line, raw in split_inputs(read_file(args.file)):
        for part in decode_safely(raw, args.ingress, decode_each):
            try:
                if isinstance(part, InputError):
                    raise part
                event = parse(part, args.ingress, batch_keys=settings.batch_key)
            except InputError as exc:
                fail(f"parse: {_where(args.file, line)}{exc.reason.value}: {exc.detail}")
                status = EXIT_INPUT
                continue
            print(json.dumps(event.normalized(), ensure_ascii=False))
    return status


def decode_safely(raw: bytes, ingress: str, decode_each: Any) -> list[Any]:
    try:
        return list(decode_each(raw, ingress, {}))
    except InputError as exc:
        return [exc]


def _where(path: str, line: int) -> str:
    return f"{path}:{line}: " if line else f"{path}: "


def cmd_ingest(args: argparse.Namespace) -> int:
    from batchrelay.inputs import split_inputs

    settings = settings_of(args)
    inputs = list(split_inputs(read_file(args.file)))
    return asyncio.run(_ingest(settings, args.file, inputs))


async def _ingest(settings: Settings, path: str, inputs: list[tuple[int, bytes]]) -> int:
    from batchrelay.metrics import Metrics
    from batchrelay.sources.pipeline import Pipeline

    store = open_routed(settings)
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
                fail(f"ingest: {_where(path, line)}quarantined: {exc.reason.value}: {exc.detail}")
    finally:
        await store.close()
    print(json.dumps(totals))
    return EXIT_INPUT if totals["quarantined"] else EXIT_OK


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    from batchrelay import simulate

    simulate.add_arguments(parser)


def cmd_simulate(args: argparse.Namespace) -> int:
    from batchrelay import simulate

    try:
        result: int = asyncio.run(simulate.run(args))
    except ConfigError as exc:  # the flags are wrong: a usage error, there is no config
        fail(f"simulate: {exc}")
        return EXIT_USAGE
    return result
