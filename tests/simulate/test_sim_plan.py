"""The send plan: duplicates and shuffling change the order and count, never the content."""

from __future__ import annotations

from collections import Counter

import pytest

from batchrelay.simulate import send_plan

pytestmark = pytest.mark.timeout(10)

BODIES = [f'{{"n":{n}}}'.encode() for n in range(400)]


def test_no_options_sends_everything_once_in_order() -> None:
    assert send_plan(BODIES, seed=1) == BODIES


def test_duplicates_repeat_about_that_share_later_on() -> None:
    plan = send_plan(BODIES, seed=1, duplicates=0.25)
    counts = Counter(plan)
    assert set(counts) == set(BODIES) and set(counts.values()) <= {1, 2}
    assert 70 < len(plan) - len(BODIES) < 130
    for body, n in counts.items():
        if n == 2:
            first = plan.index(body)
            assert plan.index(body, first + 1) > first  # a redelivery comes after


def test_every_body_twice_with_ratio_one() -> None:
    assert Counter(send_plan(BODIES, seed=1, duplicates=1.0)) == Counter(BODIES * 2)


def test_shuffle_stays_within_its_window() -> None:
    plan = send_plan(BODIES, seed=1, shuffle_window=10)
    assert plan != BODIES and sorted(plan) == sorted(BODIES)
    for position, body in enumerate(plan):
        assert position // 10 == BODIES.index(body) // 10


def test_plan_is_deterministic_per_seed() -> None:
    one = send_plan(BODIES, seed=5, duplicates=0.3, shuffle_window=8)
    assert one == send_plan(BODIES, seed=5, duplicates=0.3, shuffle_window=8)
    assert one != send_plan(BODIES, seed=6, duplicates=0.3, shuffle_window=8)
