"""While the database cannot be written: pause the worker, back off, probe, say so briefly.

An unwritable database (full disk, read-only file, I/O errors) is the whole worker's
condition, not a job's: no step is run (a provider poll whose answer cannot be recorded is
wasted), no job is failed or refunded for it, and the log gets one line when it starts, a
reminder now and then, and one line when it ends. Jobs then go on from their last commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sora_bot.infra.logs import event
from sora_bot.storage.database import StorageUnavailable

log = logging.getLogger(__name__)

FIRST_WAIT = 1.0  # seconds before the first probe
LONGEST_WAIT = 60.0  # the backoff's cap
REMIND_EVERY = 300.0  # seconds between "still unwritable" lines


class StorageOutage:
    """The pause: exponential backoff between cheap write probes, with few log lines.

    Times are monotonic seconds (real waiting), not the worker's job clock.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        *,
        first: float = FIRST_WAIT,
        cap: float = LONGEST_WAIT,
        remind_every: float = REMIND_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.probe = probe
        self.first = first
        self.cap = cap
        self.remind_every = remind_every
        self.monotonic = monotonic
        self.sleep = sleep
        self.since: float | None = None  # when the current outage began (None: writable)
        self.probes = 0  # probe writes tried (for measurements)
        self._wait = first
        self._reminded_at = 0.0
        self._ended_at: float | None = None
        self._quiet = False  # this outage is a flap of the last one: no new lines for it

    @property
    def active(self) -> bool:
        """Whether the worker is paused because the database cannot be written."""
        return self.since is not None

    def began(self, error: StorageUnavailable) -> None:
        """A write failed: pause (logged once, however many steps hit it)."""
        if self.since is not None:
            return
        now = self.monotonic()
        # A probe passed but the next real write failed (a nearly full disk): keep the
        # longer wait instead of starting over, so a flapping disk is not hammered.
        relapse = self._ended_at is not None and now - self._ended_at <= self.cap
        self._wait = min(self._wait * 2, self.cap) if relapse else self.first
        self._quiet = relapse and now - self._reminded_at < self.remind_every
        self.since = now
        if self._quiet:  # the same outage flapping: the lines already written still hold
            return
        self._reminded_at = now
        event(
            log,
            logging.ERROR,
            "database cannot be written; worker paused, no job is failed for it",
            error=str(error),
        )

    async def wait_until_writable(self) -> None:
        """Back off and probe until a write passes (returns at once when writable)."""
        while self.since is not None:
            await self.sleep(self._wait)
            self.probes += 1
            try:
                await self.probe()
            except StorageUnavailable as exc:
                self._wait = min(self._wait * 2, self.cap)
                self._remind(exc.code)
            except Exception as exc:  # a corrupt file, a closed connection: keep backing off
                self._wait = min(self._wait * 2, self.cap)
                self._remind(type(exc).__name__)
            else:
                self._ended()

    def _remind(self, error: str | None) -> None:
        now = self.monotonic()
        if now - self._reminded_at >= self.remind_every:
            self._reminded_at = now
            assert self.since is not None
            event(
                log,
                logging.ERROR,
                "database still cannot be written; worker paused",
                error=error,
                down_for=round(now - self.since),
            )

    def _ended(self) -> None:
        assert self.since is not None
        now = self.monotonic()
        if not self._quiet:
            event(
                log,
                logging.WARNING,
                "database writable again; worker resumed",
                down_for=round(now - self.since, 1),
            )
        self.since, self._ended_at = None, now
