"""The interface through which the worker tells the user about a job (Discord, CLI, tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sora_bot.errors import SoraBotError
from sora_bot.models import Job


class DeliveryError(SoraBotError):
    """Posting failed; ``retryable`` says whether trying again later may work."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)


class Delivery(Protocol):
    """What the front end implements. Every method may be called again after a restart."""

    async def job_updated(self, job: Job, *, queue_position: int | None = None) -> None:
        """The job's state, progress or place in the queue changed (implementations throttle)."""

    async def deliver_video(self, job: Job, path: Path) -> str:
        """Post the finished video; return a reference to where it went."""

    async def deliver_failure(self, job: Job, text: str) -> str:
        """Tell the requester the job ended without a video; return a reference."""

    async def find_posted(self, job: Job) -> str | None:
        """After a crash mid-post: the reference of an outcome already posted, else None."""

    async def show_final_status(self, job: Job) -> bool:
        """Make the job's status display show how it ended (called until it returns).

        True once it does (or there is none); False when it can never be shown (the message
        was deleted, or may no longer be edited). Raises ``DeliveryError`` when trying again
        may work (rate limits, outages): the worker retries with a backoff, across restarts.
        """
