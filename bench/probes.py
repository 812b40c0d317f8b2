"""Process probes for the benchmarks: resident memory from /proc and an event-loop lag ticker."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


def proc_status(field_name: str) -> int:
    """A ``/proc/self/status`` size field (``VmRSS``, ``VmHWM``) in bytes (0 if unavailable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss() -> int:
    """Resident memory of this process in bytes."""
    return proc_status("VmRSS")


@dataclass
class PeakRSS:
    """Samples VmRSS every ``interval`` seconds in a thread; ``peak`` is the highest seen."""

    interval: float = 0.005
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(self.interval)

    @contextlib.contextmanager
    def running(self) -> Iterator[PeakRSS]:
        self.peak = rss()
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.peak = max(self.peak, rss())


@dataclass
class LagTicker:
    """Sleeps ``tick`` seconds in a loop and records how late each wake-up was (seconds)."""

    tick: float = 0.01
    lags: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.tick)
            self.lags.append(max(0.0, loop.time() - start - self.tick))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def percentile(self, p: float) -> float:
        if not self.lags:
            return 0.0
        if len(self.lags) == 1:
            return self.lags[0]
        return statistics.quantiles(self.lags, n=100, method="inclusive")[int(p) - 1]
