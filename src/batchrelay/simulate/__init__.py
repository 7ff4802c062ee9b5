"""``batchrelay simulate``: deterministic IMM and ICE batch traffic, and where to send it.

The pieces, in the order a run uses them:

- :func:`generate` (``stream.py``, lifecycles in ``imm.py`` / ``ice.py``) turns a
  :class:`TrafficSpec` into :class:`Traffic`: time-ordered :class:`SimEvent` objects and
  the expected ledger. Pure: a seed and a start time decide everything.
- :func:`encode` (``payloads.py``) renders one event as the bytes of a wire: ``mns`` (IMM
  envelope with its ``content`` string, or the ICE envelope), ``eventbridge`` (structured
  CloudEvent), ``ice`` (ICE callback body).
- :func:`send_plan` (``plan.py``) adds redeliveries and out-of-order windows.
- :func:`deliver` (``targets.py``) sends through a :class:`Target` (``mns-queue``,
  ``mns-topic``, ``eventbridge``, ``ice``) with bounded concurrency, pacing and retries.
- :func:`simulate` / :func:`run` (``runner.py``) tie it together for the CLI, with
  :class:`SimulateOptions` and :func:`add_arguments` (``options.py``).

The expected ledger (``Traffic.ledger_json()``, written by ``--expect``)::

    {"seed": 7, "start_time": "2026-11-20T02:00:00.000Z", "events": 93,
     "batches": {"<batch key>": {
        "batch_key": "batch-…" | "trigger-…" | "<ICE JobId>",
        "kind": "batch" | "trigger" | "ice_batch", "source": "acs.imm" | "acs.ice",
        "project": "docs-prod" | "<ICE ProjectId>", "account_id": "1234567890123456",
        "state": "succeeded" | "failed" | "finished", "raw_state": "Succeeded" | …,
        "phase": "", "error": "",
        "statistic": {"submit_success": 18, "submit_failure": 2, "skip_files": 1} | null,
        "task_counts": {"failed": 2, "succeeded": 18},
        "error_codes": {"InvalidFile.Corrupted": 2},
        "tags": {"team": "…", "env": "prod"}, "tasks": 20, "events": 45,
        "create_time": "…Z", "finished_at": "…Z"}}}

Keys follow the store's ``BatchView``, plus ``tasks`` (the sum of ``task_counts``). Times
are RFC 3339 UTC with milliseconds: compare them parsed, not as strings. ``task_counts``
and ``error_codes`` list only values that occur. ``events`` counts distinct events
(``--duplicates`` adds none), per batch and, at the top level, across all batches. For
ICE, ``create_time`` is the earliest event time (ICE sends no CreateTime).
"""

from batchrelay.simulate.model import (
    BatchExpectation,
    SimEvent,
    Traffic,
    TrafficSpec,
)
from batchrelay.simulate.options import SimulateOptions, add_arguments, options_from_args
from batchrelay.simulate.pacing import Clock, SystemClock, TokenBucket
from batchrelay.simulate.payloads import encode
from batchrelay.simulate.plan import send_plan
from batchrelay.simulate.runner import Report, build_target, run, simulate
from batchrelay.simulate.stream import generate
from batchrelay.simulate.targets import Counts, RetryPolicy, Target, deliver

__all__ = [
    "BatchExpectation",
    "Clock",
    "Counts",
    "Report",
    "RetryPolicy",
    "SimEvent",
    "SimulateOptions",
    "SystemClock",
    "Target",
    "TokenBucket",
    "Traffic",
    "TrafficSpec",
    "add_arguments",
    "build_target",
    "deliver",
    "encode",
    "generate",
    "options_from_args",
    "run",
    "send_plan",
    "simulate",
]
