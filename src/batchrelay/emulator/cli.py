"""``batchrelay emulator`` / ``python -m batchrelay.emulator``: serve until SIGINT or SIGTERM.

Without ``--access-key`` the emulator accepts the documented local default key
``batchrelay`` / ``batchrelay-secret``.
"""

from __future__ import annotations

import argparse
import sys

import structlog
from aiohttp import web
from pydantic import SecretStr, ValidationError

from batchrelay.emulator.app import create_app
from batchrelay.emulator.config import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
    FaultConfig,
)
from batchrelay.emulator.context import BACKEND
from batchrelay.log import configure

log = structlog.get_logger(__name__)


def _access_key(value: str) -> tuple[str, str]:
    key_id, _, secret = value.partition(":")
    if not key_id or not secret:
        raise argparse.ArgumentTypeError("expected ID:SECRET")
    return key_id, secret


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchrelay emulator",
        description="A local stand-in for Alibaba Cloud MNS (queues, topics, HTTP push) and,\n"
        "on the same port, the IMM/ICE batch APIs (ListBatches, GetBatch, ListTriggers,\n"
        "Suspend/Resume/UpdateBatch, ICE batch jobs).",
        epilog=f"Default access key: {DEFAULT_ACCESS_KEY_ID}:{DEFAULT_ACCESS_KEY_SECRET}\n\n"
        "example:\n  batchrelay emulator --port 8090 --queue imm-notify",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8090)
    add("--public-url", help="base URL clients use, if not http://HOST:PORT")
    add("--access-key", action="append", type=_access_key, metavar="ID:SECRET", help="repeatable")
    add("--account-id", default="1234567890123456")
    add("--region", default="cn-hangzhou")
    add("--queue", action="append", default=[], metavar="NAME", help="create at start; repeatable")
    add("--duplicate-ratio", type=float, default=0.0, help="received messages delivered twice")
    add("--error-ratio", type=float, default=0.0, help="requests answered 500 InternalError")
    add("--latency", type=float, default=0.0, help="seconds added to every answer")
    add("--lost-delete-ratio", type=float, default=0.0, help="deletes acknowledged but not done")
    add("--seed", type=int, help="seed for faults and retry jitter")
    add("--retry-scale", type=float, default=1.0, help="multiplies push retry intervals")
    add(
        "--legacy-cert",
        action="store_true",
        help="sign pushes as real MNS does: a 512-bit key, certificate expired in 2016",
    )
    add("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The validated config; raises pydantic.ValidationError naming the bad option."""
    keys = {key_id: SecretStr(secret) for key_id, secret in args.access_key or []}
    faults = FaultConfig(
        duplicate_ratio=args.duplicate_ratio,
        error_ratio=args.error_ratio,
        latency=args.latency,
        lost_delete_ratio=args.lost_delete_ratio,
    )
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        account_id=args.account_id,
        region=args.region,
        queues=tuple(args.queue),
        faults=faults,
        seed=args.seed,
        retry_scale=args.retry_scale,
        legacy_cert=args.legacy_cert,
        **({"access_keys": keys} if keys else {}),
    )


def main(argv: list[str] | None = None) -> int:
    """Parse flags, serve until SIGINT/SIGTERM; 0 on a clean stop, 2 on bad flags."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValidationError as exc:
        print(f"batchrelay emulator: invalid options: {exc}", file=sys.stderr)
        return 2
    configure(args.log_level)
    app = create_app(config)
    app.on_startup.append(_announce)
    web.run_app(
        app, host=config.host, port=config.port, print=None, access_log=None, shutdown_timeout=2.0
    )
    return 0


async def _announce(app: web.Application) -> None:
    state = app[BACKEND]
    log.info(
        "emulator.started",
        url=state.base_url,
        cert_url=state.cert_url,
        access_keys=sorted(state.config.access_keys),
        queues=sorted(state.queues),
    )
