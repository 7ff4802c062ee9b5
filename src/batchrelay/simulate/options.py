"""The options of ``batchrelay simulate``: one frozen model, and the argparse flags for it.

Each field ``x_y`` is the flag ``--x-y``. Flags default to "not given", so the defaults live
only on :class:`SimulateOptions`; invalid values raise ``ConfigError`` naming the flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from batchrelay.emulator import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    EmulatorConfig,
)
from batchrelay.errors import ConfigError
from batchrelay.simulate.model import DEFAULT_NOTIFY_ADDRESS, Kind, TrafficSpec
from batchrelay.simulate.payloads import Wire

TargetName = Literal["mns-queue", "mns-topic", "eventbridge", "ice"]

WIRES: Mapping[TargetName, Wire] = {
    "mns-queue": "mns",
    "mns-topic": "mns",
    "eventbridge": "eventbridge",
    "ice": "ice",
}
# What each target can carry: EventBridge takes IMM CloudEvents, the ICE callback ICE events.
KINDS: Mapping[TargetName, frozenset[str]] = {
    "mns-queue": frozenset({"imm-batch", "imm-trigger", "ice-batch", "mixed"}),
    "mns-topic": frozenset({"imm-batch", "imm-trigger", "ice-batch", "mixed"}),
    "eventbridge": frozenset({"imm-batch", "imm-trigger"}),
    "ice": frozenset({"ice-batch"}),
}
DEFAULT_MNS_ENDPOINT = EmulatorConfig().base_url()
DEFAULT_HTTP_ENDPOINT = "http://127.0.0.1:8080"  # batchrelay's own server default


class SimulateOptions(BaseModel):
    """Everything one ``batchrelay simulate`` run needs; field ``x_y`` is flag ``--x-y``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: TargetName = "mns-queue"
    endpoint: str | None = None  # MNS endpoint, or batchrelay's base URL; None = local default
    queue: str = "imm-notify"
    topic: str = "imm-notify"
    access_key_id: str = DEFAULT_ACCESS_KEY_ID
    access_key_secret: SecretStr = SecretStr(DEFAULT_ACCESS_KEY_SECRET)
    eventbridge_token: SecretStr | None = None
    ice_auth_key: SecretStr | None = None
    ice_callback_url: str | None = None
    kind: Kind = "imm-batch"
    batches: int = Field(1, ge=1, le=100_000)
    tasks: int = Field(20, ge=1, le=100_000)
    failure_ratio: float = Field(0.05, ge=0.0, le=1.0)
    skip_ratio: float = Field(0.02, ge=0.0, le=1.0)
    fast_fail_ratio: float = Field(0.0, ge=0.0, le=1.0)
    seed: int = 0
    start_time: datetime | None = None  # None = now; pass one for byte-identical output
    duplicates: float = Field(0.0, ge=0.0, le=1.0)
    shuffle: bool = False
    shuffle_window: int = Field(16, ge=2, le=10_000)
    # None: each event goes out when its time comes, so event times follow the wall clock
    # (unless start_time fixes them: then as fast as possible). 0 = as fast as possible.
    rate: float | None = Field(None, ge=0.0)
    concurrency: int = Field(4, ge=1, le=256)
    attempts: int = Field(5, ge=1, le=20)
    dry_run: bool = False
    expect: Path | None = None
    emulator: str | None = None  # register every batch in this emulator's IMM/ICE API
    lose: float = Field(0.0, ge=0.0, le=1.0)  # share of notifications never sent

    @model_validator(mode="after")
    def _target_carries_kind(self) -> Self:
        if self.kind not in KINDS[self.target]:
            allowed = ", ".join(sorted(KINDS[self.target]))
            raise ValueError(f"--target {self.target} carries --kind {allowed}, not {self.kind}")
        return self

    @property
    def on_time(self) -> bool:
        """Whether events are sent when their time comes (on the wall clock)."""
        return self.rate is None and self.start_time is None and not self.dry_run

    def spec(self, now: datetime) -> TrafficSpec:
        return TrafficSpec(
            start_time=self.start_time or now,
            kind=self.kind,
            batches=self.batches,
            tasks=self.tasks,
            failure_ratio=self.failure_ratio,
            skip_ratio=self.skip_ratio,
            fast_fail_ratio=self.fast_fail_ratio,
            seed=self.seed,
            notify_address=self.notify_address(),
        )

    def notify_address(self) -> str:
        """ICE UserData NotifyAddress: the callback URL, or the queue ICE writes to."""
        if self.target == "ice":
            return self.ice_callback_url or f"{self.resolved_endpoint().rstrip('/')}/ingest/ice"
        if self.target == "mns-queue":
            return self.queue
        return DEFAULT_NOTIFY_ADDRESS

    def resolved_endpoint(self) -> str:
        if self.endpoint:
            return self.endpoint
        return DEFAULT_MNS_ENDPOINT if self.target.startswith("mns") else DEFAULT_HTTP_ENDPOINT


# ---- command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``batchrelay simulate``; defaults live on :class:`SimulateOptions`."""
    for flags, kwargs in _ARGUMENTS:
        name = flags[0].removeprefix("--").replace("-", "_")
        default = SimulateOptions.model_fields[name].default
        extra = {k: v for k, v in kwargs.items() if k != "help"}  # the table is shared: no pop
        shown = "" if extra.get("action") == "store_true" else _shown(name, default)
        parser.add_argument(
            *flags, default=argparse.SUPPRESS, help=f"{kwargs['help']}{shown}", **extra
        )


def options_from_args(args: argparse.Namespace) -> SimulateOptions:
    given = {k: v for k, v in vars(args).items() if k in SimulateOptions.model_fields}
    try:
        return SimulateOptions(**given)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _shown(name: str, default: object) -> str:
    if name in ("access_key_secret", "eventbridge_token", "ice_auth_key"):
        return ""
    if default is None:
        return ""
    return f" (default: {default})"


def _explain(exc: ValidationError) -> str:
    """Name the flag; never echo values (some options are secrets)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        flag = f"--{where.replace('_', '-')}: " if where else ""
        problems.append(f"{flag}{error['msg']}")
    return "; ".join(problems)


_ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--target",), {"choices": list(WIRES), "help": "where to send"}),
    (("--endpoint",), {"metavar": "URL", "help": "MNS endpoint, or batchrelay's base URL"}),
    (("--queue",), {"help": "MNS queue (--target mns-queue)"}),
    (("--topic",), {"help": "MNS topic (--target mns-topic)"}),
    (("--access-key-id",), {"help": "MNS (and --emulator) access key id"}),
    (("--access-key-secret",), {"help": "its secret (default: the emulator's)"}),
    (("--eventbridge-token",), {"help": "token for x-eventbridge-signature-token"}),
    (("--ice-auth-key",), {"help": "ICE AuthKey: sign callbacks with X-ICE-SIGNATURE"}),
    (("--ice-callback-url",), {"metavar": "URL",
        "help": "URL that ICE signs (default: the URL posted to)"}),
    (("--kind",), {"choices": ["imm-batch", "imm-trigger", "ice-batch", "mixed"],
        "help": "what traffic to generate"}),
    (("--batches",), {"type": int, "metavar": "N", "help": "number of batches"}),
    (("--tasks",), {"type": int, "metavar": "N", "help": "IMM files or ICE sub-jobs per batch"}),
    (("--failure-ratio",), {"type": float, "metavar": "F", "help": "share of tasks that fail"}),
    (("--skip-ratio",), {"type": float, "metavar": "F", "help": "IMM SkipFiles per file"}),
    (("--fast-fail-ratio",), {"type": float, "metavar": "F", "help": "IMM batches that abort"}),
    (("--seed",), {"type": int, "metavar": "S", "help": "random seed"}),
    (("--start-time",), {"metavar": "ISO",
        "help": "time of the first event (default: now; each event then goes out when its "
                "time comes, so event times follow the wall clock)"}),
    (("--duplicates",), {"type": float, "metavar": "F", "help": "share of events sent twice"}),
    (("--shuffle",), {"action": "store_true", "help": "send out of order within a window"}),
    (("--shuffle-window",), {"type": int, "metavar": "N", "help": "window of --shuffle"}),
    (("--rate",), {"type": float, "metavar": "R",
        "help": "events per second, 0 = as fast as possible (default: each event at its time)"}),
    (("--concurrency",), {"type": int, "metavar": "N", "help": "sends in flight"}),
    (("--attempts",), {"type": int, "metavar": "N", "help": "tries per event before giving up"}),
    (("--dry-run",), {"action": "store_true", "help": "print payloads as JSON lines instead"}),
    (("--expect",), {"metavar": "FILE", "help": "write the expected ledger as JSON"}),
    (("--emulator",), {"metavar": "URL",
        "help": "register the batches in this emulator's IMM/ICE API (signed with the key)"}),
    (("--lose",), {"type": float, "metavar": "F",
        "help": "share of notifications lost: never sent, still registered"}),
]  # fmt: skip
