"""Delivery latency with and without provider callbacks (wall clock, local doubles).

Runs the real core against the provider double, which calls each task's callback URL when
the task ends (as the provider does). Task lengths vary around the provider's estimate,
as real ones do:

    python -m bench.callbacks [--jobs N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sora_bot.models import Job, Requester, VideoOptions
from sora_bot.services import running_services
from tests.doubles import running_core, running_provider

PUBLIC = "https://bot.example.com/cb"


@dataclass
class TimedDelivery:
    """Delivery that notes when each video was handed over (monotonic clock)."""

    expected: int = 0
    posted: dict[int, float] = field(default_factory=dict)
    all_posted: asyncio.Event = field(default_factory=asyncio.Event)

    def _note(self, job_id: int) -> None:
        self.posted[job_id] = time.monotonic()
        if len(self.posted) >= self.expected:
            self.all_posted.set()

    async def job_updated(self, job: Job, *, queue_position: int | None = None) -> None:
        return None

    async def deliver_video(self, job: Job, path: Path) -> str:
        self._note(job.id)
        return f"video-{job.id}"

    async def deliver_failure(self, job: Job, text: str) -> str:
        self._note(job.id)
        return f"failure-{job.id}"

    async def find_posted(self, job: Job) -> str | None:
        return None

    async def show_final_status(self, job: Job) -> bool:
        return True


async def measure(
    jobs: int, seconds: float, callbacks: bool, poll: float, max_poll: float
) -> tuple[list[float], float]:
    """(completion → delivered for each job, polls per job)."""
    rng = random.Random(7)
    # Settings by name (Any: mypy cannot tell these keys from running_core's own keywords).
    env: dict[str, Any] = {"SORA_POLL_INTERVAL": str(poll), "SORA_MAX_POLL_INTERVAL": str(max_poll)}
    if callbacks:
        env |= {
            "SORA_CALLBACK_URL": PUBLIC,
            "SORA_CALLBACK_LISTEN": "127.0.0.1:0",
            "SORA_CALLBACK_POLL_INTERVAL": "60",
        }
    delivery = TimedDelivery(expected=jobs)
    async with running_provider(task_seconds=seconds, estimated_time=round(seconds)) as double:
        with tempfile.TemporaryDirectory() as tmp:
            async with (
                running_core(
                    Path(tmp), double.base_url, delivery, SORA_MAX_INFLIGHT_JOBS=str(jobs), **env
                ) as core,
                running_services(core) as services,
            ):
                if services.callbacks is not None:
                    double.callback_rewrite = (
                        PUBLIC,
                        f"http://127.0.0.1:{services.callbacks.port}",
                    )
                ids = []
                for n in range(jobs):
                    length = seconds * rng.uniform(0.7, 1.3)  # estimates are rough
                    options = VideoOptions(f"latency probe {n} [seconds:{length:.2f}]")
                    ids.append((await core.jobs.submit(Requester("g", "c", f"u{n}"), options)).id)
                async with asyncio.timeout(seconds * 3 + 60):
                    await delivery.all_posted.wait()
                latencies = []
                for job_id in ids:
                    job = await core.store.require(job_id)
                    task = double.tasks[job.task_id or ""]
                    latencies.append(delivery.posted[job_id] - (task.created_at + task.seconds))
    return latencies, len(double.polls()) / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--max-poll-interval", type=float, default=5.0)
    args = parser.parse_args()
    print(
        f"{args.jobs} jobs, estimate {args.seconds:.0f} s, actual ±30 %; "
        f"SORA_POLL_INTERVAL={args.poll_interval:g}, SORA_MAX_POLL_INTERVAL="
        f"{args.max_poll_interval:g}; with callbacks SORA_CALLBACK_POLL_INTERVAL=60"
    )
    for callbacks in (False, True):
        latencies, polls = asyncio.run(
            measure(args.jobs, args.seconds, callbacks, args.poll_interval, args.max_poll_interval)
        )
        label = "callbacks" if callbacks else "polling  "
        print(
            f"{label}: completed → delivered median {statistics.median(latencies):.2f} s, "
            f"max {max(latencies):.2f} s; {polls:.1f} polls per job"
        )


if __name__ == "__main__":
    main()
