"""When to poll a provider task next: rarely early, close to the expected end, never too often."""

from __future__ import annotations

import random

DEFAULT_ESTIMATE = 300.0  # seconds; the provider's typical estimated_time
TRUST_PROGRESS = 10  # percent; below this a progress rate is too noisy to extrapolate
OVERDUE_GRACE = 0.05  # fraction of the expected duration polled at the floor once overdue
END_MARGIN = 0.05  # seconds after the expected end, so that poll sees a punctual task done
ACCEPTED_GRACE = 300.0  # seconds a front end may take to prepare a held job before it is dropped
FIRST_CHECK = 20.0  # an early look catches fast failures (moderation is the most common)


def next_poll_delay(
    *,
    elapsed: float,
    estimate: float | None,
    progress: int,
    min_interval: float,
    max_interval: float,
    polls: int,
) -> float:
    """Seconds to wait before the next poll of a task submitted ``elapsed`` seconds ago.

    The expected end comes from the provider's estimate until the reported progress is
    large enough to extrapolate from (then the progress rate wins, earlier or later). The
    wait halves the time left until that end, so polls are rare at first and bunch up near
    it; shortly past the end it stays at the floor (most late tasks are only a little
    late), then grows gently. It is always within ``[min_interval, max_interval]``.
    """
    estimate = float(estimate) if estimate and estimate > 0 else DEFAULT_ESTIMATE
    if polls == 0:
        return _clamp(min(FIRST_CHECK, estimate / 4), min_interval, max_interval)
    expected_end = estimate
    if TRUST_PROGRESS <= progress < 100 and elapsed > 0:
        expected_end = elapsed * 100.0 / progress
    elif 0 < progress < TRUST_PROGRESS and elapsed > 0:
        expected_end = max(expected_end, elapsed * 100.0 / progress)
    remaining = expected_end - elapsed
    if min_interval <= remaining <= 2 * min_interval:
        return remaining + END_MARGIN  # land the next poll just after the expected end
    if remaining > 0:
        return _clamp(remaining / 2, min_interval, max_interval)
    # Overdue: stay at the floor for a short grace, then widen by a quarter of the extra
    # overrun, so a stuck task costs little.
    grace = max(2 * min_interval, OVERDUE_GRACE * expected_end)
    overrun = -remaining
    return _clamp(min_interval + max(0.0, overrun - grace) / 4, min_interval, max_interval)


def retry_delay(attempts: int, *, base: float, cap: float) -> float:
    """Capped exponential backoff with full jitter for the ``attempts``-th consecutive error."""
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    return max(base, random.uniform(0, ceiling))


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
