"""The send plan: which bodies go out, in which order, with which redeliveries.

Kept apart from the event stream and driven by its own generator, so ``--duplicates`` and
``--shuffle`` change what is sent but never what happened (ids, times, the ledger).
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def send_plan(
    bodies: Sequence[bytes],
    seed: int,
    *,
    duplicates: float = 0.0,
    shuffle_window: int = 0,
) -> list[bytes]:
    """``bodies`` with about ``duplicates`` of them sent twice, maybe shuffled.

    A duplicate goes out again a few positions later, as a redelivery would. With
    ``shuffle_window`` > 1, each consecutive window of that many sends is shuffled, so
    events arrive out of order but never far from where they belong.
    """
    rng = random.Random(f"send-plan:{seed}")
    planned = _with_duplicates(bodies, rng, duplicates, max(shuffle_window, 4))
    if shuffle_window > 1:
        for start in range(0, len(planned), shuffle_window):
            window = planned[start : start + shuffle_window]
            rng.shuffle(window)
            planned[start : start + shuffle_window] = window
    return planned


def _with_duplicates(
    bodies: Sequence[bytes], rng: random.Random, ratio: float, spread: int
) -> list[bytes]:
    keyed = [(float(index), body) for index, body in enumerate(bodies)]
    for index, body in enumerate(bodies):
        if rng.random() < ratio:
            keyed.append((index + rng.uniform(0.5, spread), body))
    keyed.sort(key=lambda item: item[0])
    return [body for _, body in keyed]


def lost_events(count: int, seed: int, ratio: float) -> frozenset[int]:
    """Positions of the events whose notification is lost: never sent, nor sent again.

    Drawn from a generator of its own, so ``--lose`` changes what arrives but never what
    happened, nor which bodies ``--duplicates`` repeats."""
    if ratio <= 0:
        return frozenset()
    rng = random.Random(f"lose:{seed}")
    return frozenset(index for index in range(count) if rng.random() < ratio)
