"""Applies the ending a step's failure led to: one committed write each, then a log line.

The decision itself is made in ``sora_bot.engine.retry``; here it becomes a conditional
write, so two paths racing to end the same job cannot both refund or both settle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sora_bot.engine.events import log_event, log_transition, operator_problem
from sora_bot.engine.retry import Decision, Fail, Requeue, Retry, StopPosting, Undeliverable
from sora_bot.models import IN_FLIGHT_STATES, CreditState, Job, JobState
from sora_bot.storage.jobs import JobChanges, JobStore


class Endings:
    """Turns decisions into transitions of the job store."""

    def __init__(
        self, store: JobStore, clock: Callable[[], float], slot_freed: Callable[[], None]
    ) -> None:
        self.store = store
        self.clock = clock
        self.slot_freed = slot_freed  # wakes the loop: a queued job may take the slot

    async def apply(self, job: Job, decision: Decision, error: Exception | None) -> None:
        """Commit ``decision`` for ``job`` (as it was when its step started)."""
        match decision:
            case Requeue():  # before Retry: a requeue is a retry from the queue
                await self._requeue(job, decision, error)
            case Retry():
                await self._retry(job, decision, error)
            case Fail():
                await self._fail(job, decision, error)
            case Undeliverable():
                await self._undeliverable(job, decision)
            case StopPosting():
                await self._stop_posting(job, error)

    async def _retry(self, job: Job, decision: Retry, error: Exception | None) -> None:
        now = self.clock()
        if error is not None:
            log_event(
                job,
                "step failed; retrying",
                level=logging.ERROR if operator_problem(error) else logging.WARNING,
                error=error,
                retry_in=round(decision.at - now, 1),
            )
        changes = JobChanges(attempts=decision.attempts, next_attempt_at=decision.at)
        await self.store.transition(job.id, None, changes=changes, now=now)

    async def _requeue(self, job: Job, decision: Requeue, error: Exception | None) -> None:
        now = self.clock()
        log_event(
            job,
            "provider busy; submit retried later",
            level=logging.WARNING,
            error=error,
            retry_in=round(decision.at - now, 1),
        )
        changes = JobChanges(attempts=decision.attempts, next_attempt_at=decision.at)
        await self.store.transition(
            job.id, [JobState.SUBMITTING], JobState.QUEUED, changes, now=now
        )

    async def _fail(self, job: Job, decision: Fail, error: Exception | None) -> None:
        if job.state is JobState.SUBMITTING and operator_problem(error):
            status = getattr(error, "status", None)
            kind = getattr(error, "type", None)
            log_event(
                job,
                "provider refused the bot's account; admin action needed",
                level=logging.ERROR,
                status=status,
                error_type=kind,
            )
        ended = await self._finish(
            job,
            decision.state,
            CreditState.REFUNDED,
            error_code=decision.code,
            error_message=decision.detail[:2000],
        )
        if ended is not None:
            log_transition(job, decision.state, code=decision.code)
            if job.state in IN_FLIGHT_STATES:
                self.slot_freed()

    async def _undeliverable(self, job: Job, decision: Undeliverable) -> None:
        log_transition(job, JobState.UNDELIVERABLE, level=logging.WARNING, error=decision.detail)
        await self._finish(
            job,
            JobState.UNDELIVERABLE,
            CreditState.SETTLED,
            error_code="undeliverable",
            error_message=decision.detail,
        )

    async def _stop_posting(self, job: Job, error: Exception | None) -> None:
        if error is not None:
            log_event(job, "outcome could not be posted", level=logging.WARNING, error=error)
        changes = JobChanges(outcome_posted=True, next_attempt_at=None)
        await self.store.transition(job.id, None, changes=changes, now=self.clock())

    async def _finish(
        self,
        job: Job,
        state: JobState,
        credits: CreditState,
        *,
        error_code: str,
        error_message: str,
    ) -> Job | None:
        # Due at once: the next step tells the user how the job ended.
        now = self.clock()
        changes = JobChanges(
            error_code=error_code, error_message=error_message, attempts=0, next_attempt_at=now
        )
        return await self.store.finish(job.id, [job.state], state, credits, changes, now=now)
