"""Test doubles of the core's own interfaces (the network doubles live in their own modules)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sora_bot.engine.delivery import DeliveryError
from sora_bot.models import Job


@dataclass
class RecordingDelivery:
    """Delivery that records every call; can be told to fail."""

    videos: list[tuple[int, bytes]] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    updates: list[tuple[int, str, int]] = field(default_factory=list)
    final_statuses: list[tuple[int, str]] = field(default_factory=list)  # (job id, state)
    positions: list[tuple[int, int]] = field(default_factory=list)
    fail_videos: int = 0  # raise a retryable DeliveryError this many times
    permanent_failure: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def job_updated(self, job: Job, *, queue_position: int | None = None) -> None:
        self.updates.append((job.id, job.state.value, job.progress))
        if queue_position is not None:
            self.positions.append((job.id, queue_position))

    async def deliver_video(self, job: Job, path: Path) -> str:
        if self.permanent_failure:
            raise DeliveryError("channel is gone", retryable=False)
        if self.fail_videos:
            self.fail_videos -= 1
            raise DeliveryError("discord is down", retryable=True)
        self.videos.append((job.id, path.read_bytes()))
        self.finished.set()
        return f"video-{job.id}"

    async def deliver_failure(self, job: Job, text: str) -> str:
        self.failures.append((job.id, text))
        self.finished.set()
        return f"failure-{job.id}"

    async def show_final_status(self, job: Job) -> bool:
        self.final_statuses.append((job.id, job.state.value))
        return True

    async def find_posted(self, job: Job) -> str | None:
        if any(job_id == job.id for job_id, _ in self.videos):
            return f"video-{job.id}"
        if any(job_id == job.id for job_id, _ in self.failures):
            return f"failure-{job.id}"
        return None


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
