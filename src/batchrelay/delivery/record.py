"""Stage five of delivery: record what each send gave. Delivered: the breaker closes and
the attempt is recorded. Failed: the breaker counts it and the retry policy decides —
another attempt later (full-jitter backoff, ``Retry-After`` honoured, bounded by attempts
and age), or a dead letter, then a copy to the fallback receiver if one is configured.
Every outcome is one log line and counted in the metrics."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from batchrelay.delivery.policy import CircuitBreaker, RetryPolicy
from batchrelay.delivery.stages import Round
from batchrelay.metrics import Metrics
from batchrelay.notifiers.base import FailureReason, SendError
from batchrelay.notifiers.templates import TemplateError
from batchrelay.store.contracts import SECOND, Delivery, Outbox

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
        reason_text = reason.value if reason else None
        next_us = int(next_attempt * SECOND) if next_attempt is not None else None
        await self.outbox.record_attempt(delivery, outcome, int(now * SECOND), seconds,
                                         reason_text, detail or None, next_us)  # fmt: skip
        self.metrics.deliveries.labels(
            receiver=delivery.receiver, outcome=outcome, reason=reason_text or ""
        ).inc()
        self.metrics.delivery_seconds.labels(receiver=delivery.receiver).observe(seconds)
        log.info(
            f"delivery.{outcome}", receiver=delivery.receiver, delivery_id=delivery.id,
            attempt=delivery.attempts + 1, events=len(delivery.events), digest=delivery.digest,
            reason=reason_text, retry_in=round(next_attempt - now, 3) if next_attempt else None,
        )  # fmt: skip


class Record:
    """The record stage of one receiver; ``fallback`` is the receiver that gets what this
    one dead-letters, when it is configured and has a notifier."""

    def __init__(
        self,
        recorder: Recorder,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        fallback: str | None,
    ) -> None:
        self.recorder, self.breaker, self.retry, self.fallback = recorder, breaker, retry, fallback

    async def __call__(self, work: Round) -> Round:
        for delivery in work.deliveries:
            sent = work.sent.get(delivery.id)
            if sent is None:
                continue
            if sent.error is not None:
                await self._failed(delivery, sent.error, sent.seconds)
                continue
            self.breaker.record_success()
            await self.recorder.finish(delivery, self.recorder.clock(), sent.seconds, "delivered")
        return work

    async def _failed(self, delivery: Delivery, exc: SendError, seconds: float) -> None:
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
            await self.recorder.finish(delivery, now, seconds, "retry", exc.reason, exc.detail,
                                       next_attempt=retry_at)  # fmt: skip
            return
        await self.recorder.finish(delivery, now, seconds, "dead", exc.reason, exc.detail)
        if self.fallback:
            copy = await self.recorder.outbox.copy_to(delivery, self.fallback, int(now * SECOND))
            log.warning("delivery.fallback", receiver=delivery.receiver, fallback=self.fallback,
                        delivery_id=delivery.id, copy_id=copy)  # fmt: skip
