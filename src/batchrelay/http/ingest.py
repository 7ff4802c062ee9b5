"""The three push endpoints: ``/ingest/mns``, ``/ingest/eventbridge``, ``/ingest/ice``.

One handler shape serves all three; each differs only in its verifier and its success
answer. Answers: 2xx only after commit; 400 once a malformed body is quarantined (one
record per body, whatever failed in it); 403 bad signature; 408 body too slow; 413 too
large, or more events than one body may hold (then quarantined too); 503 while not ready
or draining, or when the store cannot commit (the pusher retries, and the ledger dedups
the retry). The body is read as sent: a ``Content-Encoding`` is taken off by the pipeline,
and what cannot be decoded is kept still encoded.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from batchrelay.errors import SignatureError, StoreError
from batchrelay.http.limits import BodyLimits, BodyRefused, read_body
from batchrelay.metrics import Metrics
from batchrelay.sources.certs import CertificateUnavailable
from batchrelay.sources.pipeline import IngestResult, Pipeline
from batchrelay.sources.verifiers import Endpoint

log = structlog.get_logger(__name__)


class Gate:
    """Whether pushes are accepted right now (false while starting and while draining)."""

    def __init__(self) -> None:
        self.open = False


def ingest_routes(
    endpoints: list[Endpoint], pipeline: Pipeline, gate: Gate, limits: BodyLimits
) -> list[web.RouteDef]:
    return [
        web.post(e.path, _handler(e, pipeline, gate, limits, pipeline.metrics)) for e in endpoints
    ]


def _handler(
    endpoint: Endpoint, pipeline: Pipeline, gate: Gate, limits: BodyLimits, metrics: Metrics
) -> Callable[[web.Request], Awaitable[web.Response]]:
    ingress = endpoint.ingress

    def refuse(status: int, reason: str, detail: str, retry_after: float = 5) -> web.Response:
        outcome = "unavailable" if status == 503 else "rejected"
        metrics.inputs.labels(ingress=ingress, outcome=outcome).inc()
        if status != 503:
            metrics.rejected.labels(ingress=ingress, reason=reason).inc()
        log.warning("input.refused", ingress=ingress, status=status, reason=reason, detail=detail)
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if status == 503 else None
        return web.json_response(
            {"error": reason, "detail": detail}, status=status, headers=headers
        )

    async def handle(request: web.Request) -> web.Response:
        if not gate.open:
            return refuse(503, "not_ready", "batchrelay is starting or draining")
        try:
            body = await read_body(request, limits)
        except BodyRefused as exc:
            response = refuse(exc.status, exc.reason, exc.detail)
            response.force_close()  # the rest of the body may still be on its way
            return response
        try:
            await endpoint.verify(request, body)
        except SignatureError as exc:
            return refuse(403, exc.reason.value, exc.detail)
        except CertificateUnavailable as exc:
            return refuse(503, "certificate_unavailable", str(exc), exc.retry_after)
        try:
            # Shielded: once the commit has started, a client hang-up must not abandon it.
            result = await asyncio.shield(pipeline.ingest(body, ingress, request.headers))
        except StoreError as exc:
            return refuse(503, "store_unavailable", str(exc))
        return _answer(result, endpoint.success_status)

    return handle


def _answer(result: IngestResult, success_status: int) -> web.Response:
    if result.quarantined:
        first = result.errors[0]
        return web.json_response(
            {
                "error": first.reason.value,
                "detail": first.detail,
                "quarantine_id": result.quarantine_id,
                "failed": len(result.errors),
                "committed": result.committed,
                "duplicates": result.duplicates,
            },
            status=413 if result.too_many else 400,
        )
    if success_status == 204:
        return web.Response(status=204)
    return web.Response(
        body=_counts_body(result.committed, result.duplicates),
        status=success_status,
        content_type="application/json",
        charset="utf-8",
    )


@functools.lru_cache(maxsize=64)
def _counts_body(committed: int, duplicates: int) -> bytes:
    """The success answer; the same few bodies serve nearly every push."""
    return json.dumps({"committed": committed, "duplicates": duplicates}).encode()
