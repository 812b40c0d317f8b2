"""Provider faults: each ends with its mapped message and the right refund, others keep going.

Every test runs a healthy job from another user next to the faulty one and checks it is still
delivered, byte-identical, with exactly one provider task of its own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from yarl import URL

from sora_bot import outcome_texts as messages
from sora_bot.core import Core
from sora_bot.models import Job, JobState, Requester
from tests.doubles import (
    FAILURE_CODES,
    ROOMY,
    ProviderDouble,
    RecordingDelivery,
    RecordingHost,
    options,
    running_core,
    running_provider,
    running_recording_host,
    use_short_timeouts,
    user,
    wait_for_job,
    wait_terminal,
)

CREATE = "/v1/videos/generations"
ALICE, BOB = user("alice"), user("bob")

# A phrase of the mapped text for each HTTP status of the create call.
STATUS_PHRASES = {
    400: "refused the request as invalid",
    401: "access key was refused",
    402: "run out of credit",
    403: "not allowed to use the Sora-2 model",
    404: "could not find the model",
    413: "image is too large",
    418: "unexpected error (HTTP 418)",
    429: "too many requests",
    500: "internal error",
    502: "upstream servers",
    503: "temporarily unavailable",
    504: "unexpected error (HTTP 504)",
}
TRANSIENT = {429, 500, 502, 503, 504}
# A phrase of the mapped text for each task failure code.
CODE_PHRASES = {
    "content_policy_violation": "content filter",
    "invalid_parameters": "refused the options",
    "image_processing_error": "could not process your image",
    "image_dimension_mismatch": "does not fit the chosen aspect ratio",
    "request_cancelled": "was cancelled",
    "generation_failed_no_content": "without producing a video",
    "service_error": "internal error",
    "generation_timeout": "took too long",
    "resource_exhausted": "out of capacity",
    "service_unavailable": "temporarily unavailable",
    "quota_exceeded": "limiting how many videos",
    "resource_not_found": "no longer knows this job",
    "unknown_error": "did not say why",
}


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    """Whether a log record carries ``text`` (in its message or its structured fields)."""
    return any(text in r.getMessage() or text in str(vars(r)) for r in caplog.records)


def text_for(delivery: RecordingDelivery, job_id: int) -> str:
    [text] = [t for j, t in delivery.failures if j == job_id]
    return text


async def holding_task(core: Core, requester: Requester, prompt: str) -> Job:
    """A job, submitted and waited for until it holds its provider task."""
    job = await core.jobs.submit(requester, options(prompt))
    return await wait_for_job(core, job.id, lambda j: j.task_id is not None)


async def start_healthy(core: Core, seconds: float = 0.8) -> Job:
    """Bob's job, submitted and holding its provider task before the fault is armed."""
    return await holding_task(core, BOB, f"a calm harbour [seconds:{seconds}]")


async def assert_healthy_delivered(
    core: Core, healthy: Job, delivery: RecordingDelivery, double: ProviderDouble
) -> None:
    done = await wait_terminal(core, healthy.id)
    assert done.state is JobState.DELIVERED and done.credit_state == "settled"
    assert (healthy.id, double.video_bytes) in delivery.videos
    assert [r for r in double.creates() if "harbour" in r.json["prompt"]].__len__() == 1
    assert (await core.jobs.quota(BOB)).used == healthy.cost


async def assert_refunded(core: Core, job: Job) -> None:
    assert job.credit_state == "refunded"
    assert (await core.jobs.quota(ALICE)).used == 0
    assert (await core.jobs.quota(ALICE)).active_jobs == 0


@pytest.mark.parametrize("status", sorted(STATUS_PHRASES))
async def test_every_http_status_on_create(tmp_path: Path, status: int) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.5, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, SORA_JOB_TIMEOUT="1.2", **ROOMY) as core,
    ):
        healthy = await start_healthy(core, 0.5)
        retry_after = 0.05 if status in (429, 503) else None
        double.inject("POST", CREATE, status, times=1000, retry_after=retry_after)
        job = await core.jobs.submit(ALICE, options("a fox in the snow"))
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
        await assert_refunded(core, done)
    assert done.state is JobState.REJECTED and done.error_code == f"http_{status}"
    text = text_for(delivery, job.id)
    assert STATUS_PHRASES[status] in text and "refunded" in text
    assert len(double.tasks) == 1  # only the healthy job's task
    alice_posts = len(double.creates()) - 1
    assert alice_posts > 1 if status in TRANSIENT else alice_posts == 1  # retried only if transient


@pytest.mark.parametrize("status", [401, 403, 429, 500, 502, 503])
async def test_errors_while_polling_are_retried_and_the_job_delivered(
    tmp_path: Path, status: int
) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.6, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        healthy = await start_healthy(core)
        job = await holding_task(core, ALICE, "a fox in the snow [seconds:0.3]")
        double.inject("GET", f"/v1/tasks/{job.task_id}", status, times=6, retry_after=0.05)
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
    assert done.state is JobState.DELIVERED and done.credit_state == "settled"
    assert len(double.tasks) == 2


async def test_task_unknown_to_the_provider_is_refunded(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.6, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        healthy = await start_healthy(core)
        job = await holding_task(core, ALICE, "a fox in the snow")
        double.inject("GET", f"/v1/tasks/{job.task_id}", 404, times=1000)
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
        await assert_refunded(core, done)
    assert done.state is JobState.FAILED and done.error_code == "resource_not_found"
    assert CODE_PHRASES["resource_not_found"] in text_for(delivery, job.id)


async def test_every_failure_code_at_once_next_to_healthy_jobs(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.5, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        healthy = await start_healthy(core)
        failing = {
            code: await core.jobs.submit(user(f"u{i}"), options(f"scene {i} [fail:{code}]"))
            for i, code in enumerate(FAILURE_CODES)
        }
        done = {code: await wait_terminal(core, job.id) for code, job in failing.items()}
        await assert_healthy_delivered(core, healthy, delivery, double)
        for i in range(len(done)):
            assert (await core.jobs.quota(user(f"u{i}"))).used == 0
    assert set(done) == set(CODE_PHRASES)
    for code, job in done.items():
        assert job.state is JobState.FAILED and job.error_code == code
        assert job.credit_state == "refunded"
        text = text_for(delivery, job.id)
        assert CODE_PHRASES[code] in text, (code, text)
        assert "refunded" in text and text == messages.job_outcome(job)
    assert len(delivery.failures) == len(FAILURE_CODES)
    assert len(delivery.videos) == 1


@pytest.mark.parametrize("fault", ["timeout", "reset", "garbled", "wrong_status"])
async def test_lost_create_answer_is_refunded_never_resent(tmp_path: Path, fault: str) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.5, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        use_short_timeouts(core)
        healthy = await start_healthy(core)
        if fault == "timeout":
            double.inject("POST", CREATE, 200, delay=0.6)
        elif fault == "reset":
            double.inject("POST", CREATE, 200, reset=True)
        elif fault == "garbled":
            double.inject("POST", CREATE, 200, body=b'{"id": 12, "status": "pend')
        else:
            double.inject("POST", CREATE, 202, body=b"{}")
        job = await core.jobs.submit(ALICE, options("a fox in the snow"))
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
        await assert_refunded(core, done)
    assert done.state is JobState.FAILED and done.error_code == "submit_uncertain"
    assert "could not confirm" in text_for(delivery, job.id)
    assert len(double.creates()) == 2  # the faulty job's create was never sent again


@pytest.mark.parametrize("fault", ["timeout", "reset", "garbled", "garbled_error"])
async def test_lost_poll_answers_are_retried(tmp_path: Path, fault: str) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.5, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        use_short_timeouts(core)
        healthy = await start_healthy(core)
        job = await holding_task(core, ALICE, "a fox in the snow [seconds:0.3]")
        path = f"/v1/tasks/{job.task_id}"
        if fault == "timeout":
            double.inject("GET", path, 200, delay=0.6, times=3)
        elif fault == "reset":
            double.inject("GET", path, 200, reset=True, times=3)
        elif fault == "garbled":
            double.inject("GET", path, 200, body=b"<html>502 Bad Gateway</html>", times=3)
        else:
            double.inject("GET", path, 500, body=b"<html>oops</html>", times=3)
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
    assert done.state is JobState.DELIVERED and (job.id, double.video_bytes) in delivery.videos
    assert len(double.tasks) == 2


async def test_job_that_never_finishes_times_out_and_is_refunded(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.5, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, SORA_JOB_TIMEOUT="1.5", **ROOMY) as core,
    ):
        healthy = await start_healthy(core, 0.5)
        job = await core.jobs.submit(ALICE, options("a fox in the snow [seconds:600]"))
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
        await assert_refunded(core, done)
    assert done.state is JobState.FAILED and done.error_code == "timeout"
    text = text_for(delivery, job.id)
    assert "stopped waiting" in text and "refunded" in text


async def test_result_link_expired_before_download(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.6, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        healthy = await start_healthy(core)
        job = await holding_task(core, ALICE, "a fox in the snow [seconds:0.2]")
        double.inject("GET", f"/files/{job.task_id}.mp4", 404, times=1000)
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
        await assert_refunded(core, done)
    assert done.state is JobState.FAILED and done.error_code == "download_expired"
    assert "link had already expired" in text_for(delivery, job.id)
    assert len(double.downloads()) == 2  # an expired link is not hammered


async def test_download_stopping_half_way_is_resumed_until_complete(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.6, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        healthy = await start_healthy(core)
        await wait_for_job(core, healthy.id, lambda j: j.state is JobState.DELIVERED)
        # More cut-offs than the client retries in one go: the worker tries again later.
        double.truncate_downloads(at_bytes=len(double.video_bytes) // 2, times=7)
        job = await core.jobs.submit(ALICE, options("a fox in the snow [seconds:0.2]"))
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
    assert done.state is JobState.DELIVERED
    assert (job.id, double.video_bytes) in delivery.videos  # no half file ever delivered
    assert len(double.downloads()) == 1 + 8
    assert not list((tmp_path / "videos").glob("*.part"))


async def test_unwritable_download_folder_is_logged_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    blocker = tmp_path / "blocked"
    blocker.write_text("a regular file where a folder should be")
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(
            tmp_path, double.base_url, delivery, SORA_DOWNLOAD_DIR=str(blocker / "videos"), **ROOMY
        ) as core,
    ):
        job = await core.jobs.submit(ALICE, options("a fox in the snow"))
        await wait_for_job(core, job.id, lambda j: j.video_url is not None and j.attempts >= 2)
        stuck = await core.store.require(job.id)
        assert stuck.state is JobState.RUNNING and stuck.credit_state == "reserved"
        assert logged(caplog, "cannot create") and logged(caplog, "Not a directory")
        blocker.unlink()  # the operator fixes the disk
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED and delivery.videos == [(job.id, double.video_bytes)]
    assert len(double.creates()) == 1


async def test_full_disk_is_logged_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    caplog.set_level(logging.WARNING)
    videos = tmp_path / "videos"
    videos.mkdir()
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        job = await core.jobs.submit(ALICE, options("a fox in the snow"))
        # The partial file of this job lands on a device that is always full.
        (videos / f"job-{job.id}.mp4.part").symlink_to("/dev/full")
        done = await wait_terminal(core, job.id)
    assert logged(caplog, "No space left on device")
    assert done.state is JobState.DELIVERED and delivery.videos == [(job.id, double.video_bytes)]


async def test_requeued_submit_is_retried_at_its_retry_time(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        # Five 429s: the client gives up after its four retries and the worker requeues.
        double.inject("POST", CREATE, 429, times=5, retry_after=0.05)
        job = await core.jobs.submit(ALICE, options("a fox in the snow"))
        await wait_for_job(core, job.id, lambda j: j.attempts == 1)
        # Told to come back in 0.05 s; 2 s is generous.
        done = await wait_for_job(core, job.id, lambda j: j.task_id is not None, timeout=2.0)
    assert done.task_id is not None


# -- trust nothing from outside ----------------------------------------------------------------

STOLEN = b"\x00\x00\x00\x18ftypmp42 not the video this job asked for"
HOSTILE_LINKS = ["another_port", "localhost", "redirect_to_private", "file_scheme"]


def hostile_link(kind: str, double: ProviderDouble, host: RecordingHost) -> str:
    port = URL(host.base_url).port
    return {
        "another_port": f"{host.base_url}/v.mp4",  # same host as the API, another origin
        "localhost": f"http://localhost:{port}/v.mp4",
        "redirect_to_private": double.add_redirect("private", f"{host.base_url}/v.mp4"),
        "file_scheme": "file:///etc/passwd",
    }[kind]


@pytest.mark.parametrize("kind", HOSTILE_LINKS)
async def test_result_link_to_a_private_place_fails_refunded_and_is_never_fetched(
    tmp_path: Path, kind: str
) -> None:
    delivery = RecordingDelivery()
    async with (
        running_recording_host(STOLEN) as elsewhere,
        running_provider(task_seconds=0.3, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        link = hostile_link(kind, double, elsewhere)

        def link_for(task_id: str) -> str:
            fox = "fox" in double.tasks[task_id].body["prompt"]
            return link if fox else double.result_url(task_id)

        double.link_for = link_for
        healthy = await start_healthy(core, 0.3)
        job = await core.jobs.submit(ALICE, options("a fox in the snow"))
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
        await assert_refunded(core, done)
    assert done.state is JobState.FAILED and done.error_code == "download_refused"
    assert "does not fetch from" in text_for(delivery, job.id)
    assert elsewhere.requests == []  # not one request reached the refused place
    assert not any(j == job.id for j, _ in delivery.videos)
    assert not list((tmp_path / "videos").glob(f"job-{job.id}.*"))


@pytest.mark.parametrize(
    ("seconds", "route", "trickle"),
    [
        # The video is made; its download sends one byte every 20 ms: never slow enough for
        # a read timeout, never done either.
        (0.3, "/files/{task}.mp4", 0.02),
        (600, "/v1/tasks/{task}", 0.05),  # the task query trickles
    ],
    ids=["download", "task_query"],
)
async def test_job_timeout_cuts_a_hanging_request(
    tmp_path: Path, seconds: float, route: str, trickle: float
) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.3, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, SORA_JOB_TIMEOUT="1.5", **ROOMY) as core,
    ):
        healthy = await start_healthy(core, 0.3)
        job = await holding_task(core, ALICE, f"a fox in the snow [seconds:{seconds}]")
        double.inject("GET", route.format(task=job.task_id), 200, trickle=trickle, times=1000)
        done = await wait_terminal(core, job.id, timeout=8)
        await assert_healthy_delivered(core, healthy, delivery, double)
        await assert_refunded(core, done)
    assert done.state is JobState.FAILED and done.error_code == "timeout"
    assert done.submitted_at is not None and done.finished_at is not None
    assert done.finished_at - (done.submitted_at + 1.5) < 3.0
    assert "stopped waiting" in text_for(delivery, job.id)
    assert not any(j == job.id for j, _ in delivery.videos)
    assert not list((tmp_path / "videos").glob(f"job-{job.id}.*"))


async def test_one_hanging_job_does_not_hold_up_the_others(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.3, estimated_time=1) as double,
        running_core(
            tmp_path, double.base_url, delivery, SORA_MAX_CONCURRENT_REQUESTS="1", **ROOMY
        ) as core,
    ):
        use_short_timeouts(core, 0.3)  # one request slot; each attempt has 0.3 s in all
        stuck = await holding_task(core, ALICE, "a fox in the snow [seconds:600]")
        double.inject("GET", f"/v1/tasks/{stuck.task_id}", 200, trickle=0.05, times=1000)
        others = [
            await core.jobs.submit(user(name), options(f"a calm harbour {name} [seconds:0.3]"))
            for name in ("bob", "carol", "dave")
        ]
        ended = [await wait_terminal(core, job.id, timeout=8) for job in others]
        assert (await core.store.require(stuck.id)).state in (JobState.SUBMITTED, JobState.RUNNING)
    assert all(job.state is JobState.DELIVERED for job in ended)
    assert {j for j, _ in delivery.videos} == {job.id for job in others}


async def test_hostile_numbers_in_poll_answers_never_crash_a_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.4, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        job = await holding_task(core, ALICE, "a fox in the snow")
        hostile = (
            b'{"id": "%s", "status": "processing", "progress": NaN, "created": 1e999,'
            b' "task_info": {"estimated_time": -Infinity}}'
        ) % str(job.task_id).encode()
        double.inject("GET", f"/v1/tasks/{job.task_id}", 200, body=hostile, times=3)
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED and delivery.videos == [(job.id, double.video_bytes)]
    assert not logged(caplog, "unexpected error")


async def test_poll_answer_naming_another_task_is_never_followed(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_recording_host(STOLEN) as elsewhere,
        running_provider(task_seconds=0.4, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        job = await holding_task(core, ALICE, "a fox in the snow")
        stranger = (
            b'{"id": "task-unified-1-someone-else", "status": "completed", "progress": 100,'
            b' "results": ["%s/stolen.mp4"]}'
        ) % elsewhere.base_url.encode()
        double.inject("GET", f"/v1/tasks/{job.task_id}", 200, body=stranger, times=6)
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED and delivery.videos == [(job.id, double.video_bytes)]
    assert elsewhere.requests == [] and done.video_url == double.result_url(str(job.task_id))


async def test_huge_create_answer_is_an_uncertain_submission(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.3, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        healthy = await start_healthy(core, 0.3)
        double.inject("POST", CREATE, 200, stream_bytes=50 * 1024 * 1024)
        job = await core.jobs.submit(ALICE, options("a fox in the snow"))
        done = await wait_terminal(core, job.id)
        await assert_healthy_delivered(core, healthy, delivery, double)
        await assert_refunded(core, done)
    assert done.state is JobState.FAILED and done.error_code == "submit_uncertain"
    assert "could not confirm" in text_for(delivery, job.id)
