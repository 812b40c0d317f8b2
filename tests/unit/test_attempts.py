"""The per-user limit on refused attempts: a sliding window, memory only, bounded."""

from __future__ import annotations

import pytest

from sora_bot.rules.attempts import RefusalLimiter
from tests.doubles import FakeClock


def test_five_refusals_in_a_minute_mean_a_wait_until_the_first_ages_out() -> None:
    clock = FakeClock(1000.0)
    limiter = RefusalLimiter(clock, allowed=5, window=60)
    for _ in range(4):
        limiter.refused("alice")
        clock.advance(1)
    assert limiter.wait("alice") == 0
    limiter.refused("alice")  # the fifth, at t=1004
    assert limiter.wait("alice") == pytest.approx(56)  # the first (t=1000) leaves at 1060
    clock.advance(56)
    assert limiter.wait("alice") == 0
    assert limiter.wait("bob") == 0


def test_asking_how_long_to_wait_counts_nothing() -> None:
    clock = FakeClock(0.0)
    limiter = RefusalLimiter(clock, allowed=2, window=10)
    limiter.refused("alice")
    for _ in range(100):
        assert limiter.wait("alice") == 0
    assert len(limiter) == 1


def test_old_refusals_fall_out_of_the_window() -> None:
    clock = FakeClock(0.0)
    limiter = RefusalLimiter(clock, allowed=3, window=10)
    for _ in range(10):  # one every 5 s: never three within 10 s
        limiter.refused("alice")
        assert limiter.wait("alice") == 0
        clock.advance(5)


def test_memory_is_bounded_and_the_least_recent_user_goes_first() -> None:
    clock = FakeClock(0.0)
    limiter = RefusalLimiter(clock, allowed=1, window=60, max_users=3)
    for user in ("a", "b", "c"):
        limiter.refused(user)
    limiter.refused("a")  # a is now the most recent
    limiter.refused("d")
    assert len(limiter) == 3
    assert limiter.wait("b") == 0  # forgotten
    assert limiter.wait("a") > 0 and limiter.wait("c") > 0 and limiter.wait("d") > 0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RefusalLimiter(FakeClock(0.0), allowed=0)
