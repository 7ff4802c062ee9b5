"""Stage five of delivery: record what each send gave. Delivered: the breaker closes and
the attempt is recorded. Failed: the breaker counts it and the retry policy decides —
another attempt later (full-jitter backoff, ``Retry-After`` honoured, bounded by attempts
and age), or a dead letter, then a copy to the fallback receiver if one is configured.
The outcomes of a batch are written in one store round trip; every outcome is counted in
the metrics and logged (a delivered one at debug)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from batchrelay.delivery.policy import CircuitBreaker, RetryPolicy
from batchrelay.delivery.stages import Round
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import FailureReason, SendError
from batchrelay.notifiers.templates import TemplateError
from batchrelay.store.contracts import SECOND, Attempt, Delivery, Outbox

log = structlog.get_logger(__name__)

Clock = Callable[[], float]  # epoch seconds


class Recorder:
    """Writes outcomes to the outbox, the metrics and the log."""

    def __init__(self, outbox: Outbox, metrics: Metrics, clock: Clock) -> None:
        self.outbox, self.metrics, self.clock = outbox, metrics, clock

    async def finish(
        self,
        delivery: Delivery,
        now: float,
        seconds: float,
        outcome: str,
        reason: FailureReason | None = None,
        detail: str = "",
        next_attempt: float | None = None,
    ) -> None:
        await self.record([attempt(delivery, now, seconds, outcome, reason, detail, next_attempt)])

    async def record(self, attempts: Sequence[Attempt]) -> None:
        """Every attempt written at once, then counted and logged. A delivered one is
        logged at debug (at info, a log line per message would cost as much as its send);
        a retry or a dead letter at info, since someone may need to look."""
        await self.outbox.record_attempts(attempts)
        for each in attempts:
            delivery, reason = each.delivery, each.reason
            self.metrics.deliveries.labels(
                receiver=delivery.receiver, outcome=each.outcome, reason=reason or ""
            ).inc()
            self.metrics.delivery_seconds.labels(receiver=delivery.receiver).observe(each.seconds)
            retry_in = (
                round((each.next_attempt_at - each.at) / SECOND, 3)
                if each.next_attempt_at is not None else None
            )  # fmt: skip
            (log.debug if each.outcome == "delivered" else log.info)(
                f"delivery.{each.outcome}", receiver=delivery.receiver, delivery_id=delivery.id,
                attempt=delivery.attempts + 1, events=len(delivery.events),
                digest=delivery.digest, reason=reason, retry_in=retry_in,
            )  # fmt: skip


def attempt(
    delivery: Delivery,
    now: float,
    seconds: float,
    outcome: str,
    reason: FailureReason | None = None,
    detail: str = "",
    next_attempt: float | None = None,
) -> Attempt:
    """What one send gave, in the store's units (``now`` and ``next_attempt`` in seconds)."""
    next_us = int(next_attempt * SECOND) if next_attempt is not None else None
    return Attempt(delivery, outcome, int(now * SECOND), seconds,
                   reason.value if reason else None, detail or None, next_us)  # fmt: skip


class Record:
    """The record stage of one receiver; ``fallback`` is the receiver that gets what this
    one dead-letters, when it is configured and has a notifier. The outcomes of a round
    are written together; each delivery keeps its own."""

    def __init__(
        self,
        recorder: Recorder,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        fallback: str | None,
    ) -> None:
        self.recorder, self.breaker, self.retry, self.fallback = recorder, breaker, retry, fallback

    async def __call__(self, work: Round) -> Round:
        attempts: list[Attempt] = []
        for delivery in work.deliveries:
            sent = work.sent.get(delivery.id)
            if sent is None:
                continue
            if sent.error is not None:
                attempts.append(self._failed(delivery, sent.error, sent.seconds))
                continue
            self.breaker.record_success()
            attempts.append(attempt(delivery, self.recorder.clock(), sent.seconds, "delivered"))
        if attempts:
            await self.recorder.record(attempts)
        for dead in (a for a in attempts if a.outcome == "dead"):
            await self._copy(dead)
        return work

    def _failed(self, delivery: Delivery, exc: SendError, seconds: float) -> Attempt:
        if isinstance(exc, TemplateError):  # a fix in the config, not a platform hiccup
            log.error("delivery.template_failed", receiver=delivery.receiver,
                      delivery_id=delivery.id, template=exc.where, line=exc.line,
                      error=exc.detail)  # fmt: skip
        now = self.recorder.clock()
        self.breaker.record_failure(now)
        attempts = delivery.attempts + 1
        first = delivery.first_attempt_at / SECOND if delivery.first_attempt_at else now
        if exc.retryable and not self.retry.exhausted(attempts, first, now):
            retry_at = self.retry.next_attempt(attempts, first, now, exc.retry_after)
            return attempt(delivery, now, seconds, "retry", exc.reason, exc.detail, retry_at)
        return attempt(delivery, now, seconds, "dead", exc.reason, exc.detail)

    async def _copy(self, dead: Attempt) -> None:
        """A dead letter's copy to the fallback receiver, once it is recorded dead."""
        if self.fallback:
            delivery = dead.delivery
            copy = await self.recorder.outbox.copy_to(delivery, self.fallback, dead.at)
            log.warning("delivery.fallback", receiver=delivery.receiver, fallback=self.fallback,
                        delivery_id=delivery.id, copy_id=copy)  # fmt: skip
