"""HTTP client of the video provider: create, query, download, with retries that never duplicate."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, Protocol
from urllib.parse import quote

import aiohttp
from yarl import URL

from sora_bot.errors import ConfigError
from sora_bot.models import MODEL, Task, VideoOptions
from sora_bot.outside_text import SecretRedactor, clean_outside_code, clean_outside_text
from sora_bot.provider.answers import error_envelope, parse_task, retry_after
from sora_bot.provider.errors import (
    DownloadError,
    NotFound,
    ProviderUnavailable,
    SoraAPIError,
    SubmissionUncertain,
    error_for_status,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
EXPIRED_STATUSES = frozenset({403, 404, 410})
# A well-formed id that no provider task can have: used by ``check_key``.
PROBE_TASK_ID = "task-unified-0-doctorprobe"


class ProviderObserver(Protocol):
    """Told about every HTTP attempt (metrics, health)."""

    def provider_answer(self, status: int | None, code: str | None = None) -> None:
        """An attempt ended with this HTTP status (None: no answer) and error type."""


class _Transient(Exception):
    """One attempt got no usable answer; ``sent`` says whether the request may have arrived."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


class ProviderClient:
    """Talks to the provider over a shared aiohttp session; the API key never leaves this object."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        max_concurrency: int = 4,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        request_timeout: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: ProviderObserver | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        base = URL(base_url.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.host:
            raise ConfigError("provider base URL must be an absolute http(s) URL")
        if not api_key or any(ch.isspace() or not ch.isprintable() for ch in api_key):
            raise ConfigError("provider API key is empty or contains invalid characters")
        self._session = session
        self._base = base
        self._origin = base.origin()
        self._auth = f"Bearer {api_key}"
        # Provider text is cleaned of every secret we hold (``secrets``: e.g. the Discord token).
        self._redactor = SecretRedactor((api_key, *secrets))
        self._max_concurrency = max_concurrency
        self._semaphore = asyncio.Semaphore(max_concurrency)
        # Downloads take long: their own slots, so big transfers never hold up polls.
        self._download_semaphore = asyncio.Semaphore(max(1, max_concurrency // 2))
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._timeout = request_timeout
        self._sleep = sleep
        self._observer = observer

    def __repr__(self) -> str:
        return (
            f"ProviderClient(base_url={str(self._base)!r}, "
            f"max_concurrency={self._max_concurrency}, max_retries={self._max_retries})"
        )

    async def create(self, options: VideoOptions, *, callback_url: str | None = None) -> Task:
        """Submit one generation task; never retried once the provider may have received it."""
        body: dict[str, Any] = {
            "model": MODEL,
            "prompt": options.prompt,
            "aspect_ratio": options.aspect_ratio,
            "duration": options.duration,
            "remove_watermark": options.remove_watermark,
        }
        if options.image_url:
            body["image_urls"] = [options.image_url]
        if callback_url:
            body["callback_url"] = callback_url
        return await self._call("POST", "/v1/videos/generations", body=body, label="create")

    async def get_task(self, task_id: str) -> Task:
        """Query a task by id, retrying transient trouble."""
        if not task_id:
            raise ValueError("task id is empty")
        path = "/v1/tasks/" + quote(task_id, safe="")
        return await self._call("GET", path, label=f"task {task_id}")

    async def check_key(self) -> None:
        """Make a cheap authenticated call; returns if the key is accepted, else raises."""
        try:
            await self.get_task(PROBE_TASK_ID)
        except NotFound as exc:
            if exc.type is None:  # a bare 404 means a wrong base URL, not a good key
                raise
            return

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Stream a result file to ``dest`` (via a ``.part`` file); return the bytes written."""
        part = dest.with_suffix(dest.suffix + ".part")
        attempt = 0
        while True:
            try:
                return await self._download_once(url, dest, part, max_bytes)
            except BaseException as exc:
                _remove_quietly(part)
                if not isinstance(exc, DownloadError) or not exc.retryable:
                    raise
                if attempt >= self._max_retries:
                    raise
                attempt += 1
                delay = self._backoff(attempt)
                log.warning(
                    "download of %s failed (%s: %s); retry %d/%d in %.1fs",
                    _redact_url(url),
                    exc.kind,
                    exc,
                    attempt,
                    self._max_retries,
                    delay,
                )
                await self._sleep(delay)

    # -- API calls ---------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, *, label: str, body: dict[str, Any] | None = None
    ) -> Task:
        creating = method == "POST"
        attempt = 0
        while True:
            try:
                return await self._attempt(method, self._api_url(path), body)
            except SoraAPIError as exc:
                if not exc.retryable or attempt >= self._max_retries:
                    raise
                wait = exc.retry_after
                reason = f"HTTP {exc.status}"
            except _Transient as exc:
                if creating and exc.sent:
                    raise SubmissionUncertain(
                        f"create request may have reached the provider ({exc.reason})"
                    ) from exc
                if attempt >= self._max_retries:
                    raise ProviderUnavailable(f"provider {label}: {exc.reason}") from exc
                wait = None
                reason = exc.reason
            attempt += 1
            delay = self._backoff(attempt) if wait is None else min(wait, self._backoff_cap)
            log.warning(
                "provider %s failed (%s); retry %d/%d in %.1fs",
                label,
                reason,
                attempt,
                self._max_retries,
                delay,
            )
            await self._sleep(delay)

    def _api_url(self, path: str) -> URL:
        return URL(str(self._base) + path, encoded=True)

    async def _attempt(self, method: str, url: URL, body: dict[str, Any] | None) -> Task:
        timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=self._timeout)
        async with self._semaphore:
            try:
                async with self._session.request(
                    method, url, json=body, headers=self._headers_for(url), timeout=timeout
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    if status >= 400:
                        self._observe(status, error_envelope(raw).get("type"))
                        self._raise_status(status, resp.headers, raw)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                self._observe(None, "connect")
                raise _Transient(f"cannot connect: {type(exc).__name__}", sent=False) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._observe(None, "no_answer")
                raise _Transient(f"no answer: {type(exc).__name__}", sent=True) from exc
        self._observe(status)
        if status != 200:
            raise _Transient(f"unexpected HTTP {status}", sent=True)
        task = parse_task(raw, self._redactor)
        if task is None:
            raise _Transient("garbled answer body", sent=True)
        return task

    def _observe(self, status: int | None, code: Any = None) -> None:
        if self._observer is not None:
            self._observer.provider_answer(status, None if code is None else str(code)[:64])

    def _headers_for(self, url: URL) -> dict[str, str]:
        return {"Authorization": self._auth} if url.origin() == self._origin else {}

    def _raise_status(self, status: int, headers: Any, raw: bytes) -> NoReturn:
        envelope = error_envelope(raw)

        def text(key: str) -> str | None:
            value = envelope.get(key)
            return None if value is None else clean_outside_text(str(value), self._redactor) or None

        suggestion = text("fallback_suggestion")
        wait = None
        if status in (429, 503):
            wait = retry_after(headers.get("Retry-After"), suggestion)
        raise error_for_status(status)(
            status,
            text("message") or f"HTTP {status}",
            type=self._scrub(envelope.get("type")),
            param=text("param"),
            fallback_suggestion=suggestion,
            retry_after=wait,
        )

    def _scrub(self, value: Any) -> str | None:
        """An error type (a code, not prose): cleaned, and only code characters kept."""
        return None if value is None else clean_outside_code(str(value), self._redactor)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)

    # -- downloads ---------------------------------------------------------------------------

    async def _download_once(self, url: str, dest: Path, part: Path, max_bytes: int) -> int:
        try:
            target = URL(url)
        except ValueError:
            target = URL()
        if target.scheme not in ("http", "https") or not target.host:
            raise DownloadError("expired", "result link is not an http(s) URL")
        timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=self._timeout)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DownloadError("disk", f"cannot create {dest.parent}: {exc.strerror}") from exc
        started = False
        async with self._download_semaphore:
            try:
                async with self._session.get(
                    target, headers=self._headers_for(target), timeout=timeout
                ) as resp:
                    _check_download_status(resp.status)
                    expected = resp.content_length
                    if expected is not None and expected > max_bytes:
                        raise DownloadError(
                            "too_large", f"video is {expected} bytes, over {max_bytes}"
                        )
                    started = True
                    written = await _stream_to(resp, part, max_bytes)
                    encoded = bool(resp.headers.get("Content-Encoding"))
            except (TimeoutError, aiohttp.ClientError) as exc:
                kind = "incomplete" if started else "network"
                raise DownloadError(kind, f"download failed: {type(exc).__name__}") from exc
        if expected is not None and written < expected and not encoded:
            raise DownloadError("incomplete", f"got {written} of {expected} bytes")
        try:
            os.replace(part, dest)
        except OSError as exc:
            raise DownloadError("disk", f"cannot move video into place: {exc.strerror}") from exc
        return written


def _check_download_status(status: int) -> None:
    if status in EXPIRED_STATUSES:
        raise DownloadError("expired", f"result link answered HTTP {status}")
    if status >= 500 or status == 429:
        raise DownloadError("network", f"result host answered HTTP {status}")
    if status >= 400:
        raise DownloadError("expired", f"result link refused with HTTP {status}")


async def _stream_to(resp: aiohttp.ClientResponse, part: Path, max_bytes: int) -> int:
    written = 0
    try:
        fh = part.open("wb")
    except OSError as exc:
        raise DownloadError("disk", f"cannot write {part.name}: {exc.strerror}") from exc
    with fh:
        async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                raise DownloadError("too_large", f"video is over {max_bytes} bytes")
            try:
                fh.write(chunk)
            except OSError as exc:
                raise DownloadError("disk", f"cannot write video: {exc.strerror}") from exc
        try:
            fh.flush()
            await asyncio.to_thread(os.fsync, fh.fileno())
        except OSError as exc:
            raise DownloadError("disk", f"cannot write video: {exc.strerror}") from exc
    return written


def _redact_url(url: str) -> str:
    """The URL without query string or credentials, for logs (signed links carry tokens)."""
    try:
        parsed = URL(url)
    except ValueError:
        return "<invalid url>"
    return str(parsed.with_query(None).with_fragment(None).with_user(None))


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove partial download %s", path)
