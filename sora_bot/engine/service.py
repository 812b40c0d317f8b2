"""The entry point for front ends: check, charge and queue a job; read a user's jobs and quota."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

from sora_bot.engine.schedule import ACCEPTED_GRACE
from sora_bot.media import ImageGate
from sora_bot.models import CreditState, Job, JobState, Requester, VideoOptions
from sora_bot.rules.attempts import RefusalLimiter
from sora_bot.rules.credits import Credits, QuotaStatus
from sora_bot.rules.policy import GuildPolicy
from sora_bot.rules.validation import video_cost
from sora_bot.settings import Settings
from sora_bot.storage.jobs import JobChanges, JobStore


def _no_worker() -> None:
    """Nothing to wake (a service without a worker, as in some tests)."""


@dataclass(kw_only=True)
class JobService:
    """What a front end (Discord cog, command line) calls; it never touches SQL or HTTP.

    It also holds the front ends' shared guards: ``images`` (how many starting images decode
    at once) and ``attempts`` (who was refused too often lately; built on ``clock`` unless
    ``limiter`` is given).
    """

    store: JobStore
    credits: Credits
    settings: Settings
    clock: Callable[[], float]
    wake: Callable[[], None] = _no_worker  # tells the worker a job is queued
    policy: GuildPolicy | None = None
    images: ImageGate = field(default_factory=ImageGate)
    limiter: InitVar[RefusalLimiter | None] = None
    attempts: RefusalLimiter = field(init=False)

    def __post_init__(self, limiter: RefusalLimiter | None) -> None:
        self.attempts = limiter if limiter is not None else RefusalLimiter(self.clock)

    def cost_of(self, options: VideoOptions, surcharge: int | None = None) -> int:
        """Credits a job with these options costs (``surcharge``: the guild's, when known)."""
        if surcharge is None:
            surcharge = self.settings.watermark_surcharge
        return video_cost(options.duration, options.remove_watermark, surcharge)

    async def cost_in(self, guild_id: str, options: VideoOptions) -> int:
        """Credits a job costs in this guild (its watermark surcharge applies)."""
        if self.policy is None:
            return self.cost_of(options)
        return self.cost_of(options, await self.policy.watermark_surcharge(guild_id))

    async def precheck(self, requester: Requester, options: VideoOptions) -> None:
        """Refuse now what ``submit`` would refuse, before the front end reads or decodes anything.

        The guild's rules and the requester's credits, read only: raises PolicyRefused or
        CreditRefused. ``submit`` checks again and alone decides, atomically.
        """
        if self.policy is not None:
            await self.policy.check(requester, options)
        await self.credits.precheck(requester, await self.cost_in(requester.guild_id, options))

    async def submit(
        self,
        requester: Requester,
        options: VideoOptions,
        *,
        hold: bool = False,
        front_ref: Mapping[str, Any] | None = None,
        charge: bool = True,
    ) -> Job:
        """Check the guild's rules, reserve credits and create the job.

        Raises PolicyRefused or CreditRefused before anything is spent.

        With ``hold`` the job waits in ``accepted`` until ``release`` (the front end still has
        to post its status message or host the image); otherwise it is queued at once.
        """
        if self.policy is not None:
            await self.policy.check(requester, options)
        cost = await self.cost_in(requester.guild_id, options)
        now = self.clock()
        job = await self.credits.reserve(
            requester,
            options,
            cost,
            front_ref=front_ref,
            charge=charge,
            state=JobState.ACCEPTED if hold else JobState.QUEUED,
            next_attempt_at=now + ACCEPTED_GRACE if hold else now,
        )
        if not hold:
            self.wake()
        return job

    async def release(
        self,
        job_id: int,
        *,
        image_url: str | None = None,
        front_ref: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue a held job, adding what the front end prepared."""
        changes = JobChanges(next_attempt_at=self.clock())
        if image_url is not None:
            changes["image_url"] = image_url
        if front_ref is not None:
            changes["front_ref"] = dict(front_ref)
        released = await self.store.queue_held(job_id, changes, now=self.clock())
        if released:
            self.wake()
        return released is not None

    async def abandon(self, job_id: int, reason: str) -> bool:
        """Drop a held job that could not be prepared: refund; the front end tells the user."""
        dropped = await self.store.finish(
            job_id,
            [JobState.ACCEPTED],
            JobState.REJECTED,
            CreditState.REFUNDED,
            JobChanges(
                error_code="preparation_failed",
                error_message=reason,
                outcome_posted=True,
                next_attempt_at=None,
            ),
            now=self.clock(),
        )
        return dropped is not None

    async def get(self, job_id: int) -> Job | None:
        """The job with this id, or None (front ends act on jobs named by a button)."""
        return await self.store.get(job_id)

    async def quota(self, requester: Requester) -> QuotaStatus:
        """The requester's credits and active jobs today."""
        return await self.credits.status(requester)

    async def recent(self, requester: Requester, limit: int = 10) -> list[Job]:
        """The requester's latest jobs in this guild."""
        return await self.store.recent_for_user(requester.guild_id, requester.user_id, limit)
