"""Removes old downloaded videos, keeping the folder under a size bound, oldest first.

Only files of finished jobs are removed: a video still waiting to be posted (or being
downloaded) is never touched, whatever its age or the disk bound.

Some copies were promised to the user, so only the age limit (``SORA_VIDEO_RETENTION_DAYS``)
removes them, never the disk bound (``SORA_MAX_DISK_MB``):

- the video of an ``undeliverable`` job (its message tells where an admin can fetch it);
- the video of a ``delivered`` job that may have been posted as a link ("The bot also keeps
  a copy"). The core cannot see how Discord took it, so the rule is by size: a video larger
  than ``LINK_SIZE`` did not fit the smallest upload limit (10 MiB less the delivery's 5 %
  margin) and is kept. This errs on the side of keeping: in a boosted server such a video may
  have been uploaded after all.

Only the job's own file (``job-12.mp4``) is kept; re-encoded copies (``job-12-9961472.mp4``)
and partial files stay subject to the disk bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sora_bot.infra.logs import event
from sora_bot.models import JobState
from sora_bot.settings import Settings
from sora_bot.storage.jobs import JobStore, StoredFile

log = logging.getLogger(__name__)

SWEEP_EVERY = 3600.0
DAY = 86400.0
# job-12.mp4, partial files job-12.mp4.part / job-12.part.mp4, re-encoded job-12-9961472.mp4
_JOB_FILE = re.compile(r"^job-(\d+)(?:-\d+)?(?:\.part)?\.mp4(?:\.part)?$")
# A delivered video larger than this may have been posted as a link (see the module doc):
# 95 % (the delivery's margin) of 10 MiB, the upload limit of a server without boosts.
LINK_SIZE = int(10 * 1024 * 1024 * 0.95)


@dataclass(frozen=True, slots=True)
class VideoFile:
    """A file of the download folder that belongs to a job."""

    path: Path
    job_id: int
    size: int
    mtime: float


class Retention:
    """Applies ``SORA_VIDEO_RETENTION_DAYS`` and ``SORA_MAX_DISK_MB`` to the download folder."""

    def __init__(self, store: JobStore, settings: Settings, clock: Callable[[], float]) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether there is anything to enforce."""
        return self.settings.video_retention_days > 0 or self.settings.max_disk_mb > 0

    def start(self) -> None:
        """Sweep now and then every hour."""
        if self._task is None and self.enabled:
            self._task = asyncio.create_task(self._loop(), name="sora-retention")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # a cancel of stop() itself still propagates
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a bad sweep must not end retention for the process
                log.exception("retention sweep failed")
            await asyncio.sleep(SWEEP_EVERY)

    async def sweep(self) -> list[Path]:
        """Remove what the settings say; returns the removed files."""
        files = await asyncio.to_thread(_scan, self.settings.download_dir)
        known = await self.store.stored_files({f.job_id for f in files})
        # A job unknown to the database (e.g. after restoring an older backup) has no claim.
        removable = sorted(
            (f for f in files if f.job_id not in known or known[f.job_id].state.terminal),
            key=lambda f: f.mtime,
        )
        doomed: list[VideoFile] = []
        if self.settings.video_retention_days > 0:
            cutoff = self.clock() - self.settings.video_retention_days * DAY
            doomed = [f for f in removable if f.mtime < cutoff]
        if self.settings.max_disk_mb > 0:
            excess = sum(f.size for f in files) - self.settings.max_disk_mb * 1024 * 1024
            excess -= sum(f.size for f in doomed)
            for f in removable:
                if excess <= 0:
                    break
                if f not in doomed and not _promised(f, known.get(f.job_id)):
                    doomed.append(f)
                    excess -= f.size
        removed: list[Path] = []
        for f in doomed:
            try:
                await asyncio.to_thread(f.path.unlink)
            except FileNotFoundError:
                pass
            except OSError as exc:
                event(log, logging.WARNING, "video not removed", path=f.path, error=exc)
                continue
            removed.append(f.path)
            stored = known.get(f.job_id)
            if stored is not None and stored.path and Path(stored.path) == f.path:
                await self.store.forget_file(f.job_id, now=self.clock())
            event(log, logging.INFO, "video removed", job=f.job_id, path=f.path, bytes=f.size)
        return removed


def _promised(file: VideoFile, stored: StoredFile | None) -> bool:
    """Whether the user was told the bot keeps this file (then only age may remove it)."""
    if stored is None:
        return False
    own = Path(stored.path).name if stored.path else f"job-{file.job_id}.mp4"
    if file.path.name != own:
        return False  # a re-encoded copy or a partial file
    if stored.state is JobState.UNDELIVERABLE:
        return True
    return stored.state is JobState.DELIVERED and file.size > LINK_SIZE


def _scan(folder: Path) -> list[VideoFile]:
    found: list[VideoFile] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return found
    for entry in entries:
        match = _JOB_FILE.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            st = entry.stat(follow_symlinks=False)
            found.append(VideoFile(Path(entry.path), int(match[1]), st.st_size, st.st_mtime))
    return found
