"""One job in virtual time: the real worker and provider client against the provider double.

A shared fake clock drives both, so a 900-second job takes well under a second to run; the
schedule tests and ``bench.polls`` measure polls and download delay with it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from sora_bot.models import Requester, VideoOptions

from .core import running_core
from .fakes import FakeClock, RecordingDelivery
from .provider import running_provider


@dataclass(frozen=True)
class PollRun:
    """What one simulated job cost and how late its download started."""

    estimated: int
    actual: float
    polls: int
    download_delay: float


async def simulate(
    estimated: int, actual: float, *, poll_interval: float = 5.0, max_poll_interval: float = 60.0
) -> PollRun:
    """Run one job whose provider estimate is ``estimated`` s and which takes ``actual`` s."""
    clock = FakeClock()
    delivery = RecordingDelivery()
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            running_provider(clock=clock, task_seconds=actual, estimated_time=estimated) as double,
            running_core(
                Path(tmp),
                double.base_url,
                delivery,
                clock=clock,
                start=False,
                SORA_POLL_INTERVAL=str(poll_interval),
                SORA_MAX_POLL_INTERVAL=str(max_poll_interval),
                SORA_JOB_TIMEOUT="7200",
            ) as core,
        ):
            job = await core.jobs.submit(
                Requester("bench", "bench", "bench"), VideoOptions("bench"), charge=False
            )
            while not delivery.videos:
                await core.worker.run_once()
                next_at = await core.store.next_due_at()
                if next_at is None:
                    break
                clock.now = max(clock.now, next_at)
            task = next(iter(double.tasks.values()))
            download = double.downloads()[0].time
            assert (await core.store.require(job.id)).state.value == "delivered"
            return PollRun(
                estimated, actual, len(double.polls()), download - (task.created_at + task.seconds)
            )
