"""Start-up with many unfinished jobs in the database: how long until all are being tracked.

The database holds ``jobs`` jobs in ``running`` with a provider task id (tasks the provider
double knows, still processing), all due now: the worst case, as after a long outage.
Measured from opening the database (migrations included) and starting the worker:
- ``loaded``: the worker's first pass has read the schedule (the first poll is sent);
- ``all polled``: every job has had its first step after the restart (polled once and
  rescheduled: its row was rewritten after the start).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.load import CountingDelivery
from bench.servers import PRELOADED, serving
from sora_bot.core import open_core
from sora_bot.storage.database import Database
from tests.doubles import make_settings


@dataclass(frozen=True)
class ResumeRun:
    jobs: int
    loaded_s: float
    all_polled_s: float
    polls: int


def _fill(db_path: Path, jobs: int, now: float) -> None:
    conn = sqlite3.connect(db_path)
    with conn:
        conn.executemany(
            """INSERT INTO jobs (guild_id, channel_id, user_id, prompt, aspect_ratio, duration,
                   remove_watermark, cost, credit_day, credit_state, state, task_id, progress,
                   estimated_seconds, front_ref, created_at, submitted_at, updated_at,
                   next_attempt_at)
               VALUES ('g', 'c', ?, 'resume', '16:9', 10, 1, 10, '2099-01-01', 'reserved',
                   'running', ?, 5, 300, '{}', ?, ?, ?, ?)""",
            [
                (f"u{i}", PRELOADED.format(i), now - 60, now - 60, now - 60, now)
                for i in range(jobs)
            ],
        )
    conn.close()


async def run_resume(jobs: int = 10_000) -> ResumeRun:
    async with serving("provider", "--tasks", str(jobs), "--task-seconds", "3600") as server:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            settings = make_settings(
                folder,
                SORA_API_BASE=server.info["base_url"],
                SORA_API_KEY=server.info["api_key"],
                SORA_POLL_INTERVAL="5",
                SORA_MAX_POLL_INTERVAL="60",
                SORA_MAX_INFLIGHT_JOBS=str(jobs),
                SORA_MAX_CONCURRENT_REQUESTS=os.environ.get("BENCH_CONCURRENCY", "8"),
            )
            db = await Database.open(settings.database_path)  # create the schema
            await db.close()
            _fill(settings.database_path, jobs, time.time())
            started = time.time()
            async with (
                aiohttp.ClientSession() as session,
                open_core(settings, session, CountingDelivery()) as core,
            ):
                core.worker.start()
                while core.worker.polls == 0:  # noqa: ASYNC110 - measuring, not waiting
                    await asyncio.sleep(0.001)
                loaded = time.time() - started
                async with asyncio.timeout(600):
                    while True:
                        row = await core.db.fetchone(
                            "SELECT COUNT(*) FROM jobs WHERE updated_at < ?", (started,)
                        )
                        if row is not None and row[0] == 0:
                            break
                        await asyncio.sleep(0.02)
                all_polled = time.time() - started
                polls = core.worker.polls
    return ResumeRun(jobs, loaded, all_polled, polls)


if __name__ == "__main__":
    print(asyncio.run(run_resume()))
