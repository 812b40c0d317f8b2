"""The worker end to end against the provider double: delivery, failures, refunds, restarts."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from sora_bot.core import Core
from sora_bot.models import Job, JobState, Requester, VideoOptions
from tests.doubles import FAILURE_CODES, RecordingDelivery, running_core, running_provider

ALICE = Requester("g1", "c1", "alice")
OPTIONS = VideoOptions("a red fox running through snow", duration=10, remove_watermark=False)


async def wait_terminal(core: Core, job_id: int, timeout: float = 10.0) -> Job:
    """Wait until the job is final and its outcome has been posted."""
    async with asyncio.timeout(timeout):
        while True:
            job = await core.store.require(job_id)
            if job.state.terminal and job.outcome_posted:
                return job
            await asyncio.sleep(0.02)


async def test_text_to_video_delivered_and_settled(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.3, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        job = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED
    assert done.credit_state == "settled" and done.cost == 10
    assert delivery.videos == [(job.id, double.video_bytes)]  # byte-identical
    assert len(double.creates()) == 1
    body = double.creates()[0].json
    assert body == {
        "model": "sora-2",
        "prompt": OPTIONS.prompt,
        "aspect_ratio": "16:9",
        "duration": 10,
        "remove_watermark": False,
    }
    assert any(state == "running" for _, state, _ in delivery.updates)


@pytest.mark.parametrize("code", list(FAILURE_CODES))
async def test_every_failure_code_refunds_and_posts_once(tmp_path: Path, code: str) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        double.fail_next_task(code)
        job = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, job.id)
        quota = await core.jobs.quota(ALICE)
    assert done.state is JobState.FAILED and done.error_code == code
    assert done.credit_state == "refunded" and quota.used == 0
    assert [job_id for job_id, _ in delivery.failures] == [job.id]
    assert delivery.videos == []


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413])
async def test_permanent_submit_errors_reject_without_retry(tmp_path: Path, status: int) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider() as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        double.inject("POST", "/v1/videos/generations", status)
        job = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.REJECTED and done.error_code == f"http_{status}"
    assert done.credit_state == "refunded"
    assert len(double.creates()) == 1  # never retried
    assert len(delivery.failures) == 1


async def test_busy_provider_is_retried_and_submits_once(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        double.inject("POST", "/v1/videos/generations", 429, retry_after=0.05)
        double.inject("POST", "/v1/videos/generations", 503, retry_after=0.05)
        double.inject("GET", "/v1/tasks/", 500, times=2)
        job = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED
    assert len(double.tasks) == 1  # one provider task despite the retries


async def test_lost_create_answer_refunds_instead_of_resubmitting(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider() as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        double.inject("POST", "/v1/videos/generations", 200, body=b"<html>oops")
        job = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.FAILED and done.error_code == "submit_uncertain"
    assert done.credit_state == "refunded"
    assert len(double.creates()) == 1


async def test_restart_mid_job_finishes_without_second_post(tmp_path: Path) -> None:
    first = RecordingDelivery()
    async with running_provider(task_seconds=0.8, estimated_time=1) as double:
        async with running_core(tmp_path, double.base_url, first) as core:
            job = await core.jobs.submit(ALICE, OPTIONS)
            async with asyncio.timeout(5):
                while (await core.store.require(job.id)).task_id is None:
                    await asyncio.sleep(0.01)
        # The first process is gone (worker stopped, database closed) before the task ends.
        assert first.videos == []
        second = RecordingDelivery()
        async with running_core(tmp_path, double.base_url, second) as core:
            done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED
    assert second.videos == [(job.id, double.video_bytes)]
    assert len(double.creates()) == 1


async def test_interrupted_submit_is_refunded_not_resent(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with running_provider() as double:
        async with running_core(tmp_path, double.base_url, delivery, start=False) as core:
            job = await core.jobs.submit(ALICE, OPTIONS)
            # As if the process died right after committing "submitting", before the answer.
            await core.store.transition(job.id, None, JobState.SUBMITTING, now=core.jobs.clock())
        async with running_core(tmp_path, double.base_url, delivery) as core:
            done = await wait_terminal(core, job.id)
    assert done.state is JobState.FAILED and done.error_code == "submit_interrupted"
    assert done.credit_state == "refunded"
    assert double.creates() == []
    assert len(delivery.failures) == 1


async def test_crash_after_upload_before_commit_delivers_once(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with running_provider(task_seconds=0.2, estimated_time=1) as double:
        async with running_core(tmp_path, double.base_url, delivery) as core:
            job = await core.jobs.submit(ALICE, OPTIONS)
            await wait_terminal(core, job.id)
            # Rewind the commit: the upload happened but "delivered" was never written.
            await core.store.transition(
                job.id,
                None,
                JobState.DELIVERING,
                {"outcome_posted": False, "next_attempt_at": core.jobs.clock()},
                now=core.jobs.clock(),
            )
        async with running_core(tmp_path, double.base_url, delivery) as core:
            done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED
    assert len(delivery.videos) == 1


async def test_timeout_refunds(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=60) as double,
        running_core(tmp_path, double.base_url, delivery, SORA_JOB_TIMEOUT="0.5") as core,
    ):
        job = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.FAILED and done.error_code == "timeout"
    assert done.credit_state == "refunded"


async def test_video_made_while_the_bot_was_down_past_the_timeout_is_delivered(
    tmp_path: Path,
) -> None:
    # The deadline passed while nothing could look (bot down, database unwritable): one last
    # look finds the video made, and it is delivered, not refunded.
    delivery = RecordingDelivery()
    async with running_provider(task_seconds=0.8) as double:
        async with running_core(tmp_path, double.base_url, delivery, SORA_JOB_TIMEOUT="1") as core:
            job = await core.jobs.submit(ALICE, OPTIONS)
            for _ in range(200):
                current = await core.store.get(job.id)
                if current is not None and current.task_id is not None:
                    break
                await asyncio.sleep(0.01)
        await asyncio.sleep(1.5)  # past the task's end and the job's deadline
        async with running_core(tmp_path, double.base_url, delivery, SORA_JOB_TIMEOUT="1") as core:
            done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED and done.credit_state == "settled"
    assert len(delivery.videos) == 1


async def test_expired_link_refunds_and_truncated_download_recovers(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        double.truncate_downloads(at_bytes=1000, times=1)
        ok = await core.jobs.submit(ALICE, OPTIONS)
        assert (await wait_terminal(core, ok.id)).state is JobState.DELIVERED
        double.expire_results()
        gone = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, gone.id)
    assert done.state is JobState.FAILED and done.error_code == "download_expired"
    assert done.credit_state == "refunded"
    assert delivery.videos == [(ok.id, double.video_bytes)]


async def test_delivery_retried_then_undeliverable_keeps_file(tmp_path: Path) -> None:
    delivery = RecordingDelivery(fail_videos=2)
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        job = await core.jobs.submit(ALICE, OPTIONS)
        assert (await wait_terminal(core, job.id)).state is JobState.DELIVERED
        delivery.permanent_failure = True
        lost = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, lost.id)
    assert done.state is JobState.UNDELIVERABLE and done.credit_state == "settled"
    assert done.file_path and Path(done.file_path).read_bytes() == double.video_bytes
    assert [job_id for job_id, _ in delivery.failures] == [lost.id]


async def test_secrets_absent_from_logs_and_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-live-THIS-MUST-NOT-LEAK"
    caplog.set_level(logging.DEBUG)
    delivery = RecordingDelivery()
    async with (
        running_provider(api_key=secret, task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, SORA_API_KEY=secret) as core,
    ):
        double.inject("GET", "/v1/tasks/", 401)
        double.fail_next_task("content_policy_violation")
        job = await core.jobs.submit(ALICE, OPTIONS)
        await wait_terminal(core, job.id)
    assert secret not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


async def test_many_jobs_respect_inflight_cap(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(
            tmp_path,
            double.base_url,
            delivery,
            SORA_MAX_INFLIGHT_JOBS="2",
            SORA_DAILY_CREDITS="1000",
            SORA_MAX_ACTIVE_PER_USER="50",
        ) as core,
    ):
        jobs = [await core.jobs.submit(ALICE, OPTIONS) for _ in range(6)]
        done = [await wait_terminal(core, j.id) for j in jobs]
        creates = [r.time for r in double.creates()]
    assert all(j.state is JobState.DELIVERED for j in done)
    assert len(creates) == 6 and len(delivery.videos) == 6
    # Never more than two provider jobs at once: the third create waits for a delivery.
    starts = sorted(j.submitted_at or 0 for j in done)
    ends = sorted(j.completed_at or 0 for j in done)
    assert starts[2] >= ends[0]


async def test_queue_is_fair_and_announces_positions(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    bob = Requester("g1", "c1", "bob")
    async with (
        running_provider(task_seconds=0.3, estimated_time=1) as double,
        running_core(
            tmp_path,
            double.base_url,
            delivery,
            start=False,
            SORA_MAX_INFLIGHT_JOBS="1",
            SORA_DAILY_CREDITS="1000",
            SORA_MAX_ACTIVE_PER_USER="50",
        ) as core,
    ):
        burst = [await core.jobs.submit(ALICE, OPTIONS) for _ in range(3)]
        late = await core.jobs.submit(bob, OPTIONS)
        core.worker.start()
        done = [await wait_terminal(core, j.id, timeout=30) for j in [*burst, late]]
    order = sorted(done, key=lambda j: j.submitted_at or 0)
    # Alice's burst came first, but Bob's single job goes right after her first one.
    assert [j.id for j in order] == [burst[0].id, late.id, burst[1].id, burst[2].id]
    assert (late.id, 1) in delivery.positions  # told its place while waiting
    assert (burst[2].id, 3) in delivery.positions


async def test_held_job_orphaned_by_a_crash_is_refunded_at_the_next_start(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with running_provider() as double:
        async with running_core(tmp_path, double.base_url, delivery, start=False) as core:
            held = await core.jobs.submit(ALICE, OPTIONS, hold=True)  # the front end then died
        async with running_core(tmp_path, double.base_url, delivery) as core:
            done = await wait_terminal(core, held.id, timeout=5)  # not after the 300-s grace
    assert done.state is JobState.REJECTED and done.credit_state == "refunded"
    assert double.creates() == []
    assert [job_id for job_id, _ in delivery.failures] == [held.id]


async def test_a_step_that_keeps_crashing_ends_its_job(tmp_path: Path) -> None:
    class BrokenUpload(RecordingDelivery):
        async def deliver_video(self, job: Job, path: Path) -> str:
            raise RuntimeError("a bug in the front end")

    delivery = BrokenUpload()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        job = await core.jobs.submit(ALICE, OPTIONS)
        done = await wait_terminal(core, job.id, timeout=30)
    assert done.state is JobState.UNDELIVERABLE and done.error_code == "undeliverable"
    assert done.file_path and Path(done.file_path).exists()  # kept for the user
    assert [job_id for job_id, _ in delivery.failures] == [job.id]  # and they were told


async def test_a_second_process_on_the_same_database_is_refused(tmp_path: Path) -> None:
    from sora_bot.errors import ConfigError

    async with running_provider() as double:
        async with running_core(tmp_path, double.base_url, RecordingDelivery(), start=False):
            with pytest.raises(ConfigError, match="DATABASE_PATH"):
                async with running_core(tmp_path, double.base_url, RecordingDelivery()):
                    pass
        async with running_core(tmp_path, double.base_url, RecordingDelivery(), start=False):
            pass  # free again once the first one is gone


async def test_stop_ends_the_loop_even_when_a_wake_arrives_with_it(tmp_path: Path) -> None:
    # A wake that lands with the cancel (a step finished during shutdown) was once taken as
    # the wake-up and the cancel lost (3.11's wait_for), so stop() waited forever.
    async with (
        running_provider() as double,
        running_core(tmp_path, double.base_url, RecordingDelivery()) as core,
    ):
        await asyncio.sleep(0.2)  # the loop is idle, waiting to be woken
        core.worker.wake()
        stopping = asyncio.create_task(core.worker.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5)
        assert stopping in done, "stop() did not end the worker loop"
