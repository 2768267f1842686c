"""Exponential backoff: the wait doubles per failed attempt, up to a cap, optionally jittered."""

from datetime import timedelta

import pytest

from portal.backoff import backoff_delay

BASE = timedelta(seconds=15)


def test_the_wait_doubles_from_the_base():
    waits = [backoff_delay(attempt, base=BASE) for attempt in range(1, 6)]

    assert [w.total_seconds() for w in waits] == [15, 30, 60, 120, 240]


def test_the_cap_bounds_the_wait_even_after_very_many_attempts():
    cap = timedelta(minutes=5)

    assert backoff_delay(5, base=BASE, cap=cap) == timedelta(seconds=240)
    assert backoff_delay(6, base=BASE, cap=cap) == cap
    assert backoff_delay(10_000, base=BASE, cap=cap) == cap


def test_jitter_stays_between_half_and_all_of_the_wait():
    waits = {backoff_delay(3, base=BASE, jitter=True) for _ in range(50)}

    assert all(timedelta(seconds=30) <= wait <= timedelta(seconds=60) for wait in waits)
    assert len(waits) > 1


def test_attempts_count_from_one():
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(0, base=BASE)
