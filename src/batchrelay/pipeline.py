"""The path of one input: decode → parse → commit, or quarantine.

Sources (HTTP handlers, MNS pollers, ``batchrelay ingest``) hand raw bytes to
:meth:`Pipeline.ingest` and ack upstream only when it returns without raising: by then
every event in the input is durably journaled (or was already), and every part that could
not be decoded or parsed is durably quarantined. A ``StoreError`` propagates so the source
can refuse the input (503, no delete) and let it be redelivered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from batchrelay.errors import InputError
from batchrelay.events.batchkey import BatchKeyConfig
from batchrelay.events.decode import decode_each
from batchrelay.events.models import Document, Event, Ingress
from batchrelay.events.parse import parse
from batchrelay.metrics import Metrics
from batchrelay.store.base import CommitOutcome, Inbound, QuarantineRecord, Store

log = structlog.get_logger(__name__)

#: Header names whose values are credentials: never stored in quarantine, never logged.
SECRET_HEADERS = frozenset(
    {"authorization", "cookie", "x-eventbridge-signature-token", "x-api-key", "proxy-authorization"}
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of one input."""

    events: list[Event] = field(default_factory=list)
    outcomes: list[CommitOutcome] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)  # each one quarantined

    @property
    def committed(self) -> int:
        return sum(1 for o in self.outcomes if o is CommitOutcome.COMMITTED)

    @property
    def duplicates(self) -> int:
        return sum(1 for o in self.outcomes if o is CommitOutcome.DUPLICATE)

    @property
    def quarantined(self) -> bool:
        return bool(self.errors)


class Pipeline:
    """Decode, parse and commit inputs; quarantine what cannot be understood."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        batch_keys: BatchKeyConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.batch_keys = batch_keys or BatchKeyConfig()
        self.clock = clock

    async def ingest(
        self, raw: bytes, ingress: Ingress, headers: Mapping[str, str] | None = None
    ) -> IngestResult:
        """Commit every event in ``raw``; quarantine the parts that fail. Raises StoreError."""
        received_at = self.clock()
        headers = headers or {}
        inbound: list[Inbound] = []
        errors: list[InputError] = []
        for part in self._decode(raw, ingress, headers):
            try:
                event = self._parse(part, ingress, received_at)
            except InputError as exc:
                errors.append(exc)
                await self._quarantine(raw, ingress, headers, exc, received_at)
                continue
            inbound.append(Inbound(event=event, raw=raw, received_at=received_at))
        outcomes = await self.store.commit_many(inbound) if inbound else []
        result = IngestResult([i.event for i in inbound], outcomes, errors)
        self._record(ingress, result)
        return result

    def _decode(
        self, raw: bytes, ingress: Ingress, headers: Mapping[str, str]
    ) -> list[Document | InputError]:
        try:
            return list(decode_each(raw, ingress, headers))
        except InputError as exc:
            return [exc]

    def _parse(self, part: Document | InputError, ingress: Ingress, at: datetime) -> Event:
        if isinstance(part, InputError):
            raise part
        return parse(part, ingress, batch_keys=self.batch_keys, received_at=at)

    async def _quarantine(
        self,
        raw: bytes,
        ingress: Ingress,
        headers: Mapping[str, str],
        exc: InputError,
        received_at: datetime,
    ) -> None:
        record = QuarantineRecord(
            ingress=ingress,
            reason=exc.reason,
            detail=exc.detail,
            raw=raw,
            headers=safe_headers(headers),
            received_at=received_at,
        )
        qid = await self.store.quarantine(record)
        self.metrics.quarantined.labels(ingress=ingress, reason=exc.reason.value).inc()
        self.metrics.inputs.labels(ingress=ingress, outcome="quarantined").inc()
        log.warning(
            "input.quarantined",
            ingress=ingress,
            reason=exc.reason.value,
            detail=exc.detail,
            size=len(raw),
            quarantine_id=qid,
        )

    def _record(self, ingress: Ingress, result: IngestResult) -> None:
        for event, outcome in zip(result.events, result.outcomes, strict=True):
            self.metrics.inputs_by(ingress, outcome.value).inc()
            if outcome is CommitOutcome.DUPLICATE:
                self.metrics.duplicates_by(ingress).inc()
            log.info(
                "input.committed" if outcome is CommitOutcome.COMMITTED else "input.duplicate",
                ingress=ingress,
                event_id=event.event_id,
                kind=event.kind,
                type=event.type,
                batch_key=event.batch_key,
                task_id=event.task_id,
                status=event.status,
            )


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit to keep: credentials replaced by a marker."""
    return {
        name: ("<redacted>" if name.lower() in SECRET_HEADERS else value)
        for name, value in headers.items()
    }
