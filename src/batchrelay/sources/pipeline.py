"""The path of one input: decode → parse → commit, or quarantine.

Sources (HTTP handlers, MNS pollers, ``batchrelay ingest``) hand raw bytes to
:meth:`Pipeline.ingest` and ack upstream only when it returns without raising: by then
every event in the input is durably journaled (or was already), and every part that could
not be decoded or parsed is durably quarantined. A ``StoreError`` propagates so the source
can refuse the input (503, no delete) and let it be redelivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from batchrelay.errors import DecodeError, InputError, InputReason
from batchrelay.events.batchkey import BatchKeyConfig
from batchrelay.events.decode import decode_each
from batchrelay.events.encoding import decoded_body
from batchrelay.events.models import Document, Event, Ingress
from batchrelay.events.parse import parse
from batchrelay.metrics import Metrics
from batchrelay.store.base import (
    MAX_LISTED_FAILURES,
    CommitOutcome,
    Failure,
    Inbound,
    QuarantineRecord,
    Store,
)

log = structlog.get_logger(__name__)

#: Header names whose values are credentials or signatures: never stored, never logged
#: (the MNS push signature travels in ``Authorization``). ``x-eventbridge-signature*`` are
#: matched by prefix.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-ice-signature"}
)
SECRET_PREFIXES = ("x-eventbridge-signature",)
#: ICE signs only the URL and this timestamp, not the body: with its signature it lets
#: anyone post any body until the window closes, so it goes when the signature is there.
ICE_TIMESTAMP, ICE_SIGNATURE = "x-ice-timestamp", "x-ice-signature"
REDACTED = "<redacted>"
#: Events parsed between two yields to the event loop, so a large body never holds it long.
PARSE_SLICE = 200


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of one input."""

    events: list[Event] = field(default_factory=list)
    outcomes: list[CommitOutcome] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)  # all in one quarantine record
    quarantine_id: int | None = None

    @property
    def committed(self) -> int:
        return sum(1 for o in self.outcomes if o is CommitOutcome.COMMITTED)

    @property
    def duplicates(self) -> int:
        return sum(1 for o in self.outcomes if o is CommitOutcome.DUPLICATE)

    @property
    def quarantined(self) -> bool:
        return bool(self.errors)

    @property
    def too_many(self) -> bool:
        """The body held more events than one body may; it was quarantined whole."""
        return any(e.reason is InputReason.TOO_MANY_EVENTS for e in self.errors)


class Pipeline:
    """Decode, parse and commit inputs; quarantine what cannot be understood.

    ``max_events`` bounds the events one body may hold (above it the whole body is
    quarantined), ``max_decoded`` the size a content-encoded body may decompress to.
    """

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        batch_keys: BatchKeyConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        *,
        max_events: int = 1000,
        max_decoded: int = 1_048_576,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.batch_keys = batch_keys or BatchKeyConfig()
        self.clock = clock
        self.max_events = max_events
        self.max_decoded = max_decoded

    async def ingest(
        self, raw: bytes, ingress: Ingress, headers: Mapping[str, str] | None = None
    ) -> IngestResult:
        """Commit every event in ``raw``; quarantine the parts that fail, in one record.

        ``raw`` is the body as sent; a ``Content-Encoding`` header says how to decode it.
        Raises ``StoreError`` when the store cannot take it (nothing is acked then)."""
        received_at = self.clock()
        headers = headers or {}
        encoding = _header(headers, "content-encoding")
        parts = self._decode(raw, ingress, headers, encoding)
        if len(parts) > self.max_events:
            too_many = DecodeError(
                InputReason.TOO_MANY_EVENTS,
                f"{len(parts)} events in one body; at most {self.max_events}",
            )
            parts = [too_many]
        inbound: list[Inbound] = []
        failures: list[tuple[int, InputError]] = []
        for index, part in enumerate(parts):
            if index and not index % PARSE_SLICE:
                await asyncio.sleep(0)  # let other inputs in while a large body is parsed
            try:
                event = self._parse(part, ingress, received_at)
            except InputError as exc:
                failures.append((index, exc))
                continue
            inbound.append(Inbound(event, raw, received_at, encoding))
        rejected = self._record_of(raw, ingress, headers, encoding, received_at, failures, parts)
        accepted = await self.store.accept(inbound, rejected)
        errors = [exc for _, exc in failures]
        result = IngestResult(
            [i.event for i in inbound], accepted.outcomes, errors, accepted.quarantine_id
        )
        if rejected is not None:
            self._quarantined(rejected, accepted.quarantine_id)
        await self._record(ingress, result)
        return result

    def _decode(
        self, raw: bytes, ingress: Ingress, headers: Mapping[str, str], encoding: str
    ) -> list[Document | InputError]:
        try:
            body = decoded_body(raw, encoding, self.max_decoded) if encoding else raw
            return list(decode_each(body, ingress, headers))
        except InputError as exc:
            return [exc]

    def _parse(self, part: Document | InputError, ingress: Ingress, at: datetime) -> Event:
        if isinstance(part, InputError):
            raise part
        return parse(part, ingress, batch_keys=self.batch_keys, received_at=at)

    def _record_of(
        self,
        raw: bytes,
        ingress: Ingress,
        headers: Mapping[str, str],
        encoding: str,
        received_at: datetime,
        failures: list[tuple[int, InputError]],
        parts: list[Document | InputError],
    ) -> QuarantineRecord | None:
        """One quarantine record for all the failures of one body, or None if none."""
        if not failures:
            return None
        first = failures[0][1]
        whole = len(parts) == 1 and isinstance(parts[0], InputError)
        listed = () if whole else tuple(
            Failure(index, exc.reason.value, exc.detail)
            for index, exc in failures[:MAX_LISTED_FAILURES]
        )  # fmt: skip
        detail = first.detail
        if not whole and len(parts) > 1:
            detail = f"{len(failures)} of {len(parts)} parts failed; first: {first.detail}"
        return QuarantineRecord(
            ingress=ingress,
            reason=first.reason,
            detail=detail,
            raw=raw,
            headers=safe_headers(headers),
            received_at=received_at,
            failures=listed,
            failed=0 if whole else len(failures),
            encoding=encoding,
        )

    def _quarantined(self, record: QuarantineRecord, quarantine_id: int | None) -> None:
        ingress = record.ingress
        self.metrics.quarantined.labels(ingress=ingress, reason=record.reason.value).inc()
        self.metrics.inputs.labels(ingress=ingress, outcome="quarantined").inc()
        log.warning(
            "input.quarantined",
            ingress=ingress,
            reason=record.reason.value,
            detail=record.detail,
            failed=record.failed,
            size=len(record.raw),
            quarantine_id=quarantine_id,
        )

    async def _record(self, ingress: Ingress, result: IngestResult) -> None:
        pairs = zip(result.events, result.outcomes, strict=True)
        for index, (event, outcome) in enumerate(pairs):
            if index and not index % PARSE_SLICE:
                await asyncio.sleep(0)
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


def _header(headers: Mapping[str, str], name: str) -> str:
    """The header's value, as printable text (it is stored with the raw input)."""
    for key, value in headers.items():
        if key.lower() == name:
            return _printable(value.strip())
    return ""


def secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or lowered.startswith(SECRET_PREFIXES)


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit to keep and show: credentials and signatures replaced by a marker, and
    values that are not text (bytes that were not UTF-8) made printable."""
    signed = any(name.lower() == ICE_SIGNATURE for name in headers)
    return {
        _printable(name): (
            REDACTED
            if secret_header(name) or (signed and name.lower() == ICE_TIMESTAMP)
            else _printable(value)
        )
        for name, value in headers.items()
    }


def _printable(text: str) -> str:
    """aiohttp hands non-UTF-8 header bytes over as surrogate escapes: show them escaped."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
