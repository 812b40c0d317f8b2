"""Typed values shared across the core: video options, provider tasks, jobs and their states."""

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
# Holding a provider slot: until the video is on disk (a full disk must hold back new
# submissions rather than pile up billed tasks).
IN_FLIGHT_STATES = (JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING)
POLLING_STATES = (JobState.SUBMITTED, JobState.RUNNING)


class CreditState(enum.StrEnum):
    """What a job's credits are doing; every change is a conditional write."""

    NONE = "none"  # nothing was charged (command line, waived runs)
    RESERVED = "reserved"  # held at submit, counted against the allowance
    SETTLED = "settled"  # spent: the video was made
    REFUNDED = "refunded"  # given back: the job ended without a video
    WAIVED = "waived"  # given back by an admin's reset; still counts for the guild budget


# What counts against a member's allowance, and what counts against the guild's budget.
USER_CHARGED = (CreditState.RESERVED, CreditState.SETTLED)
GUILD_CHARGED = (CreditState.RESERVED, CreditState.SETTLED, CreditState.WAIVED)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked, as opaque strings (Discord ids, or ``cli``), plus role ids for allowances."""

    guild_id: str
    channel_id: str
    user_id: str
    role_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    """One job as stored: what was asked, by whom, where it stands, what came of it."""

    id: int
    guild_id: str
    channel_id: str
    user_id: str
    prompt: str
    aspect_ratio: str
    duration: int
    remove_watermark: bool
    image_url: str | None
    cost: int
    credit_day: str
    credit_state: CreditState
    state: JobState
    task_id: str | None
    progress: int
    estimated_seconds: int | None
    error_code: str | None
    error_message: str | None
    video_url: str | None
    file_path: str | None
    file_size: int | None
    front_ref: dict[str, Any]  # the front end's own references (opaque to the core)
    delivery_ref: str | None
    outcome_posted: bool
    attempts: int
    created_at: float
    submitted_at: float | None
    completed_at: float | None
    finished_at: float | None
    updated_at: float
    next_attempt_at: float | None
    provider_credits: float | None = None
    callback_at: float | None = None

    @property
    def options(self) -> VideoOptions:
        return VideoOptions(
            self.prompt, self.aspect_ratio, self.duration, self.remove_watermark, self.image_url
        )

    @property
    def requester(self) -> Requester:
        return Requester(self.guild_id, self.channel_id, self.user_id)
