"""The background service that moves every unfinished job forward, resuming after restarts.

The schedule lives in the database (``jobs.next_attempt_at``), so a restart needs no
re-arming: the loop simply finds every due job again. Each job is handled by at most one
task at a time; each step ends with a committed state before the next side effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sora_bot import outcome_texts as messages
from sora_bot.engine.delivery import Delivery, DeliveryError
from sora_bot.engine.schedule import next_poll_delay, retry_delay
from sora_bot.errors import (
    AuthenticationFailed,
    DownloadError,
    InsufficientQuota,
    NotFound,
    PermissionDenied,
    ProviderError,
    SoraAPIError,
    SubmissionUncertain,
)
from sora_bot.infra.logs import event
from sora_bot.infra.metrics import Metrics
from sora_bot.models import JobState, TaskStatus
from sora_bot.provider.protocol import VideoProvider
from sora_bot.settings import Settings
from sora_bot.storage.jobs import IN_FLIGHT_STATES, Job, JobStore

log = logging.getLogger(__name__)

POLLING = (JobState.SUBMITTED, JobState.RUNNING)
ACCEPTED_GRACE = 300.0  # seconds a front end may take to prepare a held job before it is dropped
LINK_LIFETIME = 23 * 3600.0  # result links die after 24 h; stop retrying a download before that
POST_RETRY_WINDOW = 6 * 3600.0  # seconds to keep retrying a post through a Discord outage
MAX_SUBMIT_REQUEUES = 8  # a busy provider: tries (each with client retries) before refusing;
# counted, not timed, so time spent waiting in the queue never cuts them short
MAX_UNEXPECTED_FAILURES = 5  # a step that keeps raising a bug ends its job instead of looping
MAX_DOWNLOAD_ATTEMPTS = 8
QUEUE_RECHECK = 5.0  # seconds between looks at a full queue (freed slots wake it sooner)


class Worker:
    """Polls, downloads and delivers every unfinished job."""

    def __init__(
        self,
        *,
        store: JobStore,
        provider: VideoProvider,
        delivery: Delivery,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        max_steps: int = 64,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.delivery = delivery
        self.settings = settings
        self.clock = clock
        self.max_steps = max_steps  # job steps in progress at once (each mostly awaits I/O)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._claimed: set[int] = set()  # moved to "submitting" by this process
        self._crashes: dict[int, int] = {}  # consecutive unexpected errors per job
        self._stopped = False
        self._started_at: float | None = None  # when start() ran (None: driven by run_once)
        self._positions: dict[int, int] = {}  # last queue place told to each queued job
        self._loop_task: asyncio.Task[None] | None = None
        self._polls = 0
        self.metrics = metrics or Metrics(clock)
        self._callback_tokens: dict[int, str] = {}  # plaintext, only between claim and POST
        self._rewake: set[int] = set()  # called back while a step was running

    @property
    def polls(self) -> int:
        """Provider task queries made by this worker (for measurements)."""
        return self._polls

    def start(self) -> None:
        """Start the loop; it first resumes every unfinished job found in the database."""
        if self._stopped:  # a shutdown came first (e.g. a signal during start-up)
            return
        self._started_at = self.clock()
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="sora-worker")

    def wake(self) -> None:
        """Look for due jobs now (a job was queued, or a callback arrived)."""
        self._wake.set()

    def wake_job(self, job_id: int) -> None:
        """A callback brought this job forward: run its step now, or again right after."""
        if job_id in self._running:
            self._rewake.add(job_id)
        self._wake.set()

    def callback_url(self, job_id: int) -> str | None:
        """The URL the provider is given for this job (None: callbacks are off)."""
        token = self._callback_tokens.get(job_id)
        base = self.settings.callback_url
        return f"{base}/{token}" if token and base else None

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking new steps; give running ones ``grace`` seconds, then cancel them.

        Every state is committed before its side effect, so a cancelled step is resumed
        (or, for an interrupted submission, refunded) at the next start.
        """
        self._stopped = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        tasks = list(self._running.values())
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run_once(self) -> int:
        """Run every due step to its end (measurements and tests); returns how many ran."""
        jobs = {j.id: j for j in await self._claim_slots()}
        for job in await self.store.due(self.clock(), self.max_steps, exclude=self._running):
            jobs.setdefault(job.id, job)  # a claimed job is also due: run it once
        await asyncio.gather(*(self._guarded_step(j) for j in jobs.values()))
        return len(jobs)

    async def _loop(self) -> None:
        await self.store.make_due(
            JobState.ACCEPTED, created_before=self._started_at or 0.0, now=self.clock()
        )
        while True:
            try:
                await self._dispatch_due()
                delay = await self._idle_delay()
            except Exception:  # the loop must outlive any single failure (database hiccup…)
                log.exception("worker loop iteration failed")
                delay = 5.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _dispatch_due(self) -> None:
        jobs = await self._claim_slots()
        room = self.max_steps - len(self._running) - len(jobs)
        if room > 0:
            jobs += await self.store.due(self.clock(), room, exclude=self._running)
        for job in jobs:
            if job.id not in self._running:
                task = asyncio.create_task(self._guarded_step(job), name=f"sora-job-{job.id}")
                self._running[job.id] = task
                task.add_done_callback(functools.partial(self._step_done, job.id))

    async def _claim_slots(self) -> list[Job]:
        """Move queued jobs into free provider slots (fair order); tell the rest their place."""
        queue = await self.store.fair_queue()
        if not queue:
            self._positions = {}
            return []
        free = self.settings.max_inflight_jobs - await self.store.count_in_flight()
        now = self.clock()
        claimed: list[Job] = []
        for job in queue:
            if len(claimed) >= free:
                break
            if job.next_attempt_at is not None and job.next_attempt_at > now:
                continue  # waiting out a provider retry; keeps its place
            token = secrets.token_urlsafe(32) if self.settings.callback_url else None
            # Committed before the POST: a crash from here on is an interrupted submit.
            # Only the token's hash is stored; a restarted process never POSTs this job.
            if await self.store.update(
                job.id,
                expect=[JobState.QUEUED],
                now=now,
                state=JobState.SUBMITTING,
                next_attempt_at=now,
                callback_hash=token_hash(token) if token else None,
                callback_at=None,
            ):
                claimed.append(replace(job, state=JobState.SUBMITTING, next_attempt_at=now))
                self._claimed.add(job.id)
                if token:
                    self._callback_tokens[job.id] = token
                self._transition(job, JobState.SUBMITTING)
        taken = {job.id for job in claimed}
        await self._announce_positions([job for job in queue if job.id not in taken])
        return claimed

    async def _announce_positions(self, queue: list[Job]) -> None:
        positions = {job.id: place for place, job in enumerate(queue, start=1)}
        for job in queue:
            if self._positions.get(job.id) != positions[job.id]:
                await self._tell(job, queue_position=positions[job.id])
        self._positions = positions

    def _step_done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    async def _idle_delay(self) -> float:
        # Due jobs already being handled, freed slots and new jobs all wake the loop early;
        # queued jobs are re-checked now and then in case a retry wait has passed.
        ceiling = QUEUE_RECHECK if self._positions else 60.0
        if len(self._running) >= self.max_steps:
            return ceiling  # every finished step wakes the loop
        slot_free = bool(self._positions) and (
            await self.store.count_in_flight() < self.settings.max_inflight_jobs
        )
        # A requeued job (provider busy) is due at its retry time when a slot is free.
        next_at = await self.store.next_due_at(queued=slot_free, exclude=self._running)
        if next_at is None:
            return ceiling
        return min(ceiling, max(0.05, next_at - self.clock()))

    async def _guarded_step(self, job: Job) -> None:
        try:
            await self._step(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("unexpected error in a job step", extra=_fields(job, wrap=True))
            crashes = self._crashes[job.id] = self._crashes.get(job.id, 0) + 1
            # The step may have moved the job on before it raised: act on the row as it is.
            current = await self.store.get(job.id)
            if current is not None and crashes >= MAX_UNEXPECTED_FAILURES:
                self._crashes.pop(job.id, None)
                await self._give_up(current, exc)
            elif current is not None and not (current.state.terminal and current.outcome_posted):
                await self._retry_later(current, None)
        else:
            self._crashes.pop(job.id, None)
        if job.id in self._rewake:  # a callback arrived while this step ran: look again now
            self._rewake.discard(job.id)
            await self.store.update(
                job.id, expect=POLLING, now=self.clock(), next_attempt_at=self.clock()
            )

    async def _step(self, job: Job) -> None:
        handler = {
            JobState.ACCEPTED: self._expire_accepted,
            JobState.SUBMITTING: self._submit_or_recover,
            JobState.SUBMITTED: self._poll,
            JobState.RUNNING: self._poll,
            JobState.COMPLETED: self._deliver,
            JobState.DELIVERING: self._deliver,
        }.get(job.state, self._post_outcome)
        await handler(job)

    # -- submission ----------------------------------------------------------------------

    async def _expire_accepted(self, job: Job) -> None:
        # Held jobs from before this worker started lost their front end in a crash: drop
        # them at once rather than keeping their credits and active slot for the full grace.
        orphan = self._started_at is not None and job.created_at < self._started_at
        if not orphan and self.clock() - job.created_at < ACCEPTED_GRACE:
            await self.store.update(
                job.id,
                expect=[JobState.ACCEPTED],
                now=self.clock(),
                next_attempt_at=job.created_at + ACCEPTED_GRACE,
            )
            return
        await self._fail(
            job,
            JobState.REJECTED,
            "preparation_interrupted",
            "the request was interrupted before it was sent",
            expect=[JobState.ACCEPTED],
        )

    async def _submit(self, job: Job) -> None:
        """POST a job that ``_claim_slots`` moved to ``submitting``."""
        try:
            task = await self.provider.create(job.options, callback_url=self.callback_url(job.id))
        except SubmissionUncertain as exc:
            await self._fail(
                job, JobState.FAILED, "submit_uncertain", str(exc), expect=[JobState.SUBMITTING]
            )
            return
        except SoraAPIError as exc:
            if exc.retryable and job.attempts < MAX_SUBMIT_REQUEUES:
                await self._requeue(job, exc)
                return
            if _operator_problem(exc):
                event(
                    log,
                    logging.ERROR,
                    "provider refused the bot's account; admin action needed",
                    **_fields(job),
                    status=exc.status,
                    error_type=exc.type,
                )
            await self._fail(
                job,
                JobState.REJECTED,
                f"http_{exc.status}",
                exc.message or str(exc),
                expect=[JobState.SUBMITTING],
            )
            return
        except ProviderError as exc:  # transport trouble before anything was sent
            if job.attempts < MAX_SUBMIT_REQUEUES:
                await self._requeue(job, exc)
                return
            await self._fail(
                job,
                JobState.REJECTED,
                "provider_unavailable",
                str(exc),
                expect=[JobState.SUBMITTING],
            )
            return
        finally:
            self._callback_tokens.pop(job.id, None)
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
        await self.store.update(
            job.id,
            expect=[JobState.SUBMITTING],
            now=now,
            state=JobState.SUBMITTED,
            task_id=task.id,
            submitted_at=now,
            estimated_seconds=task.estimated_time,
            progress=task.progress,
            attempts=0,
            next_attempt_at=now + first,
            provider_credits=task.credits_reserved,
        )
        if (await self.store.require(job.id)).callback_at is not None:
            # The provider called back before its create answer was stored: look now.
            await self.store.update(job.id, expect=POLLING, now=now, next_attempt_at=now)
        if task.credits_reserved:
            self.metrics.provider_credits.inc(task.credits_reserved)
        self._transition(
            job,
            JobState.SUBMITTED,
            task=task.id,
            provider_status=task.status,
            estimated=task.estimated_time,
            provider_credits=task.credits_reserved,
            prompt=job.prompt if self.settings.log_prompts else None,
        )
        await self._notify(job.id)

    async def _requeue(self, job: Job, exc: Exception) -> None:
        wait = self._backoff(job.attempts + 1, exc)
        event(
            log,
            logging.WARNING,
            "provider busy; submit retried later",
            **_fields(job),
            error=exc,
            retry_in=round(wait, 1),
        )
        await self.store.update(
            job.id,
            expect=[JobState.SUBMITTING],
            now=self.clock(),
            state=JobState.QUEUED,
            attempts=job.attempts + 1,
            next_attempt_at=self.clock() + wait,
        )

    async def _submit_or_recover(self, job: Job) -> None:
        if job.id in self._claimed:
            self._claimed.discard(job.id)
            await self._submit(job)
        else:  # found in "submitting" without having claimed it: left by a crash
            await self._interrupted_submit(job)

    async def _interrupted_submit(self, job: Job) -> None:
        # We cannot know whether the provider created a task, and it has no idempotency key:
        # never resubmit (that could bill twice); refund and tell the user to try again.
        await self._fail(
            job,
            JobState.FAILED,
            "submit_interrupted",
            "the bot stopped while sending the job",
            expect=[JobState.SUBMITTING],
        )

    # -- polling and download ------------------------------------------------------------

    async def _poll(self, job: Job) -> None:
        assert job.task_id is not None and job.submitted_at is not None
        if job.video_url:  # completed earlier; only the download is left
            await self._download(job)
            return
        if self.clock() - job.submitted_at > self.settings.job_timeout:
            await self._fail(
                job,
                JobState.FAILED,
                "timeout",
                f"no result after {self.settings.job_timeout:.0f}s",
                expect=POLLING,
            )
            return
        try:
            self._polls += 1
            self.metrics.polls.inc()
            task = await self.provider.get_task(job.task_id)
        except NotFound:
            await self._fail(
                job,
                JobState.FAILED,
                "resource_not_found",
                "the provider no longer knows this task",
                expect=POLLING,
            )
            return
        except ProviderError as exc:
            await self._retry_later(job, exc)
            return
        now = self.clock()
        if task.status is TaskStatus.FAILED:
            self.metrics.task_failed(task.error_code or "unknown_error")
            await self._fail(
                job,
                JobState.FAILED,
                task.error_code or "unknown_error",
                task.error_message or "",
                expect=POLLING,
            )
            return
        if task.status is TaskStatus.COMPLETED:
            if not task.results:
                await self._fail(
                    job,
                    JobState.FAILED,
                    "generation_failed_no_content",
                    "completed without a result link",
                    expect=POLLING,
                )
                return
            await self.store.update(
                job.id,
                expect=POLLING,
                now=now,
                state=JobState.RUNNING,
                progress=100,
                video_url=task.results[0],
                attempts=0,
            )
            await self._download(await self.store.require(job.id))
            return
        elapsed = now - job.submitted_at
        low, high = self._poll_bounds()
        delay = next_poll_delay(
            elapsed=elapsed,
            estimate=job.estimated_seconds or task.estimated_time,
            progress=task.progress,
            min_interval=low,
            max_interval=high,
            polls=1,
        )
        state = JobState.RUNNING if task.status is TaskStatus.PROCESSING else job.state
        changed = state != job.state or task.progress != job.progress
        await self.store.update(
            job.id,
            expect=POLLING,
            now=now,
            state=state,
            progress=task.progress,
            attempts=0,
            estimated_seconds=job.estimated_seconds or task.estimated_time,
            next_attempt_at=now + delay,
        )
        if state != job.state:
            self._transition(job, state, task=job.task_id, provider_status=task.status)
        if changed:  # the row as just written, without reading it back (hot path)
            await self._tell(
                replace(
                    job,
                    state=state,
                    progress=task.progress,
                    attempts=0,
                    updated_at=now,
                    next_attempt_at=now + delay,
                )
            )

    def _poll_bounds(self) -> tuple[float, float]:
        """Poll interval bounds; with callbacks, polling is only a slow safety net."""
        low, high = self.settings.poll_interval, self.settings.max_poll_interval
        if self.settings.callback_url:
            low = max(low, self.settings.callback_poll_interval)
            high = max(high, low)
        return low, high

    async def _download(self, job: Job) -> None:
        assert job.video_url is not None
        dest = self.settings.download_dir / f"job-{job.id}.mp4"
        try:
            size = await self.provider.download(
                job.video_url, dest, max_bytes=self.settings.max_download_bytes
            )
        except DownloadError as exc:
            link_alive = self.clock() - (job.submitted_at or job.created_at) < LINK_LIFETIME
            # A full or unwritable disk is the operator's to fix: keep the job until the link
            # dies. A flaky transfer gets a bounded number of tries.
            worth_retry = exc.kind == "disk" or (
                exc.retryable and job.attempts < MAX_DOWNLOAD_ATTEMPTS
            )
            if worth_retry and link_alive:
                await self._retry_later(job, exc)
                return
            await self._fail(job, JobState.FAILED, f"download_{exc.kind}", str(exc), expect=POLLING)
            return
        now = self.clock()
        await self.store.update(
            job.id,
            expect=POLLING,
            now=now,
            state=JobState.COMPLETED,
            file_path=str(dest),
            file_size=size,
            completed_at=now,
            attempts=0,
            next_attempt_at=now,
        )
        self._transition(job, JobState.COMPLETED, bytes=size)
        self._slot_freed()
        await self._notify(job.id)
        await self._deliver(await self.store.require(job.id))

    # -- delivery ------------------------------------------------------------------------

    async def _deliver(self, job: Job) -> None:
        assert job.file_path is not None
        if job.state is JobState.DELIVERING:
            ref = await self.delivery.find_posted(job)
            if ref is not None:  # the upload happened before a crash; only the commit was lost
                await self._settle_delivered(job, ref)
                return
        elif not await self.store.update(
            job.id, expect=[JobState.COMPLETED], now=self.clock(), state=JobState.DELIVERING
        ):
            return
        job = await self.store.require(job.id)
        assert job.file_path is not None
        try:
            ref = await self.delivery.deliver_video(job, Path(job.file_path))
        except DeliveryError as exc:
            if exc.retryable and self._still_worth_posting(job, job.completed_at):
                await self._retry_later(job, exc)
                return
            self._transition(job, JobState.UNDELIVERABLE, level=logging.WARNING, error=exc)
            await self.store.finish(
                job.id,
                expect=[JobState.DELIVERING],
                state=JobState.UNDELIVERABLE,
                credits="settled",
                now=self.clock(),
                error_code="undeliverable",
                error_message=str(exc),
                attempts=0,
                next_attempt_at=self.clock(),
            )
            return
        await self._settle_delivered(job, ref)

    async def _settle_delivered(self, job: Job, ref: str) -> None:
        await self.store.finish(
            job.id,
            expect=[JobState.DELIVERING],
            state=JobState.DELIVERED,
            credits="settled",
            now=self.clock(),
            delivery_ref=ref,
            outcome_posted=1,
            next_attempt_at=None,
        )
        self.metrics.delivered(waited=self.clock() - job.created_at, credits=job.cost)
        self._transition(job, JobState.DELIVERED, ref=ref)

    async def _post_outcome(self, job: Job) -> None:
        """Tell the user how a job without a video ended (terminal state, not yet posted)."""
        if job.outcome_posted:
            await self.store.update(job.id, now=self.clock(), next_attempt_at=None)
            return
        try:
            # A crash between posting and this commit must not post the message twice.
            ref = await self.delivery.find_posted(job)
            if ref is None:
                ref = await self.delivery.deliver_failure(job, messages.job_outcome(job))
        except DeliveryError as exc:
            if exc.retryable and self._still_worth_posting(job, job.finished_at):
                await self._retry_later(job, exc)
                return
            event(log, logging.WARNING, "outcome could not be posted", **_fields(job), error=exc)
            ref = None
        await self.store.update(
            job.id, now=self.clock(), outcome_posted=1, delivery_ref=ref, next_attempt_at=None
        )

    def _still_worth_posting(self, job: Job, since: float | None) -> bool:
        # Time, not a count: a Discord outage of an hour must not turn videos undeliverable.
        return self.clock() - (since or job.updated_at) < POST_RETRY_WINDOW

    async def _give_up(self, job: Job, error: Exception) -> None:
        """End a job whose step keeps failing on a bug: refund if no video, keep the file."""
        detail = f"internal error: {type(error).__name__}"
        if job.state in (JobState.COMPLETED, JobState.DELIVERING):
            await self.store.finish(
                job.id,
                expect=[job.state],
                state=JobState.UNDELIVERABLE,
                credits="settled",
                now=self.clock(),
                error_code="undeliverable",
                error_message=detail,
                attempts=0,
                next_attempt_at=self.clock(),
            )
        elif job.state.terminal:  # only the outcome message was left: stop trying
            await self.store.update(
                job.id, now=self.clock(), outcome_posted=1, next_attempt_at=None
            )
        else:
            state = JobState.REJECTED if job.task_id is None else JobState.FAILED
            await self._fail(job, state, "internal_error", detail, expect=[job.state])

    # -- shared ----------------------------------------------------------------------------

    async def _fail(
        self,
        job: Job,
        state: JobState,
        code: str,
        detail: str,
        *,
        expect: tuple[JobState, ...] | list[JobState],
    ) -> None:
        """End a job without a video: refund, then post the mapped message."""
        if not await self.store.finish(
            job.id,
            expect=expect,
            state=state,
            credits="refunded",
            now=self.clock(),
            error_code=code,
            error_message=detail[:2000],
            attempts=0,
            next_attempt_at=self.clock(),
        ):
            return
        self._transition(job, state, code=code)
        if job.state in IN_FLIGHT_STATES:
            self._slot_freed()
        await self._post_outcome(await self.store.require(job.id))

    def _slot_freed(self) -> None:
        self.wake()

    async def _retry_later(self, job: Job, exc: Exception | None) -> None:
        wait = self._backoff(job.attempts + 1, exc)
        if exc is not None:
            event(
                log,
                logging.ERROR if _operator_problem(exc) else logging.WARNING,
                "step failed; retrying",
                **_fields(job),
                error=exc,
                retry_in=round(wait, 1),
            )
        await self.store.update(
            job.id, now=self.clock(), attempts=job.attempts + 1, next_attempt_at=self.clock() + wait
        )

    def _backoff(self, attempts: int, exc: Exception | None) -> float:
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            return float(retry_after)
        return retry_delay(
            attempts, base=self.settings.poll_interval, cap=self.settings.max_poll_interval * 5
        )

    async def _notify(self, job_id: int, *, queue_position: int | None = None) -> None:
        job = await self.store.get(job_id)
        if job is not None:
            await self._tell(job, queue_position=queue_position)

    async def _tell(self, job: Job, *, queue_position: int | None = None) -> None:
        try:
            await self.delivery.job_updated(job, queue_position=queue_position)
        except Exception:  # progress display is cosmetic; never let it stop the job
            log.exception("progress update failed", extra=_fields(job, wrap=True))

    def _transition(
        self, job: Job, state: JobState, *, level: int = logging.INFO, **fields: object
    ) -> None:
        """One log line per state change, with who asked and the provider's view."""
        merged = {**_fields(job), "previous": job.state, "state": state, **fields}
        event(log, level, "job state", **merged)


def token_hash(token: str) -> str:
    """What the database keeps of a callback token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _fields(job: Job, *, wrap: bool = False) -> dict[str, object]:
    """The ids every job log line carries (wrapped for ``extra=`` when ``wrap``)."""
    fields: dict[str, object] = {
        "job": job.id,
        "guild": job.guild_id,
        "user": job.user_id,
        "state": job.state,
    }
    return {"fields": fields} if wrap else fields


def _operator_problem(exc: Exception) -> bool:
    """Key refused, account out of credit, model not allowed: only the operator can fix it."""
    return isinstance(exc, AuthenticationFailed | InsufficientQuota | PermissionDenied)
