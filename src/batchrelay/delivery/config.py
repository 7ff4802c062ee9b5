"""The ``delivery`` section: how often the dispatcher passes over the outbox, how long a
claimed delivery stays with its sender, and how many sends run at once per receiver; and
the ``subscriptions`` section, for the webhook subscriptions the dispatcher also sends to."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator

from batchrelay.notifiers.config import BreakerConfig, RetryConfig
from batchrelay.routing.tree import Duration


class DeliveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tick: float = Field(0.5, gt=0, le=60)  # seconds between outbox passes
    lease: float = Field(60.0, gt=0)  # seconds a claimed delivery stays with its sender
    max_in_flight: int = Field(8, ge=1, le=256)  # concurrent sends per receiver


class SubscriptionsConfig(BaseModel):
    """The ``subscriptions`` section: webhook subscriptions made at runtime over the API
    (``delivery/subscriptions.py``): where their URLs may point, when a dead endpoint is
    disabled, how their deliveries are retried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True  # false: no /api/v1/subscriptions, nothing matched or sent
    allow_http: bool = False  # true: http:// URLs too (https only by default)
    allowed_networks: list[str] = Field(default_factory=list)  # CIDRs internal URLs may reach
    disable_after: Duration = 5 * 86400.0  # all deliveries failing this long: disabled
    notify: str | None = None  # the receiver told when a subscription is disabled
    rotation_overlap: Duration = 86400.0  # default: both secrets sign for this long
    timeout: float = Field(10.0, gt=0, le=120)  # seconds per request
    max_subscriptions: int = Field(1000, ge=1, le=100_000)
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()

    @field_validator("allowed_networks")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not a CIDR such as 10.0.0.0/8") from None
        return values
