"""Typed values shared across the core: video options, provider tasks, job rows."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

MODEL = "sora-2"
MAX_PROMPT_CHARS = 5000
ASPECT_RATIOS = ("16:9", "9:16")
DURATIONS = (10, 15)


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """What the user asked for, already validated (see ``validation``)."""

    prompt: str
    aspect_ratio: str = "16:9"
    duration: int = 10
    remove_watermark: bool = True
    image_url: str | None = None


class TaskStatus(enum.StrEnum):
    """Provider task status."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Task:
    """A provider task as returned by create or query."""

    id: str
    status: TaskStatus
    progress: int = 0
    estimated_time: int | None = None
    results: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    credits_reserved: float | None = None
    created: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.COMPLETED, TaskStatus.FAILED)


class JobState(enum.StrEnum):
    """Persisted job states; every transition is one committed write."""

    ACCEPTED = "accepted"  # credits reserved; the front end is still preparing (status post, image)
    QUEUED = "queued"  # ready to send; waits for a free provider slot
    SUBMITTING = "submitting"  # the create POST may be in flight
    SUBMITTED = "submitted"  # provider task id stored
    RUNNING = "running"  # provider reports processing
    COMPLETED = "completed"  # video downloaded to disk, not yet posted
    DELIVERING = "delivering"  # an upload may be in flight
    DELIVERED = "delivered"  # posted; credits settled
    REJECTED = "rejected"  # never reached the provider; refunded
    FAILED = "failed"  # provider failure, timeout or gave up; refunded
    UNDELIVERABLE = "undeliverable"  # video made but could not be posted; file kept

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {JobState.DELIVERED, JobState.REJECTED, JobState.FAILED, JobState.UNDELIVERABLE}
)
ACTIVE_STATES = frozenset(set(JobState) - TERMINAL_STATES)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked, as opaque strings (Discord ids, or ``cli``), plus role ids for allowances."""

    guild_id: str
    channel_id: str
    user_id: str
    role_ids: tuple[str, ...] = ()
