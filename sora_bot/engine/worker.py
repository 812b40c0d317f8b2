"""The background service that moves every unfinished job forward, resuming after restarts.

The schedule lives in the database (``jobs.next_attempt_at``), so a restart needs no
re-arming: the loop simply finds every due job again. Each job is handled by at most one
task at a time; its step (``sora_bot.engine.steps``) commits one transition and returns,
and the loop dispatches whatever is due next. A step that raises is ended here, in one
place: ``RetryPolicy`` decides, ``Endings`` commits. A database that cannot be written
ends nothing: it pauses the whole loop (``StorageOutage``) until it can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable

from sora_bot.engine.claims import SlotClaims
from sora_bot.engine.delivery import Delivery, DeliveryError
from sora_bot.engine.events import Notifier, job_fields
from sora_bot.engine.outage import StorageOutage
from sora_bot.engine.outcomes import Endings
from sora_bot.engine.retry import MAX_UNEXPECTED_FAILURES, JobFailed, RetryPolicy
from sora_bot.engine.steps import Steps
from sora_bot.infra.metrics import Metrics
from sora_bot.models import POLLING_STATES, Job, JobState
from sora_bot.provider.errors import ProviderError
from sora_bot.provider.protocol import VideoProvider
from sora_bot.settings import Settings
from sora_bot.storage.database import StorageUnavailable
from sora_bot.storage.jobs import JobChanges, JobStore

log = logging.getLogger(__name__)

QUEUE_RECHECK = 5.0  # seconds between looks at a full queue (freed slots wake it sooner)
# What a step raises on purpose: the retry policy decides; anything else is a bug.
EXPECTED_ERRORS = (ProviderError, DeliveryError, JobFailed)


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
        self.settings = settings
        self.clock = clock
        self.max_steps = max_steps  # job steps in progress at once (each mostly awaits I/O)
        self.metrics = metrics or Metrics(clock)
        notifier = Notifier(delivery)
        self.claims = SlotClaims(store, settings, notifier, clock)
        self.steps = Steps(
            store=store,
            provider=provider,
            delivery=delivery,
            claims=self.claims,
            notifier=notifier,
            settings=settings,
            clock=clock,
            metrics=self.metrics,
            slot_freed=self.wake,
        )
        self.retry = RetryPolicy(base=settings.poll_interval, cap=settings.max_poll_interval * 5)
        self.endings = Endings(store, clock, slot_freed=self.wake)
        self.outage = StorageOutage(store.db.probe_writable)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._crashes: dict[int, int] = {}  # consecutive unexpected errors per job
        self._rewake: set[int] = set()  # called back while a step was running
        self._stopped = False
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def polls(self) -> int:
        """Provider task queries made by this worker (for measurements)."""
        return self.steps.polls

    def start(self) -> None:
        """Start the loop; it first resumes every unfinished job found in the database."""
        if self._stopped:  # a shutdown came first (e.g. a signal during start-up)
            return
        self.steps.started_at = self.clock()
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="sora-worker")

    def wake(self) -> None:
        """Look for due jobs now (a job was queued, a slot freed, or a callback arrived)."""
        self._wake.set()

    def wake_job(self, job_id: int) -> None:
        """A callback brought this job forward: run its step now, or again right after."""
        if job_id in self._running:
            self._rewake.add(job_id)
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking new steps; give running ones ``grace`` seconds, then cancel them.

        Every state is committed before its side effect, so a cancelled step is resumed
        (or, for an interrupted submission, refunded) at the next start.
        """
        self._stopped = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            # wait(), not ``await task`` under suppress(CancelledError): a cancel of stop()
            # itself must go on to its caller rather than be taken for the loop's.
            await asyncio.wait([self._loop_task])
            self._loop_task = None
        tasks = list(self._running.values())
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run_once(self) -> int:
        """Run every step due now once (measurements and tests); returns how many ran.

        A step hands over to the next by making it due at once, so a caller that wants a
        job's whole route calls this until nothing is due.
        """
        jobs = {j.id: j for j in await self.claims.claim()}
        for job in await self.store.due(self.clock(), self.max_steps, exclude=self._running):
            jobs.setdefault(job.id, job)  # a claimed job is also due: run it once
        await asyncio.gather(*(self._guarded_step(j) for j in jobs.values()))
        return len(jobs)

    async def _loop(self) -> None:
        resumed = False
        while not self._stopped:
            # No step while the database cannot record its outcome: backing off here is
            # what keeps provider polls and log lines bounded through an outage.
            await self.outage.wait_until_writable()
            # Cleared before the pass, not after: a step that finishes (or a job queued)
            # while the pass reads the schedule must still wake the next one at once.
            self._wake.clear()
            try:
                if not resumed:
                    await self.store.make_due(
                        JobState.ACCEPTED,
                        created_before=self.steps.started_at or 0.0,
                        now=self.clock(),
                    )
                    resumed = True
                await self._dispatch_due()
                delay = await self._idle_delay()
            except StorageUnavailable as exc:
                self.outage.began(exc)
                continue
            except Exception:  # the loop must outlive any single failure (database hiccup…)
                log.exception("worker loop iteration failed")
                delay = 5.0
            # asyncio.timeout, not wait_for: on 3.11 wait_for returns when the wake and a
            # cancel arrive together, and the lost cancel left stop() waiting forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _dispatch_due(self) -> None:
        jobs = await self.claims.claim()
        room = self.max_steps - len(self._running) - len(jobs)
        if room > 0:
            jobs += await self.store.due(self.clock(), room, exclude=self._running)
        for job in jobs:
            if self.outage.active:  # a step found the database unwritable during this pass
                break  # a job claimed here stays due in "submitting" and runs after it
            if job.id not in self._running:
                task = asyncio.create_task(self._guarded_step(job), name=f"sora-job-{job.id}")
                self._running[job.id] = task
                task.add_done_callback(functools.partial(self._step_done, job.id))

    def _step_done(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()  # the job's next step may be due at once, and a slot may be free

    async def _idle_delay(self) -> float:
        # Due jobs already being handled, freed slots and new jobs all wake the loop early;
        # queued jobs are re-checked now and then in case a retry wait has passed.
        ceiling = QUEUE_RECHECK if self.claims.queue_waiting else 60.0
        if len(self._running) >= self.max_steps:
            return ceiling  # every finished step wakes the loop
        # A requeued job (provider busy) may go at its retry time: claims saw a slot free.
        times = [self.claims.retry_at, await self.store.next_due_at(exclude=self._running)]
        next_at = min((t for t in times if t is not None), default=None)
        if next_at is None:
            return ceiling
        return min(ceiling, max(0.05, next_at - self.clock()))

    async def _guarded_step(self, job: Job) -> None:
        try:
            await self._step(job)
        except StorageUnavailable as exc:
            # The step's write (or its ending's) was refused: the job stays as last committed
            # and runs again after the outage. Not a crash: it must never end the job.
            self.outage.began(exc)

    async def _step(self, job: Job) -> None:
        try:
            await self.steps.run(job)
        except (asyncio.CancelledError, StorageUnavailable):
            raise
        except EXPECTED_ERRORS as exc:
            self._crashes.pop(job.id, None)
            await self.endings.apply(job, self.retry.decide(job, exc, self.clock()), exc)
        except Exception as exc:
            await self._after_crash(job, exc)
        else:
            self._crashes.pop(job.id, None)
        if job.id in self._rewake:  # a callback arrived while this step ran: look again now
            self._rewake.discard(job.id)
            changes = JobChanges(next_attempt_at=self.clock())
            await self.store.transition(job.id, POLLING_STATES, changes=changes, now=self.clock())

    async def _after_crash(self, job: Job, exc: Exception) -> None:
        log.exception("unexpected error in a job step", extra={"fields": job_fields(job)})
        crashes = self._crashes[job.id] = self._crashes.get(job.id, 0) + 1
        if crashes >= MAX_UNEXPECTED_FAILURES:
            self._crashes.pop(job.id, None)
        # The step may have moved the job on before it raised: act on the row as it is.
        current = await self.store.get(job.id)
        if current is None:
            return
        decision = self.retry.after_crash(current, exc, self.clock(), crashes)
        if decision is not None:
            await self.endings.apply(current, decision, None)
