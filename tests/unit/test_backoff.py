"""Retry back-off of the consumer runner: 1 s doubling with up to 25 % jitter, capped at 60 s,
grouped into delay-queue tiers."""

from __future__ import annotations

import random

import pytest

from shared.bus.topology import MAX_RETRY_DELAY_SEC, RETRY_TIERS_SEC, backoff_delay, retry_tier


@pytest.mark.parametrize(
    ("attempt", "nominal"),
    [(0, 1), (1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 32)],
)
def test_backoff_delay_doubles_per_attempt_within_25_percent_jitter(attempt, nominal):
    delays = [backoff_delay(attempt) for _ in range(300)]

    assert all(nominal <= delay <= nominal * 1.25 for delay in delays)
    assert len(set(delays)) > 1  # jittered, not fixed


@pytest.mark.parametrize(("jitter", "expected"), [(1.0, [1, 2, 4, 8, 16, 32, 60, 60]),
                                                  (1.25, [1.25, 2.5, 5, 10, 20, 40, 60, 60])])
def test_backoff_delay_at_the_jitter_bounds(monkeypatch, jitter, expected):
    monkeypatch.setattr(random, "uniform", lambda low, high: jitter)

    assert [backoff_delay(attempt) for attempt in range(1, 9)] == expected


@pytest.mark.parametrize("attempt", [7, 8, 10, 20, 50, 200])
def test_backoff_delay_never_exceeds_60_seconds(attempt):
    assert MAX_RETRY_DELAY_SEC == 60
    assert all(backoff_delay(attempt) <= 60 for _ in range(100))


def test_backoff_delay_honours_base_and_cap():
    assert all(0.5 <= backoff_delay(2, base=0.25) <= 0.625 for _ in range(100))
    assert all(backoff_delay(5, cap=3) <= 3 for _ in range(100))


@pytest.mark.parametrize(
    ("delay", "tier"),
    [
        (0.0, 1), (0.05, 1), (0.99, 1), (1, 1), (1.25, 1), (1.99, 1), (2, 2), (2.5, 2),
        (3.99, 2), (4, 4), (7.9, 4), (8, 8), (15, 8), (16, 16), (31.9, 16), (32, 32),
        (40, 32), (59.99, 32), (60, 60), (600, 60),
    ],
)
def test_retry_tier_is_the_largest_tier_not_above_the_delay(delay, tier):
    assert retry_tier(delay) == tier


def test_every_backoff_delay_maps_to_a_declared_tier():
    assert all(retry_tier(backoff_delay(attempt)) in RETRY_TIERS_SEC for attempt in range(1, 30))
