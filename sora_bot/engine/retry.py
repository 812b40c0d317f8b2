"""The one place that decides what a failed step leads to: retry, requeue, or an ending.

Pure: from the job as it was when its step started, the error the step raised and the time,
never from I/O. The worker applies the decision (``sora_bot.engine.outcomes``). Shaped like
procrastinate's ``RetryStrategy.get_retry_decision`` and arq's ``Retry(defer=…)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sora_bot.engine.delivery import DeliveryError
from sora_bot.engine.schedule import retry_delay
from sora_bot.models import Job, JobState
from sora_bot.provider.errors import (
    DownloadError,
    NotFound,
    ProviderError,
    SoraAPIError,
    SubmissionUncertain,
)

LINK_LIFETIME = 23 * 3600.0  # result links die after 24 h; stop retrying a download before that
POST_RETRY_WINDOW = 6 * 3600.0  # seconds to keep retrying a post through a Discord outage
MAX_SUBMIT_REQUEUES = 8  # a busy provider: tries (each with client retries) before refusing;
# counted, not timed, so time spent waiting in the queue never cuts them short
MAX_UNEXPECTED_FAILURES = 5  # a step that keeps raising a bug ends its job instead of looping
MAX_DOWNLOAD_ATTEMPTS = 8


class JobFailed(Exception):
    """Raised by a step: the job ends without a video (refunded), with this code and detail."""

    def __init__(self, code: str, detail: str, *, state: JobState = JobState.FAILED) -> None:
        self.code = code
        self.detail = detail
        self.state = state
        super().__init__(f"{code}: {detail}")


@dataclass(frozen=True, slots=True)
class Retry:
    """Run the same step again at ``at`` (``attempts`` counts the tries so far)."""

    at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class Requeue(Retry):
    """The provider is busy: back to the queue, keeping the job's place, until ``at``."""


@dataclass(frozen=True, slots=True)
class Fail:
    """End without a video: refund, then tell the user."""

    state: JobState
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Undeliverable:
    """The video exists but cannot be posted: keep the file, settle, tell the user."""

    detail: str


@dataclass(frozen=True, slots=True)
class StopPosting:
    """The job has ended; telling the user failed for good: stop trying."""


Decision = Retry | Requeue | Fail | Undeliverable | StopPosting


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff bounds (from the settings) and the rules that use them."""

    base: float  # SORA_POLL_INTERVAL: the first wait
    cap: float  # the longest wait between tries

    def decide(self, job: Job, error: Exception, now: float) -> Decision:
        """What follows the error a step of ``job`` raised (an expected kind of failure)."""
        if isinstance(error, JobFailed):
            return Fail(error.state, error.code, error.detail)
        if job.state is JobState.SUBMITTING:
            return self._after_submit(job, error, now)
        if isinstance(error, DeliveryError):
            return self._after_post(job, error, now)
        if isinstance(error, DownloadError):
            link_alive = now - (job.submitted_at or job.created_at) < LINK_LIFETIME
            # A full or unwritable disk is the operator's to fix: keep the job until the link
            # dies. A flaky transfer gets a bounded number of tries.
            worth = error.kind == "disk" or (
                error.retryable and job.attempts < MAX_DOWNLOAD_ATTEMPTS
            )
            if worth and link_alive:
                return self.retry(job, error, now)
            return Fail(JobState.FAILED, f"download_{error.kind}", str(error))
        if isinstance(error, NotFound):
            return Fail(
                JobState.FAILED, "resource_not_found", "the provider no longer knows this task"
            )
        return self.retry(job, error, now)  # transport trouble while polling: try again

    def after_crash(self, job: Job, error: Exception, now: float, crashes: int) -> Decision | None:
        """What follows a bug (an unexpected error) in a step, ``crashes`` times in a row.

        ``job`` is the row as it is now (the step may have moved it before it raised).
        None: nothing is left to do for it.
        """
        if job.state.terminal and job.outcome_posted and job.next_attempt_at is None:
            return None  # the step got as far as the end before it raised
        if crashes >= MAX_UNEXPECTED_FAILURES:
            detail = f"internal error: {type(error).__name__}"
            if job.state in (JobState.COMPLETED, JobState.DELIVERING):
                return Undeliverable(detail)
            if job.state.terminal:  # only the outcome message was left
                return StopPosting()
            state = JobState.REJECTED if job.task_id is None else JobState.FAILED
            return Fail(state, "internal_error", detail)
        return self.retry(job, None, now)

    def retry(self, job: Job, error: Exception | None, now: float) -> Retry:
        """The same step again after a backoff (or the wait the provider asked for)."""
        return Retry(now + self.backoff(job.attempts + 1, error), job.attempts + 1)

    def backoff(self, attempts: int, error: Exception | None) -> float:
        """Seconds before try number ``attempts``; a ``retry_after`` the error carries wins."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            return float(retry_after)
        return retry_delay(attempts, base=self.base, cap=self.cap)

    def _after_submit(self, job: Job, error: Exception, now: float) -> Decision:
        if isinstance(error, SubmissionUncertain):
            return Fail(JobState.FAILED, "submit_uncertain", str(error))
        if isinstance(error, SoraAPIError):
            if error.retryable and job.attempts < MAX_SUBMIT_REQUEUES:
                return self._requeue(job, error, now)
            return Fail(JobState.REJECTED, f"http_{error.status}", error.message or str(error))
        if isinstance(error, ProviderError):  # transport trouble before anything was sent
            if job.attempts < MAX_SUBMIT_REQUEUES:
                return self._requeue(job, error, now)
            return Fail(JobState.REJECTED, "provider_unavailable", str(error))
        return self.retry(job, error, now)

    def _after_post(self, job: Job, error: DeliveryError, now: float) -> Decision:
        # Time, not a count: a Discord outage of an hour must not turn videos undeliverable.
        since = job.finished_at if job.state.terminal else job.completed_at
        if error.retryable and now - (since or job.updated_at) < POST_RETRY_WINDOW:
            return self.retry(job, error, now)
        if job.state.terminal:
            return StopPosting()
        return Undeliverable(str(error))

    def _requeue(self, job: Job, error: Exception, now: float) -> Requeue:
        return Requeue(now + self.backoff(job.attempts + 1, error), job.attempts + 1)
