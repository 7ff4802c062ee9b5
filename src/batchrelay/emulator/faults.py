"""Fault injection: decisions drawn from one injected, seedable random source.

A ratio of 0 never touches the random source, so enabling one fault does not shift the
sequence another fault sees.
"""

from __future__ import annotations

import random

from batchrelay.emulator.config import FaultConfig


class Faults:
    def __init__(self, config: FaultConfig, rng: random.Random) -> None:
        self.config = config
        self._rng = rng

    @property
    def latency(self) -> float:
        return self.config.latency

    def server_error(self) -> bool:
        """Answer this request with 500 InternalError instead of serving it."""
        return self._roll(self.config.error_ratio)

    def duplicate(self) -> bool:
        """Leave a visible copy of this received message."""
        return self._roll(self.config.duplicate_ratio)

    def lose_delete(self) -> bool:
        """Answer this delete with success but keep the message."""
        return self._roll(self.config.lost_delete_ratio)

    def _roll(self, ratio: float) -> bool:
        return ratio > 0 and self._rng.random() < ratio
