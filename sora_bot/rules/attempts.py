"""Refused attempts per user: after too many in a short time, further ones are turned away at once.

In memory only (a restart forgets, which is fine for a cool-down of a minute) and bounded: at
most ``max_users`` users are remembered, the least recently refused forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

REFUSALS_ALLOWED = 5
WINDOW_SECONDS = 60.0
MAX_USERS = 10_000


class RefusalLimiter:
    """Counts refusals per user in a sliding window; ``wait`` says how long a user must wait."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        allowed: int = REFUSALS_ALLOWED,
        window: float = WINDOW_SECONDS,
        max_users: int = MAX_USERS,
    ) -> None:
        if allowed < 1 or window <= 0 or max_users < 1:
            raise ValueError("allowed, window and max_users must be positive")
        self.clock = clock
        self.allowed = allowed
        self.window = window
        self.max_users = max_users
        self._refusals: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, user_id: str) -> float:
        """Seconds until ``user_id`` may try again (0: now). Reads only; nothing is counted."""
        times = self._refusals.get(user_id)
        if times is None or len(times) < self.allowed:
            return 0.0
        # The window holds ``allowed`` refusals until the oldest of them ages out.
        return max(0.0, times[0] + self.window - self.clock())

    def refused(self, user_id: str) -> None:
        """Count one refusal of ``user_id`` (a refusal caused by what they asked for)."""
        now = self.clock()
        times = self._refusals.pop(user_id, None) or deque(maxlen=self.allowed)
        while times and times[0] + self.window <= now:
            times.popleft()
        times.append(now)
        self._refusals[user_id] = times  # now the most recent
        while len(self._refusals) > self.max_users:
            self._refusals.popitem(last=False)

    def __len__(self) -> int:
        return len(self._refusals)
