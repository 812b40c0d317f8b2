"""One handler per job state. Each commits at most one transition and returns.

A step never chains into the next state's work: it commits, and the worker loop dispatches
whatever is due next (a finished poll records the result link; the download, the hand-over
to delivery and the upload are later steps). A step that cannot go on *raises*: provider,
download and delivery errors, or ``JobFailed``; ``sora_bot.engine.retry`` decides what
follows and ``sora_bot.engine.outcomes`` commits it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sora_bot.engine.claims import SlotClaims
from sora_bot.engine.delivery import Delivery
from sora_bot.engine.events import Notifier, log_event, log_transition
from sora_bot.engine.retry import JobFailed
from sora_bot.engine.schedule import ACCEPTED_GRACE, next_poll_delay
from sora_bot.infra.metrics import Metrics
from sora_bot.models import POLLING_STATES, CreditState, Job, JobState, Task, TaskStatus
from sora_bot.outcome_texts import job_outcome
from sora_bot.provider.protocol import VideoProvider
from sora_bot.settings import Settings
from sora_bot.storage.database import StorageUnavailable
from sora_bot.storage.jobs import JobChanges, JobStore

Step = Callable[[Job], Awaitable[None]]
_T = TypeVar("_T")
# A job first looked at after its deadline (the bot was down, the database unwritable, the
# next poll was due later) gets one short last look: a video the provider made is not refunded.
LAST_LOOK = 10.0


@dataclass(kw_only=True)
class Steps:
    """The work of each job state, with what it needs injected."""

    store: JobStore
    provider: VideoProvider
    delivery: Delivery
    claims: SlotClaims
    notifier: Notifier
    settings: Settings
    clock: Callable[[], float]
    metrics: Metrics
    slot_freed: Callable[[], None]  # wakes the worker loop: a queued job may take the slot
    started_at: float | None = None  # when the worker started (None: driven by run_once)
    polls: int = 0  # provider task queries made (for measurements)
    # Moved to "delivering" by this process and not yet tried: no need to look for a post.
    _fresh_deliveries: set[int] = field(default_factory=set, init=False)
    # Created at the provider while the database could not record the task id.
    _unrecorded: dict[int, Task] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._by_state: dict[JobState, Step] = {
            JobState.ACCEPTED: self.accepted,
            JobState.SUBMITTING: self.submitting,
            JobState.SUBMITTED: self.polling,
            JobState.RUNNING: self.polling,
            JobState.COMPLETED: self.completed,
            JobState.DELIVERING: self.delivering,
        }

    async def run(self, job: Job) -> None:
        """Run the step of the job's state (every final state: tell the user once)."""
        await self._by_state.get(job.state, self.ended)(job)

    # -- before the provider -------------------------------------------------------------

    async def accepted(self, job: Job) -> None:
        """A held job: wait for its front end, or drop it when the front end is gone."""
        # Held jobs from before this worker started lost their front end in a crash: drop
        # them at once rather than keeping their credits and active slot for the full grace.
        orphan = self.started_at is not None and job.created_at < self.started_at
        if orphan or self.clock() - job.created_at >= ACCEPTED_GRACE:
            raise JobFailed(
                "preparation_interrupted",
                "the request was interrupted before it was sent",
                state=JobState.REJECTED,
            )
        changes = JobChanges(next_attempt_at=job.created_at + ACCEPTED_GRACE)
        await self.store.transition(job.id, [JobState.ACCEPTED], changes=changes, now=self.clock())

    async def submitting(self, job: Job) -> None:
        """POST a job this process claimed; one found here after a crash is never resent."""
        task = self._unrecorded.pop(job.id, None)  # created, but the database refused its id
        if task is None:
            if not self.claims.take_claim(job.id):
                # We cannot know whether the provider created a task, and it has no
                # idempotency key: never resubmit (that could bill twice); refund instead.
                raise JobFailed("submit_interrupted", "the bot stopped while sending the job")
            try:
                task = await self.provider.create(
                    job.options, callback_url=self.claims.callback_url(job.id)
                )
            finally:
                self.claims.forget_token(job.id)
        try:
            await self._submitted(job, task)
        except StorageUnavailable:
            self._unrecorded[job.id] = task  # stored after the outage, never POSTed again
            raise

    async def _submitted(self, job: Job, task: Task) -> None:
        now = self.clock()
        low, high = self._poll_bounds()
        first = next_poll_delay(
            elapsed=0,
            estimate=task.estimated_time,
            progress=task.progress,
            min_interval=low,
            max_interval=high,
            polls=0,
        )
        changes = JobChanges(
            task_id=task.id,
            submitted_at=now,
            estimated_seconds=task.estimated_time,
            progress=task.progress,
            attempts=0,
            next_attempt_at=now + first,
            provider_credits=task.credits_reserved,
        )
        row = await self.store.transition(
            job.id, [JobState.SUBMITTING], JobState.SUBMITTED, changes, now=now
        )
        if row is not None and row.callback_at is not None:
            # The provider called back before its create answer was stored: look now.
            woken = JobChanges(next_attempt_at=now)
            row = await self.store.transition(job.id, POLLING_STATES, changes=woken, now=now)
        if task.credits_reserved:
            self.metrics.provider_credits.inc(task.credits_reserved)
        log_transition(
            job,
            JobState.SUBMITTED,
            task=task.id,
            provider_status=task.status,
            estimated=task.estimated_time,
            provider_credits=task.credits_reserved,
            prompt=job.prompt if self.settings.log_prompts else None,
        )
        if row is not None:
            await self.notifier.tell(row)

    # -- at the provider -----------------------------------------------------------------

    async def polling(self, job: Job) -> None:
        """Ask the provider how the task is doing; once it is done, fetch the video.

        Both are cut when the job's ``SORA_JOB_TIMEOUT`` runs out, even mid-request.
        """
        assert job.task_id is not None and job.submitted_at is not None
        if job.video_url:  # completed earlier; only the download is left
            await self._download(job)
            return
        task_id = job.task_id
        task = await self._before_timeout(job, lambda: self._query(task_id))
        if self._overdue(job) and task.status not in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            timeout = self.settings.job_timeout
            raise JobFailed("timeout", f"no result after {timeout:.0f}s")
        if task.status is TaskStatus.FAILED:
            self.metrics.task_failed(task.error_code or "unknown_error")
            raise JobFailed(task.error_code or "unknown_error", task.error_message or "")
        if task.status is TaskStatus.COMPLETED:
            if not task.results:
                raise JobFailed("generation_failed_no_content", "completed without a result link")
            # The link is recorded first; the download is the next step, due at once.
            now = self.clock()
            done = JobChanges(
                progress=100, video_url=task.results[0], attempts=0, next_attempt_at=now
            )
            await self.store.transition(job.id, POLLING_STATES, JobState.RUNNING, done, now=now)
            return
        await self._progressed(job, task)

    async def _query(self, task_id: str) -> Task:
        self.polls += 1
        self.metrics.polls.inc()
        return await self.provider.get_task(task_id)

    async def _progressed(self, job: Job, task: Task) -> None:
        assert job.submitted_at is not None
        now = self.clock()
        low, high = self._poll_bounds()
        delay = next_poll_delay(
            elapsed=now - job.submitted_at,
            estimate=job.estimated_seconds or task.estimated_time,
            progress=task.progress,
            min_interval=low,
            max_interval=high,
            polls=1,
        )
        state = JobState.RUNNING if task.status is TaskStatus.PROCESSING else job.state
        changes = JobChanges(
            progress=task.progress,
            attempts=0,
            estimated_seconds=job.estimated_seconds or task.estimated_time,
            next_attempt_at=now + delay,
        )
        row = await self.store.transition(job.id, POLLING_STATES, state, changes, now=now)
        if state != job.state:
            log_transition(job, state, task=job.task_id, provider_status=task.status)
        if row is not None and (state != job.state or task.progress != job.progress):
            await self.notifier.tell(row)

    async def _download(self, job: Job) -> None:
        url = job.video_url
        assert url is not None
        dest = self.settings.download_dir / f"job-{job.id}.mp4"
        size = await self._before_timeout(
            job,
            lambda: self.provider.download(url, dest, max_bytes=self.settings.max_download_bytes),
        )
        now = self.clock()
        changes = JobChanges(
            file_path=str(dest), file_size=size, completed_at=now, attempts=0, next_attempt_at=now
        )
        row = await self.store.transition(
            job.id, POLLING_STATES, JobState.COMPLETED, changes, now=now
        )
        log_transition(job, JobState.COMPLETED, bytes=size)
        self.slot_freed()
        if row is not None:
            await self.notifier.tell(row)

    async def _before_timeout(self, job: Job, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call()``, cut (``JobFailed("timeout")``) when the job's time runs out."""
        timeout = self.settings.job_timeout
        left = self._deadline(job) - self.clock()
        if left <= 0:
            # One last look per kind of work: the poll, then (the link found) the download.
            looked = job.updated_at >= self._deadline(job)
            if looked and (job.video_url is None or job.attempts > 0):
                raise JobFailed("timeout", f"no result after {timeout:.0f}s")
            left = LAST_LOOK
        scope = asyncio.timeout(left)
        try:
            async with scope:
                return await call()
        except TimeoutError:
            if not scope.expired():
                raise
            raise JobFailed("timeout", f"no result after {timeout:.0f}s; request cut") from None

    def _deadline(self, job: Job) -> float:
        assert job.submitted_at is not None
        return job.submitted_at + self.settings.job_timeout

    def _overdue(self, job: Job) -> bool:
        return self.clock() >= self._deadline(job)

    def _poll_bounds(self) -> tuple[float, float]:
        """Poll interval bounds; with callbacks, polling is only a slow safety net."""
        low, high = self.settings.poll_interval, self.settings.max_poll_interval
        if self.settings.callback_url:
            low = max(low, self.settings.callback_poll_interval)
            high = max(high, low)
        return low, high

    # -- after the provider ----------------------------------------------------------------

    async def completed(self, job: Job) -> None:
        """The video is on disk: commit that an upload may start (the next step does it)."""
        moved = await self.store.transition(
            job.id, [JobState.COMPLETED], JobState.DELIVERING, now=self.clock()
        )
        if moved is not None:
            self._fresh_deliveries.add(job.id)

    async def delivering(self, job: Job) -> None:
        """Post the video once: after a crash or a failed try, look for the post first."""
        assert job.file_path is not None
        if job.id in self._fresh_deliveries:
            self._fresh_deliveries.discard(job.id)
        else:
            ref = await self.delivery.find_posted(job)
            if ref is not None:  # the upload happened before a crash; only the commit was lost
                await self._delivered(job, ref)
                return
        ref = await self.delivery.deliver_video(job, Path(job.file_path))
        await self._delivered(job, ref)

    async def _delivered(self, job: Job, ref: str) -> None:
        now = self.clock()
        # Still due: the status message is edited to "done" by the next step (``ended``).
        changes = JobChanges(delivery_ref=ref, outcome_posted=True, attempts=0, next_attempt_at=now)
        await self.store.finish(
            job.id, [JobState.DELIVERING], JobState.DELIVERED, CreditState.SETTLED, changes, now=now
        )
        self.metrics.delivered(waited=now - job.created_at, credits=job.cost)
        log_transition(job, JobState.DELIVERED, ref=ref)

    async def ended(self, job: Job) -> None:
        """Tell the user how a job ended (once, even across a crash), then show it on the
        status message: the outcome is committed first, the final edit is the next step."""
        if job.outcome_posted:
            await self._show_final_status(job)
            return
        # A crash between posting and this commit must not post the message twice.
        ref = await self.delivery.find_posted(job)
        if ref is None:
            ref = await self.delivery.deliver_failure(job, job_outcome(job))
        now = self.clock()
        changes = JobChanges(outcome_posted=True, delivery_ref=ref, attempts=0, next_attempt_at=now)
        await self.store.transition(job.id, None, changes=changes, now=now)

    async def _show_final_status(self, job: Job) -> None:
        # Until this lands the job stays due (``next_attempt_at``), so a restart, a rate limit
        # or an outage only delays it; a failure raises and the retry policy backs off.
        if not await self.delivery.show_final_status(job):
            log_event(job, "status message gone; final state not shown")
        changes = JobChanges(attempts=0, next_attempt_at=None)
        await self.store.transition(job.id, [job.state], changes=changes, now=self.clock())
