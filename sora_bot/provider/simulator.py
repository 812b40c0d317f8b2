"""A provider simulated in-process (``SORA_SIMULATE=1``): no key, no credits, real mp4 files.

Every fact about a task is encoded in its id (creation time, generation time, duration,
shape, outcome), and its status is computed from the id and the clock. Nothing lives only
in memory, so a bot restarted mid-job finds its simulated tasks exactly where the clock
says they are, as it would with the real provider.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sora_bot.media import MediaError, make_test_video
from sora_bot.models import Task, TaskStatus, VideoOptions
from sora_bot.provider.client import ProviderObserver
from sora_bot.provider.errors import DownloadError, NotFound
from sora_bot.settings import Settings

URL_PREFIX = "simulated://"
# Real generations take minutes; 10-s clips a little less than 15-s ones.
BASE_SECONDS = {10: 150.0, 15: 210.0}
MODERATION_AT = 0.15  # a filtered prompt fails this far into its generation time
PENDING_SHARE = 0.1  # the first tenth of the time a task is "pending"
MODERATION_MESSAGE = "Your request was blocked by our content moderation system. (simulated)"
CLIP_SIZES = {"16:9": "320x180", "9:16": "180x320"}
_ID = re.compile(
    r"^sim-(?P<created_ms>\d{1,15})-(?P<run_ms>\d{1,12})-(?P<duration>10|15)"
    r"-(?P<shape>l|p)-(?P<outcome>[a-z_]{2,40})-[a-z0-9]{8}$"
)


@dataclass(frozen=True, slots=True)
class SimulatedTask:
    """The facts encoded in a simulated task id."""

    created: float
    run_seconds: float
    duration: int
    aspect_ratio: str
    outcome: str  # "ok" or a provider failure code

    @classmethod
    def parse(cls, task_id: str) -> SimulatedTask | None:
        """The task an id describes, or None when it is not a simulated task id."""
        match = _ID.match(task_id)
        if match is None:
            return None
        return cls(
            created=int(match["created_ms"]) / 1000,
            run_seconds=int(match["run_ms"]) / 1000,
            duration=int(match["duration"]),
            aspect_ratio="16:9" if match["shape"] == "l" else "9:16",
            outcome=match["outcome"],
        )

    def task_id(self) -> str:
        """The id that encodes this task (with a random suffix, like real ids)."""
        shape = "l" if self.aspect_ratio == "16:9" else "p"
        nonce = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        return (
            f"sim-{round(self.created * 1000)}-{round(self.run_seconds * 1000)}-"
            f"{self.duration}-{shape}-{self.outcome}-{nonce}"
        )

    def status(self, now: float) -> tuple[TaskStatus, int]:
        """Status and progress at clock time ``now``."""
        elapsed = now - self.created
        if elapsed >= self.run_seconds:
            if self.outcome == "ok":
                return TaskStatus.COMPLETED, 100
            return TaskStatus.FAILED, min(99, int(MODERATION_AT * 100))
        if elapsed < self.run_seconds * PENDING_SHARE:
            return TaskStatus.PENDING, 0
        return TaskStatus.PROCESSING, min(99, int(elapsed / self.run_seconds * 100))


class SimulatedProvider:
    """Same interface as ProviderClient; tasks follow the clock, results are made by ffmpeg."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        moderation: str,
        clock: Callable[[], float] = time.time,
        observer: ProviderObserver | None = None,
    ) -> None:
        self.speed = speed
        self.moderation = re.compile(moderation, re.IGNORECASE)
        self.clock = clock
        self.observer = observer
        self._captions: dict[str, str] = {}  # cosmetic only: lost on restart, and that is fine

    @classmethod
    def from_settings(
        cls, settings: Settings, *, observer: ProviderObserver | None = None
    ) -> SimulatedProvider:
        """A simulator configured by ``SORA_SIMULATE_*``."""
        return cls(
            speed=settings.simulate_speed,
            moderation=settings.simulate_moderation,
            observer=observer,
        )

    def __repr__(self) -> str:
        return f"SimulatedProvider(speed={self.speed})"

    async def create(self, options: VideoOptions, *, callback_url: str | None = None) -> Task:
        """Start a simulated task; its fate is decided now and written into its id."""
        self._answered()
        base = BASE_SECONDS.get(options.duration, BASE_SECONDS[10]) / self.speed
        blocked = self.moderation.search(options.prompt) is not None
        run = base * (MODERATION_AT if blocked else 0.8 + 0.4 * secrets.randbelow(1001) / 1000)
        sim = SimulatedTask(
            created=self.clock(),
            run_seconds=run,
            duration=options.duration,
            aspect_ratio=options.aspect_ratio,
            outcome="content_policy_violation" if blocked else "ok",
        )
        task_id = sim.task_id()
        self._captions[task_id] = options.prompt
        return self._task(task_id, sim, estimated=round(base))

    async def get_task(self, task_id: str) -> Task:
        """The task's status now, computed from its id."""
        sim = SimulatedTask.parse(task_id)
        self._answered()
        if sim is None:
            raise NotFound(404, "Task not found", type="not_found_error", param="task_id")
        base = BASE_SECONDS.get(sim.duration, BASE_SECONDS[10]) / self.speed
        return self._task(task_id, sim, estimated=round(base))

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Make the result video with ffmpeg: a test pattern with the prompt drawn on it."""
        task_id = url.removeprefix(URL_PREFIX).removesuffix(".mp4")
        sim = SimulatedTask.parse(task_id) if url.startswith(URL_PREFIX) else None
        if sim is None or sim.status(self.clock())[0] is not TaskStatus.COMPLETED:
            raise DownloadError("expired", "simulated result link is not valid")
        part = dest.with_name(f"{dest.stem}.part{dest.suffix}")  # ffmpeg picks mp4 by suffix
        caption = f"SIMULATION {self._captions.get(task_id, '')}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            await make_test_video(
                part,
                seconds=float(sim.duration),
                size=CLIP_SIZES.get(sim.aspect_ratio, CLIP_SIZES["16:9"]),
                text=caption,
            )
            size = part.stat().st_size
            if size > max_bytes:
                raise DownloadError("too_large", f"video is {size} bytes, over {max_bytes}")
            os.replace(part, dest)
        except (MediaError, OSError) as exc:
            raise DownloadError("disk", f"could not make the simulated video: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
        return size

    async def check_key(self) -> None:
        """Nothing to check: the simulator needs no key."""
        self._answered()

    def _task(self, task_id: str, sim: SimulatedTask, *, estimated: int) -> Task:
        status, progress = sim.status(self.clock())
        failed = status is TaskStatus.FAILED
        return Task(
            id=task_id,
            status=status,
            progress=progress,
            estimated_time=None
            if status in (TaskStatus.COMPLETED, TaskStatus.FAILED)
            else estimated,
            results=(f"{URL_PREFIX}{task_id}.mp4",) if status is TaskStatus.COMPLETED else (),
            error_code=sim.outcome if failed else None,
            error_message=MODERATION_MESSAGE if failed else None,
            credits_reserved=0.0,  # nothing is spent in a simulation
            created=int(sim.created),
        )

    def _answered(self) -> None:
        if self.observer is not None:
            self.observer.provider_answer(200)
