"""The callback endpoint: a provider's call only brings a job's next poll forward.

The body is never read for facts (anyone could send one); the worker re-reads the task
from the API. Each job's token is unguessable and single-use: an unknown, used or finished
job's token gets 404, so a replayed call does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from .listen import listen
from .logs import event
from .store import JobStore
from .worker import Worker, token_hash

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # the provider sends the task-query JSON: a few hundred bytes
MAX_TOKEN = 128
WAKE_DELAY = 0.0  # seconds: the provider calls after the task is final and billed


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
    ) -> None:
        self.store = store
        self.worker = worker
        self.clock = clock
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; ``port`` is updated when 0 asked for a free one."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner, self.port = await listen(app, self.host, self.port)
        event(log, logging.INFO, "callback endpoint listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()  # bounded by client_max_size (413 beyond); content ignored
        token = request.match_info["tail"].rstrip("/").rsplit("/", 1)[-1]
        if not token or len(token) > MAX_TOKEN:
            return _not_found()
        now = self.clock()
        job = await self.store.use_callback(token_hash(token), now=now, wake_at=now + WAKE_DELAY)
        if job is None:
            event(log, logging.INFO, "callback refused: unknown or used token")
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
