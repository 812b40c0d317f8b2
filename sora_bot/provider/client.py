"""HTTP client of the video provider: create, query, download, with retries that never duplicate.

Nothing from the provider is believed unchecked: every attempt and every call has a total
time budget (a server trickling bytes cannot hold a call, nor its slot, for ever), answers
are read up to ``MAX_ANSWER_BYTES`` only, a task answer must name the task asked for, and
result links go through ``sora_bot.provider.links`` (see ``downloads``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, Protocol
from urllib.parse import quote

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from sora_bot.errors import ConfigError
from sora_bot.models import MODEL, Task, VideoOptions
from sora_bot.outside_text import SecretRedactor, clean_outside_code, clean_outside_text
from sora_bot.provider.answers import error_envelope, parse_task, retry_after
from sora_bot.provider.downloads import Downloader
from sora_bot.provider.errors import (
    MismatchedAnswer,
    NotFound,
    ProviderUnavailable,
    SoraAPIError,
    SubmissionUncertain,
    error_for_status,
)
from sora_bot.provider.links import AddressCheck, LinkGuard, is_public_address

log = logging.getLogger(__name__)

# Task answers are a few KB; a bigger one is read no further (it is no answer at all).
MAX_ANSWER_BYTES = 256 * 1024
ANSWER_CHUNK_BYTES = 16 * 1024
# A well-formed id that no provider task can have: used by ``check_key``.
PROBE_TASK_ID = "task-unified-0-doctorprobe"


class ProviderObserver(Protocol):
    """Told about every HTTP attempt (metrics, health)."""

    def provider_answer(self, status: int | None, code: str | None = None) -> None:
        """An attempt ended with this HTTP status (None: no answer) and error type."""


class _Transient(Exception):
    """One attempt got no usable answer; ``sent`` says whether the request may have arrived."""

    def __init__(
        self, reason: str, *, sent: bool, final: type[ProviderUnavailable] = ProviderUnavailable
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.final = final  # what is raised when the retries run out


class ProviderClient:
    """Talks to the provider over a shared aiohttp session; the API key never leaves this object.

    ``request_timeout`` bounds each API attempt in total (connect to last byte),
    ``call_timeout`` a whole API call with its retries and waits, ``download_timeout`` a
    whole download with its retries. ``resolver`` (a factory) and ``address_allowed`` stand
    in for DNS and the public-address rule of downloads (tests).
    """

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
        call_timeout: float = 120.0,
        download_timeout: float = 900.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: ProviderObserver | None = None,
        resolver: Callable[[], AbstractResolver] | None = None,
        address_allowed: AddressCheck = is_public_address,
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
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._timeout = request_timeout
        self._call_timeout = call_timeout
        self._sleep = sleep
        self._observer = observer
        self._downloader = Downloader(
            links=LinkGuard(base, resolver=resolver, allowed=address_allowed),
            headers_for=self._headers_for,
            slots=asyncio.Semaphore(max(1, max_concurrency // 2)),
            read_timeout=request_timeout,
            budget=download_timeout,
            max_retries=max_retries,
            backoff=self._backoff,
            sleep=sleep,
        )

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
        return await self._call("GET", path, label=f"task {task_id}", expect_id=task_id)

    async def check_key(self) -> None:
        """Make a cheap authenticated call; returns if the key is accepted, else raises."""
        try:
            await self.get_task(PROBE_TASK_ID)
        except NotFound as exc:
            if exc.type is None:  # a bare 404 means a wrong base URL, not a good key
                raise
            return

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Stream a result file to ``dest``; return the bytes written.

        The link, and every redirect, is checked before it is asked (``DownloadError`` of
        kind ``refused``); only the API's origin gets the API key.
        """
        return await self._downloader.fetch(url, dest, max_bytes=max_bytes)

    # -- API calls ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        label: str,
        body: dict[str, Any] | None = None,
        expect_id: str | None = None,
    ) -> Task:
        creating = method == "POST"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._call_timeout
        attempt = 0
        while True:
            try:
                return await self._attempt(method, self._api_url(path), body, deadline, expect_id)
            except SoraAPIError as exc:
                if not exc.retryable or attempt >= self._max_retries:
                    raise
                wait = exc.retry_after
                reason = f"HTTP {exc.status}"
                final: Exception = exc
            except _Transient as exc:
                if creating and exc.sent:
                    raise SubmissionUncertain(
                        f"create request may have reached the provider ({exc.reason})"
                    ) from exc
                final = exc.final(f"provider {label}: {exc.reason}")
                final.__cause__ = exc
                if attempt >= self._max_retries:
                    raise final from exc
                wait = None
                reason = exc.reason
            attempt += 1
            delay = self._backoff(attempt) if wait is None else min(wait, self._backoff_cap)
            if loop.time() + delay >= deadline:
                raise final  # the call's time is up before the next attempt could start
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

    async def _attempt(
        self,
        method: str,
        url: URL,
        body: dict[str, Any] | None,
        deadline: float,
        expect_id: str | None,
    ) -> Task:
        loop = asyncio.get_running_loop()
        try:
            # Waiting for a slot counts against the call's time, never against the attempt's.
            async with asyncio.timeout_at(deadline):
                await self._semaphore.acquire()
        except TimeoutError as exc:
            self._observe(None, "no_slot")
            raise _Transient("no free request slot in time", sent=False) from exc
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self._timeout)):
                status, raw = await self._exchange(method, url, body)
        except TimeoutError as exc:
            self._observe(None, "no_answer")
            raise _Transient("no answer in time", sent=True) from exc
        finally:
            self._semaphore.release()
        if raw is None:
            self._observe(status, "too_large")
            raise _Transient(f"answer over {MAX_ANSWER_BYTES} bytes", sent=True)
        self._observe(status)
        if status != 200:
            raise _Transient(f"unexpected HTTP {status}", sent=True)
        task = parse_task(raw, self._redactor)
        if task is None:
            raise _Transient("garbled answer body", sent=True)
        if expect_id is not None and task.id != expect_id:
            # Nothing a mixed-up answer names (its links above all) is used.
            raise _Transient("answer names another task", sent=True, final=MismatchedAnswer)
        return task

    async def _exchange(
        self, method: str, url: URL, body: dict[str, Any] | None
    ) -> tuple[int, bytes | None]:
        """Status and body (None: over the size cap) of one request.

        Raises ``_Transient`` on transport trouble and the ``SoraAPIError`` of an error status.
        """
        # Per-read bounds as before; the caller's ``asyncio.timeout`` bounds the total.
        timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=self._timeout)
        try:
            async with self._session.request(
                method,
                url,
                json=body,
                headers=self._headers_for(url),
                timeout=timeout,
                allow_redirects=False,  # the API does not redirect; a redirect is no answer
            ) as resp:
                raw = await _read_capped(resp)
                status = resp.status
                if status >= 400:  # an oversized error body counts as a garbled one
                    self._observe(status, self._scrub(error_envelope(raw or b"").get("type")))
                    self._raise_status(status, resp.headers, raw or b"")
                return status, raw
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            self._observe(None, "connect")
            raise _Transient(f"cannot connect: {type(exc).__name__}", sent=False) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:  # a read timeout, a reset…
            self._observe(None, "no_answer")
            raise _Transient(f"no answer: {type(exc).__name__}", sent=True) from exc

    def _observe(self, status: int | None, code: Any = None) -> None:
        if self._observer is not None:
            text = code if isinstance(code, str) else None
            self._observer.provider_answer(status, None if text is None else text[:64])

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


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes | None:
    """The body, or None once it is over ``MAX_ANSWER_BYTES`` (the rest is never read)."""
    if resp.content_length is not None and resp.content_length > MAX_ANSWER_BYTES:
        return None
    body = bytearray()
    async for chunk in resp.content.iter_chunked(ANSWER_CHUNK_BYTES):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            resp.close()  # drop the connection rather than drain the rest
            return None
    return bytes(body)
