"""The pure retry decision: what follows each kind of step failure, from (job, error, now)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sora_bot.engine.delivery import DeliveryError
from sora_bot.engine.retry import (
    LINK_LIFETIME,
    MAX_DOWNLOAD_ATTEMPTS,
    MAX_SUBMIT_REQUEUES,
    MAX_UNEXPECTED_FAILURES,
    POST_RETRY_WINDOW,
    Fail,
    JobFailed,
    Requeue,
    Retry,
    RetryPolicy,
    StopPosting,
    Undeliverable,
)
from sora_bot.models import CreditState, Job, JobState
from sora_bot.provider.errors import (
    AuthenticationFailed,
    DownloadError,
    NotFound,
    ProviderServerError,
    ProviderUnavailable,
    RateLimited,
    SubmissionUncertain,
)

NOW = 1_000_000.0
POLICY = RetryPolicy(base=5.0, cap=300.0)


def job(state: JobState, **fields: object) -> Job:
    """A job row in ``state``, created a minute ago."""
    base = Job(
        id=1,
        guild_id="g",
        channel_id="c",
        user_id="u",
        prompt="a fox",
        aspect_ratio="16:9",
        duration=10,
        remove_watermark=True,
        image_url=None,
        cost=15,
        credit_day="2026-12-03",
        credit_state=CreditState.RESERVED,
        state=state,
        task_id=None,
        progress=0,
        estimated_seconds=None,
        error_code=None,
        error_message=None,
        video_url=None,
        file_path=None,
        file_size=None,
        front_ref={},
        delivery_ref=None,
        outcome_posted=False,
        attempts=0,
        created_at=NOW - 60,
        submitted_at=None,
        completed_at=None,
        finished_at=None,
        updated_at=NOW - 60,
        next_attempt_at=NOW,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


SUBMITTING = job(JobState.SUBMITTING)
POLLING = job(JobState.RUNNING, task_id="t1", submitted_at=NOW - 30)
DOWNLOADING = replace(POLLING, video_url="https://cdn.example/v.mp4")
DELIVERING = job(JobState.DELIVERING, task_id="t1", completed_at=NOW - 10, file_path="v.mp4")
ENDED = job(JobState.FAILED, task_id="t1", finished_at=NOW - 10)


def test_a_step_that_raises_its_ending_gets_it() -> None:
    failed = JobFailed("timeout", "no result after 3600s")
    assert POLICY.decide(POLLING, failed, NOW) == Fail(JobState.FAILED, "timeout", failed.detail)
    refused = JobFailed("preparation_interrupted", "gone", state=JobState.REJECTED)
    assert POLICY.decide(job(JobState.ACCEPTED), refused, NOW).state is JobState.REJECTED  # type: ignore[union-attr]


def test_busy_provider_requeues_the_submit_honouring_retry_after() -> None:
    decision = POLICY.decide(SUBMITTING, RateLimited(429, "slow down", retry_after=7), NOW)
    assert decision == Requeue(at=NOW + 7, attempts=1)


def test_busy_provider_is_given_up_after_the_last_requeue() -> None:
    tired = replace(SUBMITTING, attempts=MAX_SUBMIT_REQUEUES)
    decision = POLICY.decide(tired, ProviderServerError(503, "busy"), NOW)
    assert decision == Fail(JobState.REJECTED, "http_503", "busy")
    assert POLICY.decide(tired, ProviderUnavailable("refused"), NOW) == Fail(
        JobState.REJECTED, "provider_unavailable", "refused"
    )


def test_transport_trouble_before_sending_is_requeued() -> None:
    decision = POLICY.decide(SUBMITTING, ProviderUnavailable("connection refused"), NOW)
    assert type(decision) is Requeue and decision.attempts == 1
    assert NOW + POLICY.base <= decision.at <= NOW + POLICY.cap


def test_refused_and_uncertain_submits_are_never_retried() -> None:
    refused = POLICY.decide(SUBMITTING, AuthenticationFailed(401, "bad key"), NOW)
    assert refused == Fail(JobState.REJECTED, "http_401", "bad key")
    lost = POLICY.decide(SUBMITTING, SubmissionUncertain("answer lost"), NOW)
    assert lost == Fail(JobState.FAILED, "submit_uncertain", "answer lost")


def test_polls_retry_transport_errors_with_growing_backoff_and_end_on_unknown_task() -> None:
    first = POLICY.decide(POLLING, ProviderServerError(500, "oops"), NOW)
    assert type(first) is Retry and first.attempts == 1
    assert NOW + POLICY.base <= first.at <= NOW + POLICY.base  # first wait: the floor
    later = POLICY.decide(replace(POLLING, attempts=20), ProviderUnavailable("reset"), NOW)
    assert type(later) is Retry and later.attempts == 21 and later.at <= NOW + POLICY.cap
    gone = POLICY.decide(POLLING, NotFound(404, "no such task"), NOW)
    assert gone == Fail(
        JobState.FAILED, "resource_not_found", "the provider no longer knows this task"
    )


@pytest.mark.parametrize("attempts", [0, MAX_DOWNLOAD_ATTEMPTS * 10])
def test_a_full_disk_is_retried_while_the_link_lives(attempts: int) -> None:
    full = DownloadError("disk", "no space left")
    stuck = replace(DOWNLOADING, attempts=attempts)
    assert type(POLICY.decide(stuck, full, NOW)) is Retry
    dead = replace(stuck, submitted_at=NOW - LINK_LIFETIME - 1)
    assert POLICY.decide(dead, full, NOW) == Fail(JobState.FAILED, "download_disk", "no space left")


def test_flaky_downloads_get_a_bounded_number_of_tries_and_expired_links_none() -> None:
    flaky = DownloadError("network", "reset")
    assert type(POLICY.decide(DOWNLOADING, flaky, NOW)) is Retry
    worn = replace(DOWNLOADING, attempts=MAX_DOWNLOAD_ATTEMPTS)
    assert POLICY.decide(worn, flaky, NOW) == Fail(JobState.FAILED, "download_network", "reset")
    expired = DownloadError("expired", "410")
    assert POLICY.decide(DOWNLOADING, expired, NOW) == Fail(
        JobState.FAILED, "download_expired", "410"
    )


def test_uploads_are_retried_through_an_outage_then_kept_as_undeliverable() -> None:
    outage = DeliveryError("Discord 503", retryable=True)
    assert type(POLICY.decide(DELIVERING, outage, NOW)) is Retry
    long_ago = replace(DELIVERING, completed_at=NOW - POST_RETRY_WINDOW - 1)
    assert POLICY.decide(long_ago, outage, NOW) == Undeliverable("Discord 503")
    forbidden = DeliveryError("missing access", retryable=False)
    assert POLICY.decide(DELIVERING, forbidden, NOW) == Undeliverable("missing access")


def test_outcome_posts_are_retried_then_given_up() -> None:
    outage = DeliveryError("Discord 503", retryable=True)
    assert type(POLICY.decide(ENDED, outage, NOW)) is Retry
    long_ago = replace(ENDED, finished_at=NOW - POST_RETRY_WINDOW - 1)
    assert POLICY.decide(long_ago, outage, NOW) == StopPosting()
    assert POLICY.decide(ENDED, DeliveryError("gone", retryable=False), NOW) == StopPosting()


def test_a_bug_is_retried_until_the_limit_then_ends_the_job_by_its_state() -> None:
    bug = KeyError("x")
    assert type(POLICY.after_crash(POLLING, bug, NOW, 1)) is Retry
    told = replace(ENDED, outcome_posted=True, next_attempt_at=None)
    assert POLICY.after_crash(told, bug, NOW, 1) is None
    # Told, but the final status edit is still due: a bug there is retried like any other.
    assert type(POLICY.after_crash(replace(told, next_attempt_at=NOW), bug, NOW, 1)) is Retry
    limit = MAX_UNEXPECTED_FAILURES
    detail = "internal error: KeyError"
    assert POLICY.after_crash(job(JobState.QUEUED), bug, NOW, limit) == Fail(
        JobState.REJECTED, "internal_error", detail
    )
    assert POLICY.after_crash(POLLING, bug, NOW, limit) == Fail(
        JobState.FAILED, "internal_error", detail
    )
    assert POLICY.after_crash(DELIVERING, bug, NOW, limit) == Undeliverable(detail)
    assert POLICY.after_crash(ENDED, bug, NOW, limit) == StopPosting()
    # A bug after the final commit: the job is done, and what it recorded stays as it is.
    delivered = job(
        JobState.DELIVERED, outcome_posted=True, delivery_ref="post-1", next_attempt_at=None
    )
    assert POLICY.after_crash(delivered, bug, NOW, limit) is None
