"""A local double of the video provider (aiohttp.web on 127.0.0.1) for tests and benchmarks."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict
from yarl import URL

PREFIX = "/apiv1"
CREATE_PATH = "/v1/videos/generations"
TASKS_PATH = "/v1/tasks/"
FILES_PATH = "/files/"
REDIRECT_PATH = "/redirect/"

# Task failure codes from the provider reference, with a provider-like message each.
FAILURE_CODES: dict[str, str] = {
    "content_policy_violation": "Your request was blocked by our content moderation system.",
    "invalid_parameters": "The request parameters were rejected.",
    "image_processing_error": "The input image could not be processed.",
    "image_dimension_mismatch": "The image dimensions do not match the aspect ratio.",
    "request_cancelled": "The request was cancelled.",
    "generation_failed_no_content": "The model did not produce any content.",
    "service_error": "Internal service error.",
    "generation_timeout": "Generation timed out.",
    "resource_exhausted": "Resources are exhausted, try again later.",
    "service_unavailable": "The service is temporarily unavailable.",
    "quota_exceeded": "Upstream quota exceeded.",
    "resource_not_found": "The task was not found or has expired.",
    "unknown_error": "An unknown error occurred.",
}

# Error envelopes as documented: status -> (message, type, param, fallback_suggestion).
ENVELOPES: dict[int, tuple[str, str, str | None, str | None]] = {
    400: ("Invalid request parameters", "invalid_request_error", None, None),
    401: ("Invalid or expired token", "authentication_error", None, None),
    402: (
        "Insufficient quota",
        "insufficient_quota_error",
        None,
        "https://example.invalid/billing",
    ),
    403: ("Access denied for this model", "permission_error", "model", None),
    404: ("Specified model not found", "not_found_error", "model", "sora-2"),
    413: (
        "Image file too large",
        "request_too_large_error",
        "image_urls",
        "compress image to under 4MB",
    ),
    429: ("Rate limit exceeded", "rate_limit_error", None, "retry after 60 seconds"),
    500: ("Internal server error", "internal_server_error", None, "try again later"),
    502: ("Upstream AI service unavailable", "upstream_error", None, "try different model"),
    503: (
        "Service temporarily unavailable",
        "service_unavailable_error",
        None,
        "retry after 30 seconds",
    ),
}

_FAIL_MARK = re.compile(r"\[fail:([a-z_]+)\]")
_SECONDS_MARK = re.compile(r"\[seconds:(\d+(?:\.\d+)?)\]")
_TASK_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_JSON_BODY = web.RequestKey[dict[str, Any] | None]("json_body", dict)


@cache
def default_video_bytes(size: int = 200_000) -> bytes:
    """A deterministic pseudo-random blob that starts with an mp4 ``ftyp`` box."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return head + random.Random(2025).randbytes(size - len(head))


@dataclass
class RecordedRequest:
    """One request the double received; ``path`` is relative to the base URL."""

    method: str
    path: str
    headers: CIMultiDict[str]
    json: Any
    time: float


@dataclass
class DoubleTask:
    """A task held by the double; its status follows ``clock()``."""

    id: str
    created_at: float
    created: int
    body: dict[str, Any]
    seconds: float
    fail_code: str | None = None
    fail_message: str | None = None

    @property
    def image_urls(self) -> list[str]:
        """The image URLs the create request carried (image-to-video)."""
        return list(self.body.get("image_urls") or [])

    def state(self, now: float) -> tuple[str, int]:
        """Status and progress at clock time ``now``."""
        elapsed = now - self.created_at
        if elapsed >= self.seconds:
            return (
                ("failed", _progress(elapsed, self.seconds))
                if self.fail_code
                else (
                    "completed",
                    100,
                )
            )
        progress = _progress(elapsed, self.seconds)
        return ("pending", 0) if elapsed < self.seconds * 0.1 else ("processing", progress)


@dataclass
class Fault:
    """A queued misbehaviour for requests matching ``method`` and ``path_prefix``."""

    method: str
    path_prefix: str
    status: int
    times: int
    retry_after: float | None = None
    body: bytes | None = None
    delay: float = 0.0
    reset: bool = False
    trickle: float = 0.0  # seconds between single bytes of the answer
    stream_bytes: int = 0  # answer this many bytes of chunked JSON (no Content-Length)


@dataclass
class _Truncation:
    at_bytes: int
    times: int


class ProviderDouble:
    """Serves the provider API (create, query, result files) with injectable faults."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        clock: Callable[[], float] = time.monotonic,
        task_seconds: float = 1.0,
        estimated_time: int = 300,
        video_bytes: bytes | None = None,
        callback_rewrite: tuple[str, str] | None = None,
    ) -> None:
        self.api_key = api_key
        # Opt-in: call each task's callback_url when it ends, with this (public prefix,
        # local prefix) replacement so that the public https URL reaches a local server.
        self.callback_rewrite = callback_rewrite
        self.callbacks_sent: list[tuple[str, int]] = []  # (task id, HTTP status or 0)
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self.clock = clock
        self.task_seconds = task_seconds
        self.estimated_time = estimated_time
        self.video_bytes = default_video_bytes() if video_bytes is None else video_bytes
        self.requests: list[RecordedRequest] = []
        self.tasks: dict[str, DoubleTask] = {}
        self.faults: list[Fault] = []
        self.results_expired = False
        self.in_flight = 0
        self.max_in_flight = 0
        self.base_url = ""
        # The result link a completed task reports (default: the double's own file URL).
        self.link_for: Callable[[str], str] | None = None
        self.redirects: dict[str, tuple[int, str]] = {}
        self._next_failure: tuple[str, str | None] | None = None
        self._truncations: list[_Truncation] = []
        self._counter = 0
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return the base URL (``…/apiv1``)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post(PREFIX + CREATE_PATH, self._create)
        app.router.add_get(PREFIX + TASKS_PATH + "{task_id}", self._query)
        app.router.add_get(PREFIX + FILES_PATH + "{name}", self._file)
        app.router.add_get(PREFIX + REDIRECT_PATH + "{name}", self._redirect)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{port}{PREFIX}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving and close open connections."""
        for pending in list(self._callback_tasks):
            pending.cancel()
        await asyncio.gather(*self._callback_tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- scripting ---------------------------------------------------------------------------

    def fail_next_task(self, code: str, message: str | None = None) -> None:
        """Make the next created task end ``failed`` with this business code."""
        self._next_failure = (code, message)

    def inject(
        self,
        method: str,
        path_prefix: str,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
        reset: bool = False,
        trickle: float = 0.0,
        stream_bytes: int = 0,
    ) -> None:
        """Queue a fault for the next ``times`` matching requests (paths relative to the base).

        Status >= 400 answers the documented envelope (or ``body`` raw) without processing.
        Status 200 processes the request (a create does create the task) and then answers
        ``body`` raw instead of the real answer, or resets the connection when ``reset``.
        ``delay`` sleeps first (a slow answer). Like the real API, 429/503 envelopes suggest
        "retry after 60/30 seconds": pass ``retry_after`` (sent as the Retry-After header) to
        keep clients that honour it fast. Hostile answers, with ``status`` as given:
        ``trickle`` sends the answer (or the result file) one byte every ``trickle`` seconds;
        ``stream_bytes`` sends that many bytes of one endless-looking chunked JSON object.
        """
        fault = Fault(
            method.upper(),
            path_prefix,
            status,
            times,
            retry_after,
            body,
            delay,
            reset,
            trickle,
            stream_bytes,
        )
        self.faults.append(fault)

    def add_redirect(self, name: str, location: str, status: int = 302) -> str:
        """A URL at the API's origin that answers a redirect to ``location``."""
        self.redirects[name] = (status, location)
        return f"{self.base_url}{REDIRECT_PATH}{name}"

    def expire_results(self) -> None:
        """Result links answer 404 from now on, like links older than 24 hours."""
        self.results_expired = True

    def truncate_downloads(self, at_bytes: int, times: int = 1) -> None:
        """The next ``times`` downloads announce the full length but stop after ``at_bytes``."""
        self._truncations.append(_Truncation(at_bytes, times))

    def creates(self) -> list[RecordedRequest]:
        """The create requests received."""
        return [r for r in self.requests if r.method == "POST" and r.path == CREATE_PATH]

    def polls(self, task_id: str | None = None) -> list[RecordedRequest]:
        """The task queries received (for one task id when given)."""
        wanted = TASKS_PATH + task_id if task_id is not None else TASKS_PATH
        return [
            r
            for r in self.requests
            if r.method == "GET"
            and (r.path == wanted if task_id is not None else r.path.startswith(wanted))
        ]

    def downloads(self) -> list[RecordedRequest]:
        """The result file requests received."""
        return [r for r in self.requests if r.path.startswith(FILES_PATH)]

    def result_url(self, task_id: str) -> str:
        """The double's own file URL of a task's video."""
        return f"{self.base_url}{FILES_PATH}{task_id}.mp4"

    # -- request handling --------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path.removeprefix(PREFIX)
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = None
        request[_JSON_BODY] = body if isinstance(body, dict) else None
        self.requests.append(
            RecordedRequest(request.method, path, CIMultiDict(request.headers), body, self.clock())
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            fault = self._take_fault(request.method, path)
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.stream_bytes:
                return await _stream_json(request, fault.status, fault.stream_bytes)
            if fault is not None and fault.trickle:
                return await self._trickle(request, handler, fault)
            if fault is not None and fault.status >= 400:
                return _error(fault.status, raw=fault.body, retry_after=fault.retry_after)
            response = await handler(request)
            if fault is not None and fault.reset:
                _reset(request)
            elif fault is not None and fault.body is not None:
                return web.Response(status=fault.status, body=fault.body)
            return response
        finally:
            self.in_flight -= 1

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and path.startswith(fault.path_prefix) and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401)
        body = request[_JSON_BODY]
        problem = _validate(body)
        if problem is not None or body is None:
            return problem or _error(400)
        task = self._new_task(body)
        self.tasks[task.id] = task
        if self.callback_rewrite is not None and "callback_url" in body:
            call = asyncio.create_task(self._call_back(task, body["callback_url"]))
            self._callback_tasks.add(call)
            call.add_done_callback(self._callback_tasks.discard)
        duration = body.get("duration", 10)
        credits = {10: 5, 15: 8}[duration] + (2 if body.get("remove_watermark", True) else 0)
        answer = self._task_json(task) | {
            "task_info": {
                "can_cancel": True,
                "estimated_time": self.estimated_time,
                "video_duration": duration - 1,
            },
            "usage": {
                "billing_rule": "per_call",
                "credits_reserved": credits,
                "user_group": "default",
            },
        }
        return web.json_response(answer)

    def _new_task(self, body: dict[str, Any]) -> DoubleTask:
        self._counter += 1
        created = int(time.time())
        prompt = body["prompt"]
        seconds_mark = _SECONDS_MARK.search(prompt)
        fail_mark = _FAIL_MARK.search(prompt)
        task = DoubleTask(
            id=f"task-unified-{created}-{self._counter:08x}",
            created_at=self.clock(),
            created=created,
            body=body,
            seconds=float(seconds_mark.group(1)) if seconds_mark else self.task_seconds,
        )
        if fail_mark:
            task.fail_code = fail_mark.group(1)
        elif self._next_failure is not None:
            task.fail_code, task.fail_message = self._next_failure
            self._next_failure = None
        if task.fail_code and task.fail_message is None:
            task.fail_message = FAILURE_CODES.get(task.fail_code, "Generation failed.")
        return task

    async def _call_back(self, task: DoubleTask, url: str) -> None:
        """Like the provider: POST the task JSON when it ends; 3 retries after 1/2/4 s."""
        import aiohttp

        assert self.callback_rewrite is not None
        public, local = self.callback_rewrite
        target = local + url.removeprefix(public)
        await asyncio.sleep(max(0.0, task.created_at + task.seconds - self.clock()))
        async with aiohttp.ClientSession() as session:
            for wait in (1, 2, 4, None):
                status = 0
                try:
                    async with session.post(
                        target, json=self._task_json(task), timeout=aiohttp.ClientTimeout(10)
                    ) as resp:
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                self.callbacks_sent.append((task.id, status))
                if 200 <= status < 300 or wait is None:
                    return
                await asyncio.sleep(wait)

    async def _query(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401)
        task_id = request.match_info["task_id"]
        if not _TASK_ID.match(task_id):
            return _error(400, message="Malformed task id", param="task_id")
        task = self.tasks.get(task_id)
        if task is None:
            return _error(404, message="Task not found", param="task_id", suggestion="")
        return web.json_response(self._task_json(task))

    def _task_json(self, task: DoubleTask) -> dict[str, Any]:
        status, progress = task.state(self.clock())
        finished = status in ("completed", "failed")
        answer: dict[str, Any] = {
            "created": task.created,
            "id": task.id,
            "model": "sora-2",
            "object": "video.generation.task",
            "progress": progress,
            "status": status,
            "task_info": {"can_cancel": not finished},
            "type": "video",
        }
        if not finished:
            answer["task_info"]["estimated_time"] = self.estimated_time
        if status == "completed":
            link = self.result_url(task.id) if self.link_for is None else self.link_for(task.id)
            answer["results"] = [link]
        if status == "failed":
            answer["error"] = {"code": task.fail_code, "message": task.fail_message}
        return answer

    async def _trickle(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        fault: Fault,
    ) -> web.StreamResponse:
        """The real answer (or ``fault.body``), one byte every ``fault.trickle`` seconds."""
        if fault.body is not None:
            data = fault.body
        elif request.path.removeprefix(PREFIX).startswith(FILES_PATH):
            data = self.video_bytes
        else:
            answer = await handler(request)
            body = answer.body if isinstance(answer, web.Response) else b""
            data = bytes(body) if isinstance(body, bytes | bytearray) else b""
        response = web.StreamResponse(status=fault.status)
        response.content_length = len(data)
        await response.prepare(request)
        try:
            for index in range(len(data)):
                await response.write(data[index : index + 1])
                await asyncio.sleep(fault.trickle)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        status, location = self.redirects[request.match_info["name"]]
        return web.Response(status=status, headers={"Location": location})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["name"].removesuffix(".mp4"))
        if self.results_expired or task is None or task.state(self.clock())[0] != "completed":
            return web.Response(status=404, text="Not Found")
        data = self.video_bytes
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = len(data)
        await response.prepare(request)
        truncation = self._truncations[0] if self._truncations else None
        if truncation is not None:
            truncation.times -= 1
            if truncation.times <= 0:
                self._truncations.pop(0)
            await response.write(data[: truncation.at_bytes])
            _reset(request)
            return response
        for start in range(0, len(data), 64 * 1024):
            await response.write(data[start : start + 64 * 1024])
        await response.write_eof()
        return response


async def _stream_json(request: web.Request, status: int, size: int) -> web.StreamResponse:
    """``size`` bytes of one JSON object, chunked (one reused chunk: the double stays small)."""
    response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk = b"x" * (64 * 1024)
    try:
        await response.write(b'{"id": "task-unified-1-huge", "status": "pending", "pad": "')
        for _ in range(size // len(chunk)):
            await response.write(chunk)
        await response.write(b'"}')
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client stopped reading and hung up
    return response


def _progress(elapsed: float, seconds: float) -> int:
    if seconds <= 0:
        return 100
    return int(max(0.0, min(100.0, elapsed / seconds * 100)))


def _error(
    status: int,
    *,
    raw: bytes | None = None,
    retry_after: float | None = None,
    message: str | None = None,
    param: str | None = None,
    suggestion: str | None = None,
) -> web.Response:
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    if raw is not None:
        return web.Response(status=status, body=raw, headers=headers)
    default = ENVELOPES.get(status, ("Error", "api_error", None, None))
    error: dict[str, Any] = {"code": status, "message": message or default[0], "type": default[1]}
    if (param or default[2]) is not None:
        error["param"] = param or default[2]
    if suggestion if suggestion is not None else default[3]:
        error["fallback_suggestion"] = suggestion if suggestion is not None else default[3]
    return web.json_response({"error": error}, status=status, headers=headers)


def _validate(body: Any) -> web.Response | None:
    """The 400/404 answer the real API gives for this create body, or None when it is valid."""
    if not isinstance(body, dict):
        return _error(400, message="Request body must be a JSON object")
    if "model" not in body:
        return _error(400, message="model is required", param="model")
    if body["model"] != "sora-2":
        return _error(404, param="model")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _error(400, message="prompt is required", param="prompt")
    if len(prompt) > 5000:
        return _error(400, message="prompt is too long", param="prompt")
    if body.get("aspect_ratio", "16:9") not in ("16:9", "9:16"):
        return _error(400, message="Invalid aspect_ratio parameter", param="aspect_ratio")
    duration = body.get("duration", 10)
    if isinstance(duration, bool) or duration not in (10, 15):
        return _error(
            400,
            message="Invalid duration parameter",
            param="duration",
            suggestion="use duration 10 or 15",
        )
    images = body.get("image_urls", [])
    if not isinstance(images, list) or len(images) > 1 or not all(map(_is_uri, images)):
        return _error(400, message="Invalid image_urls parameter", param="image_urls")
    if not isinstance(body.get("remove_watermark", True), bool):
        return _error(400, message="remove_watermark must be a boolean", param="remove_watermark")
    if "callback_url" in body and not _is_public_https(body["callback_url"]):
        return _error(400, message="Invalid callback_url parameter", param="callback_url")
    return None


def _is_uri(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        url = URL(value)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _is_public_https(value: Any) -> bool:
    if not _is_uri(value) or len(value) > 2048 or URL(value).scheme != "https":
        return False
    host = URL(value).host or ""
    if host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return address.is_global


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP reset (no answer)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class StaticResolver(AbstractResolver):
    """A DNS that knows a few names (``{"cdn.example.test": "127.0.0.1"}``); others fail."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        if host not in self.names:
            raise OSError(f"unknown host {host}")
        address = self.names[host]
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
        ]

    async def close(self) -> None:
        return None


@dataclass
class RecordingHost:
    """A second tiny server (another origin) that serves a video and records every request."""

    base_url: str
    requests: list[RecordedRequest]


@asynccontextmanager
async def running_recording_host(
    video_bytes: bytes | None = None,
) -> AsyncIterator[RecordingHost]:
    """``async with running_recording_host() as host:`` — ``host.requests`` must stay empty
    when the bot is expected not to contact it."""
    data = default_video_bytes() if video_bytes is None else video_bytes
    host = RecordingHost("", [])

    async def serve(request: web.Request) -> web.Response:
        host.requests.append(
            RecordedRequest(
                request.method, request.path, CIMultiDict(request.headers), None, time.time()
            )
        )
        return web.Response(body=data, content_type="video/mp4")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", serve)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    host.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield host
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running_provider(**kwargs: Any) -> AsyncIterator[ProviderDouble]:
    """``async with running_provider(task_seconds=0.1) as double:`` — started, stopped after."""
    double = ProviderDouble(**kwargs)
    await double.start()
    try:
        yield double
    finally:
        await double.stop()
