"""Provider polls per job and completion-to-download delay, in virtual time.

Runs the real worker and provider client against the provider double with a shared fake
clock, so a 900-second job takes well under a second to measure.

    python -m bench.polls
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from sora_bot.models import TaskStatus, VideoOptions
from sora_bot.provider.client import ProviderClient
from tests.doubles import FakeClock, PollRun, running_provider, simulate

# Where within a 5-s naive polling period the job ends (midpoints of five equal slices, i.e.
# a uniform phase): the same set for both pollers.
OFFSETS = (0.5, 1.5, 2.5, 3.5, 4.5)


async def simulate_naive(actual: float, *, every: float = 5.0, estimated: int = 300) -> PollRun:
    """A naive bot: poll the task every ``every`` seconds, download as soon as it is done."""
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            running_provider(clock=clock, task_seconds=actual, estimated_time=estimated) as double,
            aiohttp.ClientSession() as session,
        ):
            client = ProviderClient(session, base_url=double.base_url, api_key=double.api_key)
            task = await client.create(VideoOptions("bench"))
            while True:
                clock.now += every
                task = await client.get_task(task.id)
                if task.status is TaskStatus.COMPLETED:
                    break
            await client.download(task.results[0], Path(tmp) / "v.mp4", max_bytes=1 << 30)
            held = next(iter(double.tasks.values()))
            download = double.downloads()[0].time
            return PollRun(
                estimated, actual, len(double.polls()), download - (held.created_at + held.seconds)
            )


@dataclass(frozen=True)
class Comparison:
    """Our schedule against the naive poller for one job length, averaged over phase offsets."""

    seconds: int
    polls: float
    naive_polls: float
    delay: float
    naive_delay: float

    @property
    def ratio(self) -> float:
        return self.naive_polls / self.polls


async def compare(seconds: int, offsets: tuple[float, ...] = OFFSETS) -> Comparison:
    """Jobs whose estimate is ``seconds`` and which end ``seconds + offset`` after submission."""
    ours = [await simulate(seconds, seconds + o) for o in offsets]
    naive = [await simulate_naive(seconds + o, estimated=seconds) for o in offsets]
    return Comparison(
        seconds,
        statistics.fmean(r.polls for r in ours),
        statistics.fmean(r.polls for r in naive),
        statistics.fmean(r.download_delay for r in ours),
        statistics.fmean(r.download_delay for r in naive),
    )


async def main() -> None:
    print(f"{'estimated':>9} {'actual':>7} {'polls':>6} {'download delay':>15}")
    for estimated, actual in [(300, 300), (60, 60), (900, 900), (300, 450), (300, 120)]:
        run = await simulate(estimated, actual)
        print(
            f"{run.estimated:>8}s {run.actual:>6.0f}s {run.polls:>6} {run.download_delay:>14.1f}s"
        )


if __name__ == "__main__":
    asyncio.run(main())
