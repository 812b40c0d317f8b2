"""The provider client against the local provider double."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import traceback
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from sora_bot.errors import ConfigError
from sora_bot.models import TaskStatus, VideoOptions
from sora_bot.provider import answers
from sora_bot.provider.client import MAX_ANSWER_BYTES, ProviderClient
from sora_bot.provider.downloads import MAX_REDIRECTS
from sora_bot.provider.errors import (
    AuthenticationFailed,
    BadRequest,
    DownloadError,
    InsufficientQuota,
    MismatchedAnswer,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderServerError,
    ProviderUnavailable,
    RateLimited,
    RequestTooLarge,
    SoraAPIError,
    SubmissionUncertain,
)
from sora_bot.provider.links import IPAddress, is_public_address
from tests.doubles import (
    CREATE_PATH,
    ENVELOPES,
    FAILURE_CODES,
    FILES_PATH,
    TASKS_PATH,
    ProviderDouble,
    RecordingHost,
    StaticResolver,
    default_video_bytes,
    running_provider,
    running_recording_host,
)

KEY = "sk-live-SECRET-0123456789"
OPTIONS = VideoOptions(prompt="A cat playing piano")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps(list[float]):
    """An injected sleep that returns at once and records how long it was asked to wait."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def double(clock: FakeClock) -> AsyncIterator[ProviderDouble]:
    async with running_provider(api_key=KEY, clock=clock, task_seconds=100.0) as started:
        yield started


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(
    session: aiohttp.ClientSession, base_url: str, sleeps: Sleeps, **kwargs: Any
) -> ProviderClient:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("max_retries", 2)
    return ProviderClient(session, base_url=base_url, sleep=sleeps, **kwargs)


@pytest.fixture
def client(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> ProviderClient:
    return make_client(session, double.base_url, sleeps)


def loopback_is_public(address: IPAddress) -> bool:
    """Stands in for the public internet: every host of these tests lives on 127.0.0.1."""
    return address.is_loopback or is_public_address(address)


@pytest.fixture
def cdn_client(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> ProviderClient:
    """A client for which loopback addresses count as public (``foreign`` plays a CDN)."""
    return make_client(session, double.base_url, sleeps, address_allowed=loopback_is_public)


@pytest.fixture
async def foreign() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A second host on another port: serves a small file, records the headers it got."""
    seen: list[dict[str, str]] = []

    async def plain(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=b"x" * 1000, content_type="video/mp4")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(20):
            await response.write(b"y" * 10_000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/plain.mp4", plain)
    app.router.add_get("/chunked.mp4", chunked)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", seen
    await runner.cleanup()


async def completed_task(client: ProviderClient, clock: FakeClock) -> str:
    task = await client.create(OPTIONS)
    clock.now += 1000
    done = await client.get_task(task.id)
    assert done.status is TaskStatus.COMPLETED
    return done.results[0]


# -- create ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "callback", "expected"),
    [
        (
            OPTIONS,
            None,
            {"aspect_ratio": "16:9", "duration": 10, "remove_watermark": True},
        ),
        (
            VideoOptions("Portrait", aspect_ratio="9:16", duration=15, remove_watermark=False),
            None,
            {"aspect_ratio": "9:16", "duration": 15, "remove_watermark": False},
        ),
        (
            VideoOptions("From image", image_url="https://img.example.com/cat.png"),
            "https://bot.example.com/hook",
            {
                "aspect_ratio": "16:9",
                "duration": 10,
                "remove_watermark": True,
                "image_urls": ["https://img.example.com/cat.png"],
                "callback_url": "https://bot.example.com/hook",
            },
        ),
    ],
)
async def test_create_sends_documented_fields(
    client: ProviderClient,
    double: ProviderDouble,
    options: VideoOptions,
    callback: str | None,
    expected: dict[str, Any],
) -> None:
    task = await client.create(options, callback_url=callback)
    (request,) = double.creates()
    assert request.json == {"model": "sora-2", "prompt": options.prompt, **expected}
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert task.status is TaskStatus.PENDING
    assert task.progress == 0
    assert task.estimated_time == 300
    assert task.credits_reserved == (5 if options.duration == 10 else 8) + (
        2 if options.remove_watermark else 0
    )
    assert task.created is not None
    assert task.raw["object"] == "video.generation.task"
    assert double.tasks[task.id].image_urls == ([options.image_url] if options.image_url else [])


async def test_query_follows_pending_processing_completed(
    client: ProviderClient, double: ProviderDouble, clock: FakeClock
) -> None:
    task = await client.create(OPTIONS)
    assert (await client.get_task(task.id)).status is TaskStatus.PENDING
    clock.now += 50
    running = await client.get_task(task.id)
    assert (running.status, running.progress, running.estimated_time) == (
        TaskStatus.PROCESSING,
        50,
        300,
    )
    clock.now += 50
    done = await client.get_task(task.id)
    assert done.status is TaskStatus.COMPLETED and done.finished
    assert done.progress == 100
    assert done.results == (double.result_url(task.id),)
    assert len(double.polls(task.id)) == 3


@pytest.mark.parametrize("code", sorted(FAILURE_CODES))
async def test_query_reports_each_failure_code(
    client: ProviderClient, clock: FakeClock, code: str
) -> None:
    task = await client.create(VideoOptions(f"a dog [fail:{code}] [seconds:5]"))
    clock.now += 5
    failed = await client.get_task(task.id)
    assert failed.status is TaskStatus.FAILED
    assert (failed.error_code, failed.error_message) == (code, FAILURE_CODES[code])
    assert failed.results == ()


async def test_fail_next_task_with_custom_message(
    client: ProviderClient, double: ProviderDouble, clock: FakeClock
) -> None:
    double.fail_next_task("content_policy_violation", "line one\nline two")
    first = await client.create(OPTIONS)
    second = await client.create(OPTIONS)
    clock.now += 1000
    assert (await client.get_task(first.id)).error_message == "line one\nline two"
    assert (await client.get_task(second.id)).status is TaskStatus.COMPLETED


# -- error statuses and retries ----------------------------------------------------------------

ERROR_CLASSES: dict[int, type[SoraAPIError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    402: InsufficientQuota,
    403: PermissionDenied,
    404: NotFound,
    413: RequestTooLarge,
    429: RateLimited,
    500: ProviderServerError,
    502: ProviderServerError,
    503: ProviderServerError,
}


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("status", sorted(ERROR_CLASSES))
async def test_error_status_maps_to_class_and_retries_only_transient(
    client: ProviderClient, double: ProviderDouble, sleeps: Sleeps, status: int, method: str
) -> None:
    path = CREATE_PATH if method == "POST" else TASKS_PATH
    double.inject(method, path, status, times=10)
    with pytest.raises(ERROR_CLASSES[status]) as caught:
        if method == "POST":
            await client.create(OPTIONS)
        else:
            await client.get_task("task-unified-1-abc")
    error = caught.value
    message, kind, param, suggestion = ENVELOPES[status]
    assert type(error) is ERROR_CLASSES[status]
    assert (error.status, error.message, error.type) == (status, message, kind)
    assert (error.param, error.fallback_suggestion) == (param, suggestion)
    assert error.retry_after == {429: 60.0, 503: 30.0}.get(status)
    attempts = 3 if status in (429, 500, 502, 503) else 1
    hits = double.creates() if method == "POST" else double.polls()
    assert len(hits) == attempts
    assert len(sleeps) == attempts - 1
    if status in (429, 503):
        assert sleeps == [error.retry_after] * 2
    assert not double.tasks


async def test_retry_after_header_wins_over_suggestion(
    client: ProviderClient, double: ProviderDouble, sleeps: Sleeps
) -> None:
    double.inject("POST", CREATE_PATH, 429, retry_after=7)
    double.inject("POST", CREATE_PATH, 503, retry_after=2.5)
    task = await client.create(OPTIONS)
    assert sleeps == [7.0, 2.5]
    assert len(double.creates()) == 3
    assert list(double.tasks) == [task.id]


async def test_retry_after_is_capped_by_backoff_cap(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(session, double.base_url, sleeps, backoff_cap=5.0)
    double.inject("GET", TASKS_PATH, 429, retry_after=3600)
    with pytest.raises(NotFound):
        await client.get_task("task-unified-1-abc")
    assert sleeps == [5.0]


def test_retry_after_accepts_http_date_and_suggestion() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 110 < (answers.retry_after(later, None) or 0) <= 120
    assert answers.retry_after(None, "retry after 45 seconds") == 45.0
    assert answers.retry_after("soon", "try again later") is None


async def test_backoff_grows_with_full_jitter_under_the_cap(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(session, double.base_url, sleeps, max_retries=6, backoff_cap=8.0)
    double.inject("GET", TASKS_PATH, 500, times=10)
    with pytest.raises(ProviderServerError):
        await client.get_task("task-unified-1-abc")
    ceilings = [1, 2, 4, 8, 8, 8]
    assert len(sleeps) == 6
    assert all(0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True))


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b'{"id": "x", "status": "odd"}'])
async def test_garbled_body_is_retried_on_query(
    client: ProviderClient, double: ProviderDouble, sleeps: Sleeps, body: bytes
) -> None:
    task = await client.create(OPTIONS)
    double.inject("GET", TASKS_PATH, 200, body=body)
    assert (await client.get_task(task.id)).id == task.id
    assert len(double.polls()) == 2 and len(sleeps) == 1


async def test_garbled_body_on_create_is_uncertain_not_retried(
    client: ProviderClient, double: ProviderDouble
) -> None:
    double.inject("POST", CREATE_PATH, 200, body=b"not json", times=5)
    with pytest.raises(SubmissionUncertain):
        await client.create(OPTIONS)
    assert len(double.creates()) == 1
    assert len(double.tasks) == 1  # the provider did create it: a retry would have duplicated


async def test_slow_answer_times_out_and_query_retries(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(session, double.base_url, sleeps, request_timeout=0.1)
    task = await client.create(OPTIONS)
    double.inject("GET", TASKS_PATH, 200, delay=0.4)
    assert (await client.get_task(task.id)).id == task.id
    assert len(double.polls()) == 2 and len(sleeps) == 1


async def test_slow_answer_on_create_is_uncertain(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(session, double.base_url, sleeps, request_timeout=0.1)
    double.inject("POST", CREATE_PATH, 200, delay=0.3)
    with pytest.raises(SubmissionUncertain):
        await client.create(OPTIONS)
    assert len(double.creates()) == 1 and sleeps == []


async def test_connection_reset_retries_query_but_not_create(
    client: ProviderClient, double: ProviderDouble, sleeps: Sleeps
) -> None:
    double.inject("POST", CREATE_PATH, 200, reset=True)
    with pytest.raises(SubmissionUncertain):
        await client.create(OPTIONS)
    assert len(double.creates()) == 1
    (task_id,) = double.tasks
    double.inject("GET", TASKS_PATH, 200, reset=True, times=2)
    assert (await client.get_task(task_id)).id == task_id
    # aiohttp itself may retry an idempotent GET once on a reused connection
    assert len(double.polls()) == 3 and 1 <= len(sleeps) <= 2


async def test_refused_connection_retries_create_then_unavailable(
    session: aiohttp.ClientSession, sleeps: Sleeps
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(session, f"http://127.0.0.1:{port}/apiv1", sleeps, max_retries=3)
    with pytest.raises(ProviderUnavailable):
        await client.create(OPTIONS)
    assert len(sleeps) == 3


async def test_transient_trouble_exhausts_into_unavailable(
    client: ProviderClient, double: ProviderDouble, sleeps: Sleeps
) -> None:
    double.inject("GET", TASKS_PATH, 200, reset=True, times=10)
    with pytest.raises(ProviderUnavailable):
        await client.get_task("task-unified-1-abc")
    assert len(sleeps) == 2
    assert 3 <= len(double.polls()) <= 6  # aiohttp may resend an idempotent GET once itself


async def test_concurrency_is_capped_across_the_client(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(session, double.base_url, sleeps, max_concurrency=2)
    task = await client.create(OPTIONS)
    double.inject("GET", TASKS_PATH, 200, delay=0.05, times=6)
    await asyncio.gather(*(client.get_task(task.id) for _ in range(6)))
    assert double.max_in_flight == 2


async def test_task_id_is_quoted_into_one_path_segment(
    client: ProviderClient, double: ProviderDouble
) -> None:
    with pytest.raises(BadRequest) as caught:
        await client.get_task("../videos/generations?x=1")
    assert caught.value.param == "task_id"
    assert double.creates() == []
    with pytest.raises(NotFound):
        await client.get_task("task-unified-1-unknown")


# -- key check ---------------------------------------------------------------------------------


async def test_check_key(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    await make_client(session, double.base_url, sleeps).check_key()
    with pytest.raises(AuthenticationFailed):
        await make_client(session, double.base_url, sleeps, api_key="wrong").check_key()
    with pytest.raises(NotFound):  # a bare 404: the base URL is wrong, the key is unproven
        await make_client(session, double.base_url + "/nowhere", sleeps).check_key()
    double.inject("GET", TASKS_PATH, 402)
    with pytest.raises(InsufficientQuota):
        await make_client(session, double.base_url, sleeps).check_key()
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in double.polls())


def test_constructor_refuses_bad_settings(session: aiohttp.ClientSession) -> None:
    for key in ("", "abc\r\nX-Evil: 1"):
        with pytest.raises(ConfigError) as caught:
            ProviderClient(session, base_url="https://ai.example.com/apiv1", api_key=key)
        assert "Evil" not in str(caught.value)
    with pytest.raises(ConfigError):
        ProviderClient(session, base_url="ftp://ai.example.com", api_key=KEY)


# -- downloads ---------------------------------------------------------------------------------


async def test_download_streams_identical_bytes(
    client: ProviderClient, double: ProviderDouble, clock: FakeClock, tmp_path: Path
) -> None:
    url = await completed_task(client, clock)
    dest = tmp_path / "videos" / "job-1.mp4"
    written = await client.download(url, dest, max_bytes=10_000_000)
    assert written == len(default_video_bytes()) == dest.stat().st_size
    assert dest.read_bytes() == double.video_bytes
    assert dest.read_bytes()[4:8] == b"ftyp"
    assert list(dest.parent.iterdir()) == [dest]


async def test_download_too_large_by_header_and_by_stream(
    cdn_client: ProviderClient,
    clock: FakeClock,
    foreign: tuple[str, list[dict[str, str]]],
    tmp_path: Path,
    sleeps: Sleeps,
) -> None:
    client = cdn_client
    url = await completed_task(client, clock)
    dest = tmp_path / "big.mp4"
    with pytest.raises(DownloadError) as caught:
        await client.download(url, dest, max_bytes=1000)
    assert caught.value.kind == "too_large"
    base, _ = foreign
    with pytest.raises(DownloadError) as caught:  # chunked: no Content-Length up front
        await client.download(f"{base}/chunked.mp4", dest, max_bytes=50_000)
    assert caught.value.kind == "too_large"
    assert list(tmp_path.iterdir()) == [] and sleeps == []


async def test_expired_link_is_not_retried(
    client: ProviderClient, double: ProviderDouble, clock: FakeClock, tmp_path: Path
) -> None:
    url = await completed_task(client, clock)
    double.expire_results()
    with pytest.raises(DownloadError) as caught:
        await client.download(url, tmp_path / "v.mp4", max_bytes=10_000_000)
    assert caught.value.kind == "expired"
    assert len(double.downloads()) == 1 and list(tmp_path.iterdir()) == []


async def test_truncated_download_is_retried_then_succeeds(
    client: ProviderClient, double: ProviderDouble, clock: FakeClock, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = await completed_task(client, clock)
    double.truncate_downloads(50_000, times=2)
    dest = tmp_path / "v.mp4"
    assert await client.download(url, dest, max_bytes=10_000_000) == len(double.video_bytes)
    assert dest.read_bytes() == double.video_bytes
    assert len(double.downloads()) == 3 and len(sleeps) == 2


async def test_truncated_download_gives_up_as_incomplete(
    client: ProviderClient, double: ProviderDouble, clock: FakeClock, tmp_path: Path
) -> None:
    url = await completed_task(client, clock)
    double.truncate_downloads(50_000, times=10)
    with pytest.raises(DownloadError) as caught:
        await client.download(url, tmp_path / "v.mp4", max_bytes=10_000_000)
    assert caught.value.kind == "incomplete"
    assert list(tmp_path.iterdir()) == []


async def test_server_error_on_download_is_retried(
    client: ProviderClient, double: ProviderDouble, clock: FakeClock, tmp_path: Path, sleeps: Sleeps
) -> None:
    url = await completed_task(client, clock)
    double.inject("GET", FILES_PATH, 503)
    assert await client.download(url, tmp_path / "v.mp4", max_bytes=10_000_000) > 0
    assert len(sleeps) == 1


@pytest.mark.parametrize("layout", ["parent_is_file", "dest_is_directory"])
async def test_disk_trouble_is_a_disk_error(
    client: ProviderClient, clock: FakeClock, tmp_path: Path, sleeps: Sleeps, layout: str
) -> None:
    url = await completed_task(client, clock)
    if layout == "parent_is_file":
        (tmp_path / "blocker").write_text("")
        dest = tmp_path / "blocker" / "v.mp4"
    else:
        dest = tmp_path / "v.mp4"
        dest.mkdir()
    with pytest.raises(DownloadError) as caught:
        await client.download(url, dest, max_bytes=10_000_000)
    assert caught.value.kind == "disk" and sleeps == []
    assert not (tmp_path / "v.mp4.part").exists()


async def test_unreachable_download_host_is_network(
    cdn_client: ProviderClient, tmp_path: Path, sleeps: Sleeps
) -> None:
    client = cdn_client
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError) as caught:
        await client.download(f"http://127.0.0.1:{port}/v.mp4", tmp_path / "v.mp4", max_bytes=10)
    assert caught.value.kind == "network" and len(sleeps) == 2


@pytest.mark.parametrize(
    "url", ["ftp://files.example.com/v.mp4", "file:///etc/passwd", "not a link", ""]
)
async def test_unusable_link_is_refused_without_a_request(
    client: ProviderClient, tmp_path: Path, sleeps: Sleeps, url: str
) -> None:
    with pytest.raises(DownloadError) as caught:
        await client.download(url, tmp_path / "v.mp4", max_bytes=10)
    assert caught.value.kind == "refused" and sleeps == []


async def test_key_not_sent_to_a_foreign_origin(
    cdn_client: ProviderClient,
    double: ProviderDouble,
    clock: FakeClock,
    foreign: tuple[str, list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    client = cdn_client
    base, seen = foreign
    assert await client.download(f"{base}/plain.mp4", tmp_path / "a.mp4", max_bytes=10_000) == 1000
    assert len(seen) == 1
    assert not any(name.lower() == "authorization" for name in seen[0])
    assert KEY not in repr(seen[0])
    url = await completed_task(client, clock)
    await client.download(url, tmp_path / "b.mp4", max_bytes=10_000_000)
    assert double.downloads()[0].headers["Authorization"] == f"Bearer {KEY}"  # same origin


# -- the key stays secret ----------------------------------------------------------------------


async def test_key_never_in_errors_reprs_or_logs(
    session: aiohttp.ClientSession,
    double: ProviderDouble,
    sleeps: Sleeps,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(session, double.base_url, sleeps, request_timeout=0.1)
    assert KEY not in repr(client) and KEY not in str(client)
    echo = b'{"error": {"message": "bad key ' + KEY.encode() + b'", "type": "x"}}'
    double.inject("POST", CREATE_PATH, 400, body=echo)
    double.inject("POST", CREATE_PATH, 429, times=3)
    double.inject("GET", TASKS_PATH, 200, reset=True, times=10)
    double.inject("POST", CREATE_PATH, 200, delay=0.3)
    errors: list[BaseException] = []
    for call in (
        lambda: client.create(OPTIONS),
        lambda: client.create(OPTIONS),
        lambda: client.get_task("task-unified-1-abc"),
        lambda: client.create(OPTIONS),
        lambda: client.download(double.result_url("nope"), tmp_path / "v.mp4", max_bytes=10),
    ):
        with pytest.raises(ProviderError) as caught:
            await call()
        errors.append(caught.value)
    assert "[redacted]" in str(errors[0])
    assert [type(e) for e in errors] == [
        BadRequest,
        RateLimited,
        ProviderUnavailable,
        SubmissionUncertain,
        DownloadError,
    ]
    for error in errors:
        text = "".join(traceback.format_exception(error)) + repr(error) + repr(vars(error))
        assert KEY not in text
    assert caplog.records, "retries should have been logged"
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert KEY not in caplog.text


# -- the double itself answers like the real API -----------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"model": "sora-1"}, 404, "model"),
        ({"prompt": ""}, 400, "prompt"),
        ({"prompt": "x" * 5001}, 400, "prompt"),
        ({"aspect_ratio": "1:1"}, 400, "aspect_ratio"),
        ({"duration": 12}, 400, "duration"),
        ({"duration": True}, 400, "duration"),
        ({"image_urls": ["https://a.example/1.png", "https://a.example/2.png"]}, 400, "image_urls"),
        ({"image_urls": ["not a uri"]}, 400, "image_urls"),
        ({"remove_watermark": "yes"}, 400, "remove_watermark"),
        ({"callback_url": "http://bot.example.com/hook"}, 400, "callback_url"),
        ({"callback_url": "https://10.0.0.1/hook"}, 400, "callback_url"),
    ],
)
async def test_double_refuses_invalid_create_bodies(
    session: aiohttp.ClientSession,
    double: ProviderDouble,
    change: dict[str, Any],
    status: int,
    param: str,
) -> None:
    body = {"model": "sora-2", "prompt": "a cat"} | change
    headers = {"Authorization": f"Bearer {KEY}"}
    async with session.post(double.base_url + CREATE_PATH, json=body, headers=headers) as resp:
        assert resp.status == status
        error = (await resp.json())["error"]
    assert (error["code"], error["param"]) == (status, param)
    assert not double.tasks


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_double_requires_the_bearer_key(
    session: aiohttp.ClientSession, double: ProviderDouble, headers: dict[str, str]
) -> None:
    body = {"model": "sora-2", "prompt": "a cat"}
    async with session.post(double.base_url + CREATE_PATH, json=body, headers=headers) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["type"] == "authentication_error"


async def test_longest_prompt_is_accepted(client: ProviderClient, double: ProviderDouble) -> None:
    task = await client.create(VideoOptions("x" * 5000))
    assert task.id in double.tasks


# -- result links are untrusted ----------------------------------------------------------------


@pytest.fixture
async def elsewhere() -> AsyncIterator[RecordingHost]:
    """Another origin on 127.0.0.1 that must never be asked by a client that refuses it."""
    async with running_recording_host() as host:
        yield host


def hostile_link(kind: str, double: ProviderDouble, host: RecordingHost) -> str:
    port = URL(host.base_url).port
    return {
        "another_port": f"{host.base_url}/v.mp4",
        "localhost": f"http://localhost:{port}/v.mp4",  # refused after DNS
        "mapped_ipv6": f"http://[::ffff:127.0.0.1]:{port}/v.mp4",
        "redirect_to_private": double.add_redirect("p", f"{host.base_url}/v.mp4"),
        "redirect_to_localhost": double.add_redirect("l", f"http://localhost:{port}/v.mp4"),
        "redirect_to_file": double.add_redirect("f", "file:///etc/passwd"),
        "relative_redirect_to_ftp": double.add_redirect("r", "ftp://127.0.0.1/v.mp4", 307),
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "another_port",
        "localhost",
        "mapped_ipv6",
        "redirect_to_private",
        "redirect_to_localhost",
        "redirect_to_file",
        "relative_redirect_to_ftp",
    ],
)
async def test_link_to_a_private_place_is_refused_before_any_request(
    client: ProviderClient,
    double: ProviderDouble,
    elsewhere: RecordingHost,
    tmp_path: Path,
    sleeps: Sleeps,
    kind: str,
) -> None:
    dest = tmp_path / "videos" / "v.mp4"
    with pytest.raises(DownloadError) as caught:
        await client.download(hostile_link(kind, double, elsewhere), dest, max_bytes=10_000_000)
    assert caught.value.kind == "refused" and not caught.value.retryable
    assert elsewhere.requests == []  # nothing was sent there
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []
    assert sleeps == []  # a refusal is final


async def test_a_name_that_resolves_to_a_private_address_is_refused(
    session: aiohttp.ClientSession,
    double: ProviderDouble,
    elsewhere: RecordingHost,
    sleeps: Sleeps,
    tmp_path: Path,
) -> None:
    dns = StaticResolver({"videos.example.test": "127.0.0.1"})  # rebound to a private address
    client = make_client(session, double.base_url, sleeps, resolver=lambda: dns)
    link = f"http://videos.example.test:{URL(elsewhere.base_url).port}/v.mp4"
    with pytest.raises(DownloadError) as caught:
        await client.download(link, tmp_path / "v.mp4", max_bytes=10_000_000)
    assert caught.value.kind == "refused"
    assert dns.lookups == ["videos.example.test"] and elsewhere.requests == []


async def test_public_name_is_fetched_and_the_key_stays_at_the_api(
    session: aiohttp.ClientSession,
    double: ProviderDouble,
    elsewhere: RecordingHost,
    sleeps: Sleeps,
    tmp_path: Path,
) -> None:
    # The test's "public" CDN lives on 127.0.0.1: the injected check counts loopback as public.
    dns = StaticResolver({"cdn.example.test": "127.0.0.1"})
    client = make_client(
        session,
        double.base_url,
        sleeps,
        resolver=lambda: dns,
        address_allowed=loopback_is_public,
    )
    cdn = f"http://cdn.example.test:{URL(elsewhere.base_url).port}/v.mp4?sig=x"
    link = double.add_redirect("cdn", cdn, 302)
    dest = tmp_path / "v.mp4"
    assert await client.download(link, dest, max_bytes=10_000_000) == len(double.video_bytes)
    assert dest.read_bytes() == double.video_bytes
    [hop] = [r for r in double.requests if r.path.startswith("/redirect/")]
    assert hop.headers["Authorization"] == f"Bearer {KEY}"  # the API's origin
    [fetched] = elsewhere.requests
    assert "Authorization" not in fetched.headers and dns.lookups == ["cdn.example.test"]


async def test_redirect_loop_ends_after_a_few_hops(
    client: ProviderClient, double: ProviderDouble, tmp_path: Path
) -> None:
    link = double.add_redirect("loop", f"{double.base_url}/redirect/loop")
    with pytest.raises(DownloadError) as caught:
        await client.download(link, tmp_path / "v.mp4", max_bytes=10_000_000)
    assert caught.value.kind == "refused"
    assert len([r for r in double.requests if r.path == "/redirect/loop"]) == MAX_REDIRECTS + 1


# -- every outside call has a deadline ---------------------------------------------------------


async def test_trickling_query_is_cut_by_the_attempt_budget(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(session, double.base_url, sleeps, request_timeout=0.3, max_retries=0)
    task = await client.create(OPTIONS)
    double.inject("GET", TASKS_PATH, 200, trickle=0.05)  # a byte well within each read timeout
    started = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(ProviderUnavailable):
            await client.get_task(task.id)
    assert time.monotonic() - started < 1.0


async def test_trickling_create_is_cut_and_uncertain(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(session, double.base_url, sleeps, request_timeout=0.3)
    double.inject("POST", CREATE_PATH, 200, trickle=0.05)
    started = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(SubmissionUncertain):
            await client.create(OPTIONS)
    assert time.monotonic() - started < 1.0 and len(double.creates()) == 1


async def test_a_whole_call_with_its_retries_has_a_budget(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(
        session,
        double.base_url,
        sleeps,
        request_timeout=0.3,
        call_timeout=1.0,
        max_retries=50,
        backoff_base=0.01,
    )
    task = await client.create(OPTIONS)
    double.inject("GET", TASKS_PATH, 200, trickle=0.05, times=100)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        await client.get_task(task.id)
    assert time.monotonic() - started < 1.6
    assert 2 <= len(double.polls(task.id)) <= 4


async def test_trickling_download_is_cut_by_its_budget(
    session: aiohttp.ClientSession, double: ProviderDouble, clock: FakeClock, tmp_path: Path
) -> None:
    client = make_client(
        session, double.base_url, Sleeps(), request_timeout=0.3, download_timeout=0.8
    )
    url = await completed_task(client, clock)
    double.inject("GET", FILES_PATH, 200, trickle=0.02, times=100)
    started = time.monotonic()
    async with asyncio.timeout(5):
        with pytest.raises(DownloadError) as caught:
            await client.download(url, tmp_path / "v.mp4", max_bytes=10_000_000)
    assert caught.value.retryable  # the job may try again later, within its own timeout
    assert time.monotonic() - started < 1.5 and list(tmp_path.iterdir()) == []


async def test_a_hanging_call_does_not_hold_the_slot_others_need(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(
        session, double.base_url, sleeps, max_concurrency=1, request_timeout=0.4, max_retries=1
    )
    hanging, healthy = await client.create(OPTIONS), await client.create(OPTIONS)
    double.inject("GET", TASKS_PATH + hanging.id, 200, trickle=0.05, times=100)
    stuck = asyncio.create_task(client.get_task(hanging.id))
    await asyncio.sleep(0.05)  # the hanging query holds the only slot
    started = time.monotonic()
    async with asyncio.timeout(3):
        assert (await client.get_task(healthy.id)).id == healthy.id
    assert time.monotonic() - started < 1.0  # at most one attempt's budget of waiting
    with pytest.raises(ProviderUnavailable):
        await stuck


# -- every answer has a size cap ---------------------------------------------------------------

HUGE = 50 * 1024 * 1024


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        ("GET", 200, ProviderUnavailable),
        ("POST", 200, SubmissionUncertain),
        ("GET", 500, ProviderServerError),  # an error status keeps its meaning, not its body
    ],
)
async def test_huge_chunked_answer_is_read_no_further(
    session: aiohttp.ClientSession,
    double: ProviderDouble,
    sleeps: Sleeps,
    method: str,
    status: int,
    expected: type[Exception],
) -> None:
    client = make_client(session, double.base_url, sleeps, max_retries=0)
    path = CREATE_PATH if method == "POST" else TASKS_PATH
    double.inject(method, path, status, stream_bytes=HUGE)
    tracemalloc.start()
    try:
        with pytest.raises(expected):
            if method == "POST":
                await client.create(OPTIONS)
            else:
                await client.get_task("task-unified-1-huge")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


async def test_answer_announced_too_large_is_not_read(
    session: aiohttp.ClientSession, double: ProviderDouble, sleeps: Sleeps
) -> None:
    client = make_client(session, double.base_url, sleeps, max_retries=0)
    task = await client.create(OPTIONS)
    padded = b'{"id": "%s", "status": "pending", "pad": "%s"}' % (
        task.id.encode(),
        b"x" * MAX_ANSWER_BYTES,
    )
    double.inject("GET", TASKS_PATH, 200, body=padded)
    with pytest.raises(ProviderUnavailable):
        await client.get_task(task.id)


# -- answers are checked, not believed ---------------------------------------------------------


async def test_answer_naming_another_task_is_never_used(
    client: ProviderClient,
    double: ProviderDouble,
    clock: FakeClock,
    elsewhere: RecordingHost,
    sleeps: Sleeps,
) -> None:
    mine, other = await client.create(OPTIONS), await client.create(OPTIONS)
    clock.now += 1000
    double.link_for = lambda task_id: f"{elsewhere.base_url}/{task_id}.mp4"
    stranger = json.dumps(double._task_json(double.tasks[other.id])).encode()
    double.inject("GET", TASKS_PATH + mine.id, 200, body=stranger, times=3)
    with pytest.raises(MismatchedAnswer):
        await client.get_task(mine.id)
    assert len(double.polls(mine.id)) == 3 and len(sleeps) == 2  # retried like a garbled body
    assert (await client.get_task(mine.id)).id == mine.id
    assert elsewhere.requests == []


async def test_hostile_numbers_in_an_answer_are_clamped_not_raised(
    client: ProviderClient, double: ProviderDouble
) -> None:
    task = await client.create(OPTIONS)
    hostile = (
        b'{"id": "%s", "status": "processing", "progress": NaN, "created": -Infinity,'
        b' "task_info": {"estimated_time": 1e300}, "usage": {"credits_reserved": -5}}'
    ) % task.id.encode()
    double.inject("GET", TASKS_PATH, 200, body=hostile)
    seen = await client.get_task(task.id)
    assert (seen.progress, seen.estimated_time, seen.created, seen.credits_reserved) == (
        0,
        None,
        None,
        None,
    )
