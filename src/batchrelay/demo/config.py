"""The ``demo`` section: the quick start's emulator port, queue, topic and traffic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    emulator_port: int = Field(8090, ge=0, le=65535)
    queue: str = "imm-notify"  # list it under sources.mns_queues to consume it
    topic: str = "imm-events"  # pushed to this daemon's /ingest/mns
    batches_per_round: int = Field(2, ge=1, le=100)
    tasks_per_batch: int = Field(40, ge=1, le=100_000)
    failure_ratio: float = Field(0.08, ge=0, le=1)  # share of files (tasks) that fail
    fast_fail_ratio: float = Field(0.25, ge=0, le=1)  # share of IMM batches that abort
    every: float = Field(20.0, gt=0, le=3600)  # seconds between the starts of rounds
