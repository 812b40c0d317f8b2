"""The callback endpoint: a provider's call only brings a job's next poll forward.

The body is never read for facts (anyone could send one); the worker re-reads the task
from the API. Each job's token is unguessable and single-use: an unknown, used or finished
job's token gets 404, so a replayed call does nothing.

The endpoint is public, so a flood must not reach the database, whose single lock the whole
bot shares: each client IP has a token bucket (429 with ``Retry-After`` when empty), a path
that cannot be a token (43 URL-safe characters, ``secrets.token_urlsafe(32)``) gets 404
without a query, and an unknown token costs one indexed read, never a write. Behind a
reverse proxy every call shares the proxy's bucket; a throttled provider callback only means
the job is picked up by the next (slower) poll. ``listen()`` caps connections and the time a
client may take to send its request, and refusals write one log line per kind per minute.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable

from aiohttp import web

from sora_bot.engine.claims import token_hash
from sora_bot.engine.worker import Worker
from sora_bot.infra.connection_cap import client_key
from sora_bot.infra.listen import Limits, listen
from sora_bot.infra.log_limit import LogLimiter
from sora_bot.infra.logs import event
from sora_bot.storage.jobs import JobStore

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # the provider sends the task-query JSON: a few hundred bytes
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32), as the worker makes it
WAKE_DELAY = 0.0  # seconds: the provider calls after the task is final and billed
RATE_PER_SECOND = 5.0  # calls per client IP, sustained
RATE_BURST = 30.0  # calls per client IP at once (many jobs may end together)
MAX_CLIENTS = 10_000  # buckets kept; beyond, idle (full) ones are dropped


class RateLimiter:
    """Token buckets per key (client IP), in memory."""

    def __init__(
        self,
        rate: float = RATE_PER_SECOND,
        burst: float = RATE_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Spend one call of ``key``: 0 when allowed, else the seconds until the next one."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else math.inf
        if key not in self._buckets and len(self._buckets) >= MAX_CLIENTS:
            self._prune(now)
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (as good as new); if none has, the oldest half."""
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate >= self.burst:
                del self._buckets[key]
        if len(self._buckets) >= MAX_CLIENTS:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k][1])
            for key in oldest[: MAX_CLIENTS // 2]:
                del self._buckets[key]


class CallbackServer:
    """Serves ``POST <any prefix>/<token>`` on the callback listen address."""

    def __init__(
        self,
        *,
        store: JobStore,
        worker: Worker,
        clock: Callable[[], float],
        host: str,
        port: int,
        limiter: RateLimiter | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.store = store
        self.worker = worker
        self.clock = clock
        self.host = host
        self.port = port
        self.limiter = limiter or RateLimiter()
        self.limits = limits  # None: listen()'s defaults
        self.refusals = LogLimiter(log)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; ``port`` is updated when 0 asked for a free one."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner, self.port = await listen(app, self.host, self.port, self.limits)
        event(log, logging.INFO, "callback endpoint listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        client = client_key(request.remote)
        wait = self.limiter.take(client)
        if wait:
            self.refusals.event(logging.INFO, "callback refused: rate limited", client=client)
            retry = "3600" if math.isinf(wait) else str(max(1, math.ceil(wait)))
            return web.json_response(
                {"error": "too many requests"}, status=429, headers={"Retry-After": retry}
            )
        # The body (never looked at) was read by listen(), bounded by client_max_size.
        token = request.match_info["tail"].rstrip("/").rsplit("/", 1)[-1]
        if not TOKEN.fullmatch(token):
            self.refusals.event(logging.INFO, "callback refused: not a token", client=client)
            return _not_found()  # cannot be one of ours: no database access
        now = self.clock()
        job = await self.store.use_callback(token_hash(token), now=now, wake_at=now + WAKE_DELAY)
        if job is None:
            self.refusals.event(
                logging.INFO, "callback refused: unknown or used token", client=client
            )
            return _not_found()
        event(
            log,
            logging.INFO,
            "callback received; re-reading the task",
            job=job.id,
            guild=job.guild_id,
            user=job.user_id,
            state=job.state,
        )
        self.worker.wake_job(job.id)
        return web.json_response({"ok": True})


def _not_found() -> web.Response:
    return web.json_response({"error": "not found"}, status=404)
