"""Many jobs in flight in one process: event-loop lag, resident memory, provider requests/s.

The real core (worker, provider client, SQLite store) runs in this process; the provider
double runs in a child process so that its work is not counted here.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.probes import LagTicker, rss
from bench.servers import serving
from sora_bot.core import open_core
from sora_bot.models import Job, Requester, VideoOptions
from tests.doubles import make_settings


class CountingDelivery:
    """A Delivery that only counts (keeps no video in memory)."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0

    async def job_updated(self, job: Job, *, queue_position: int | None = None) -> None:
        return None

    async def deliver_video(self, job: Job, path: Path) -> str:
        self.delivered += 1
        return f"v{job.id}"

    async def deliver_failure(self, job: Job, text: str) -> str:
        self.failed += 1
        return f"f{job.id}"

    async def find_posted(self, job: Job) -> str | None:
        return None

    async def show_final_status(self, job: Job) -> bool:
        return True


@dataclass(frozen=True)
class LoadRun:
    jobs: int
    task_seconds: float
    wall: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    rss_before_mb: float
    rss_peak_mb: float
    requests: int
    requests_per_s: float
    delivered: int


async def run_load(jobs: int = 1000, task_seconds: float = 60.0) -> LoadRun:
    """Submit ``jobs`` at once (all in flight together) and run them to delivery."""
    async with serving(
        "provider", "--task-seconds", str(task_seconds), "--video-bytes", "65536"
    ) as server:
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(
                Path(tmp),
                SORA_API_BASE=server.info["base_url"],
                SORA_API_KEY=server.info["api_key"],
                SORA_POLL_INTERVAL="5",
                SORA_MAX_POLL_INTERVAL="60",
                SORA_RETRY_BACKOFF="1",
                SORA_MAX_INFLIGHT_JOBS=str(jobs),
                SORA_MAX_CONCURRENT_REQUESTS="8",
            )
            delivery = CountingDelivery()
            async with (
                aiohttp.ClientSession() as session,
                open_core(settings, session, delivery) as core,
            ):
                before = rss()
                for i in range(jobs):
                    await core.jobs.submit(
                        Requester("g", "c", f"u{i}"), VideoOptions(f"job {i}"), charge=False
                    )
                ticker = LagTicker()
                ticker.start()
                peak = rss()
                started = time.monotonic()
                core.worker.start()
                while delivery.delivered + delivery.failed < jobs:
                    await asyncio.sleep(0.25)
                    peak = max(peak, rss())
                wall = time.monotonic() - started
                await ticker.stop()
                requests = core.worker.polls + 2 * jobs  # polls + creates + downloads
    return LoadRun(
        jobs,
        task_seconds,
        wall,
        ticker.percentile(50) * 1000,
        ticker.percentile(99) * 1000,
        max(ticker.lags, default=0.0) * 1000,
        before / 2**20,
        peak / 2**20,
        requests,
        requests / wall,
        delivery.delivered,
    )


if __name__ == "__main__":
    print(asyncio.run(run_load(1000, 20.0)))
