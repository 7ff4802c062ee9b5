"""``GET /api/v1/batches/{batch_key}/failures``: a batch's failures understood, not listed.

- **By error code**: exact, from the ledger's per-code counters (no task is read).
- **Examples and clusters**: from a bounded, stratified sample: for each of the
  ``MAX_CODES`` commonest codes, its first ``PER_CODE`` failed tasks, read through the
  partial index on failed tasks (``Store.failed_tasks``). Each sampled task stands for
  ``failed with its code / sampled with its code`` tasks, so the prefix and extension
  figures are estimates, exact when every code has at most ``PER_CODE`` failures (the
  response says which). The cost is bounded by ``MAX_CODES × PER_CODE`` rows whatever the
  batch's size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from batchrelay.http.common import STORE, error_response
from batchrelay.store.base import FailedTask

MAX_CODES = 20
PER_CODE = 200
EXAMPLES = 3
TOP = 5
MIN_SHARE = 0.1  # a cluster holds at least this share of the failures
EXPLAINED = 0.9  # a prefix whose sub-prefix holds this share of its failures gives way to it


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/batches/{batch_key}/failures", failures)]


async def failures(request: web.Request) -> web.Response:
    key = request.match_info["batch_key"]
    store = request.app[STORE]
    batch = await store.get_batch(key)
    if batch is None:
        return error_response(404, "not_found", "no such batch")
    counts = sorted(batch.error_codes.items(), key=lambda item: (-item[1], item[0]))
    sampled = await store.failed_tasks(key, [code for code, _ in counts[:MAX_CODES]], PER_CODE)
    return web.json_response({"batch_key": key, **grouping(dict(counts), sampled)})


def grouping(
    counts: Mapping[str, int], sampled: Mapping[str, Sequence[FailedTask]]
) -> dict[str, Any]:
    """The response body from the per-code counts and the sample (pure)."""
    failed = sum(counts.values())
    codes = [
        {
            "code": code,
            "tasks": n,
            "share": _share(n, failed),
            "examples": [
                {"task_id": t.task_id, "object_path": t.object_path}
                for t in sampled.get(code, [])[:EXAMPLES]
            ],
        }
        for code, n in counts.items()
    ]
    weighted = [
        (t.object_path, counts[code] / len(tasks))
        for code, tasks in sampled.items()
        for t in tasks
        if t.object_path
    ]
    in_sample = sum(len(tasks) for tasks in sampled.values())
    return {
        "failed": failed,
        "codes": codes,
        "clusters": {
            "sampled": in_sample,
            "exact": in_sample == failed,
            "prefixes": _ranked(_prefix_weights(weighted), failed, "prefix"),
            "extensions": _ranked(_extension_weights(weighted), failed, "extension"),
        },
    }


def _share(n: float, total: int) -> float:
    return round(n / total, 4) if total else 0.0


def _prefix_weights(weighted: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Each path's weight on every folder above it (``oss://bucket/a/``, ``…/a/b/``)."""
    found: dict[str, float] = defaultdict(float)
    for path, weight in weighted:
        scheme, sep, rest = path.rpartition("://")
        head = f"{scheme}{sep}"
        parts = rest.split("/")[:-1]  # the folders, not the file
        for depth in range(1, len(parts) + 1):
            found[head + "/".join(parts[:depth]) + "/"] += weight
    # a folder that one of its sub-folders explains (almost) entirely gives way to it
    explained = {
        parent
        for prefix, weight in found.items()
        if (parent := prefix[: prefix.rstrip("/").rfind("/") + 1]) in found
        and weight >= EXPLAINED * found[parent]
    }
    return {k: w for k, w in found.items() if k not in explained}


def _extension_weights(weighted: Iterable[tuple[str, float]]) -> dict[str, float]:
    found: dict[str, float] = defaultdict(float)
    for path, weight in weighted:
        name = path.rsplit("/", 1)[-1]
        stem, dot, ext = name.rpartition(".")
        found[f".{ext.lower()}" if dot and stem and 0 < len(ext) <= 10 else "(none)"] += weight
    return found


def _ranked(weights: dict[str, float], failed: int, name: str) -> list[dict[str, Any]]:
    kept = [(k, w) for k, w in weights.items() if w > 0 and w >= MIN_SHARE * failed]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return [{name: k, "tasks": round(w), "share": _share(w, failed)} for k, w in kept[:TOP]]
