"""Fetches result videos: checked links, redirects followed by hand, a time budget, a size cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from yarl import URL

from sora_bot.provider.errors import DownloadError
from sora_bot.provider.links import LinkGuard, RefusedAddress

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024
EXPIRED_STATUSES = frozenset({403, 404, 410})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


@dataclass(kw_only=True)
class Downloader:
    """Streams a result file to disk; every hop is checked by ``links`` before it is asked."""

    links: LinkGuard
    headers_for: Callable[[URL], dict[str, str]]  # the API key goes to the API origin only
    slots: asyncio.Semaphore  # downloads take long: their own slots, so polls never wait
    read_timeout: float  # connect, and between two reads
    budget: float  # the whole download, retries included
    max_retries: int
    backoff: Callable[[int], float]
    sleep: Callable[[float], Awaitable[None]]

    async def fetch(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Write the file at ``url`` to ``dest`` (via a ``.part`` file); return its size."""
        target = self.links.check(url)  # refused links are never asked, nor retried
        part = dest.with_suffix(dest.suffix + ".part")
        deadline = asyncio.get_running_loop().time() + self.budget
        try:
            async with self.links.session() as session:
                return await self._with_retries(session, target, dest, part, max_bytes, deadline)
        finally:
            _remove_quietly(part)

    async def _with_retries(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        dest: Path,
        part: Path,
        max_bytes: int,
        deadline: float,
    ) -> int:
        attempt = 0
        while True:
            try:
                return await self._within(deadline, self._once(session, url, dest, part, max_bytes))
            except DownloadError as exc:
                _remove_quietly(part)
                left = deadline - asyncio.get_running_loop().time()
                if not exc.retryable or attempt >= self.max_retries or left <= 0:
                    raise
                attempt += 1
                delay = min(self.backoff(attempt), left)
                log.warning(
                    "download of %s failed (%s: %s); retry %d/%d in %.1fs",
                    _redact_url(url),
                    exc.kind,
                    exc,
                    attempt,
                    self.max_retries,
                    delay,
                )
                await self.sleep(delay)

    async def _within(self, deadline: float, attempt: Awaitable[int]) -> int:
        try:
            async with asyncio.timeout_at(deadline):
                return await attempt
        except TimeoutError as exc:  # only the budget raises it here: attempts convert theirs
            raise DownloadError("network", f"download took over {self.budget:.0f}s") from exc

    async def _once(
        self, session: aiohttp.ClientSession, url: URL, dest: Path, part: Path, max_bytes: int
    ) -> int:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DownloadError("disk", f"cannot create {dest.parent}: {exc.strerror}") from exc
        started = False
        async with self.slots:
            try:
                async with self._final_response(session, url) as resp:
                    _check_download_status(resp.status)
                    expected = resp.content_length
                    if expected is not None and expected > max_bytes:
                        raise DownloadError(
                            "too_large", f"video is {expected} bytes, over {max_bytes}"
                        )
                    started = True
                    written = await _stream_to(resp, part, max_bytes)
                    encoded = bool(resp.headers.get("Content-Encoding"))
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, RefusedAddress):
                    raise DownloadError("refused", str(exc.os_error)) from exc
                raise DownloadError("network", f"download failed: {type(exc).__name__}") from exc
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

    @contextlib.asynccontextmanager
    async def _final_response(
        self, session: aiohttp.ClientSession, url: URL
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The first answer that is not a redirect; each hop's target is checked first."""
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.read_timeout, sock_read=self.read_timeout
        )
        for _ in range(MAX_REDIRECTS + 1):
            resp = await session.get(
                url, headers=self.headers_for(url), timeout=timeout, allow_redirects=False
            )
            try:
                if resp.status not in REDIRECT_STATUSES:
                    yield resp
                    return
                location = resp.headers.get("Location", "")
            finally:
                resp.release()
            url = self.links.check(_join(url, location))
        raise DownloadError("refused", f"result link redirected more than {MAX_REDIRECTS} times")


def _join(base: URL, location: str) -> URL:
    try:
        return base.join(URL(location)) if location else URL()
    except ValueError:
        return URL()  # not a URL: refused by the check


def _check_download_status(status: int) -> None:
    if status in EXPIRED_STATUSES:
        raise DownloadError("expired", f"result link answered HTTP {status}")
    if status >= 500 or status == 429:
        raise DownloadError("network", f"result host answered HTTP {status}")
    if status >= 300:  # 4xx, and redirects past the limit's reach (304, 305…)
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


def _redact_url(url: URL) -> str:
    """The URL without query string or credentials, for logs (signed links carry tokens)."""
    return str(url.with_query(None).with_fragment(None).with_user(None))


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove partial download %s", path)
