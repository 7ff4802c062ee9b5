"""The ``delivery`` section: how often the dispatcher passes over the outbox, how long a
claimed delivery stays with its sender, and how many sends run at once per receiver."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DeliveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tick: float = Field(0.5, gt=0, le=60)  # seconds between outbox passes
    lease: float = Field(60.0, gt=0)  # seconds a claimed delivery stays with its sender
    max_in_flight: int = Field(8, ge=1, le=256)  # concurrent sends per receiver
