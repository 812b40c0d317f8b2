from __future__ import annotations

import pytest

from sora_bot.engine.schedule import next_poll_delay, retry_delay


@pytest.mark.parametrize("elapsed", [0, 10, 100, 299, 300, 1000, 5000])
@pytest.mark.parametrize("progress", [0, 50, 99])
def test_delay_stays_within_bounds(elapsed: float, progress: int) -> None:
    delay = next_poll_delay(
        elapsed=elapsed, estimate=300, progress=progress, min_interval=5, max_interval=60, polls=1
    )
    assert 5 <= delay <= 60


def test_rare_early_close_near_the_end() -> None:
    early = next_poll_delay(
        elapsed=30, estimate=300, progress=10, min_interval=5, max_interval=60, polls=1
    )
    late = next_poll_delay(
        elapsed=290, estimate=300, progress=95, min_interval=5, max_interval=60, polls=1
    )
    assert early == 60 and late < 10


def test_slow_progress_stretches_the_expected_end() -> None:
    on_time = next_poll_delay(
        elapsed=200, estimate=300, progress=66, min_interval=5, max_interval=600, polls=1
    )
    slow = next_poll_delay(
        elapsed=200, estimate=300, progress=20, min_interval=5, max_interval=600, polls=1
    )
    assert slow > on_time


def test_retry_delay_is_capped() -> None:
    assert all(1 <= retry_delay(n, base=1, cap=30) <= 30 for n in range(1, 20))
