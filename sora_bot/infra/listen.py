"""Serve a small aiohttp app on host:port (the callback and health endpoints), under limits.

Both endpoints may face the internet, and aiohttp bounds neither how many connections stay open
nor how long a client takes to send its request, while each open connection holds a file
descriptor the database and the gateway need too. So a listener here:

- caps its connections, overall and per client (``connection_cap``);
- wants the request line and headers within ``header_seconds`` of connecting or of its previous
  answer: aiohttp's keep-alive timer, set to that, closes a connection still waiting for a
  complete request, so a silent client, a slowloris and an idle keep-alive all go as quickly;
- reads the body before the app's handler, within ``body_seconds`` (408 after), never
  decompressed (neither endpoint uses what a body says);
- rate-limits the log lines of refusals and of aiohttp's own per-request errors.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger
from aiohttp.typedefs import Handler, Middleware

from sora_bot.infra.connection_cap import MAX_CONNECTIONS, MAX_PER_CLIENT, ConnectionCap
from sora_bot.infra.log_limit import LimitedLogger, LogLimiter

log = logging.getLogger(__name__)

HEADER_SECONDS = 5.0  # a request line and headers are a few hundred bytes: one packet
BODY_SECONDS = 10.0  # at most client_max_size bytes (64 KiB for callbacks)
LINGER_SECONDS = 2.0  # after an early answer (413, 408), the rest is drained so it is seen


@dataclass(frozen=True)
class Limits:
    """How much a listener grants its clients."""

    connections: int = MAX_CONNECTIONS
    per_client: int = MAX_PER_CLIENT
    header_seconds: float = HEADER_SECONDS
    body_seconds: float = BODY_SECONDS
    linger_seconds: float = LINGER_SECONDS


class Listener(web.BaseSite):
    """A TCP site whose connections pass the cap's gates first."""

    __slots__ = ("_host", "_port", "cap")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, cap: ConnectionCap) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self.cap = cap

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (the asked one until started)."""
        return self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.cap.factory(server), self._host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]


async def listen(
    app: web.Application, host: str, port: int, limits: Limits | None = None
) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; returns the runner (clean it up to stop) and the bound port."""
    limits = limits or Limits()
    cap = ConnectionCap(LogLimiter(log), limits.connections, limits.per_client)
    app.middlewares.insert(0, _body_in_time(cap, limits.body_seconds))
    # No access log: callback paths carry tokens, and health scrapes are noise.
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=2.0,
        keepalive_timeout=limits.header_seconds,
        lingering_time=limits.linger_seconds,
        auto_decompress=False,
        logger=LimitedLogger(server_logger),
    )
    await runner.setup()
    site = Listener(runner, host, port, cap)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site.port


def _body_in_time(cap: ConnectionCap, seconds: float) -> Middleware:
    @web.middleware
    async def body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        with cap.busy(request.protocol):
            try:
                async with asyncio.timeout(seconds):
                    await request.read()  # kept by the request: the handler's read is free
            except TimeoutError:
                return _closing(408, "request body too slow")
            except HttpProcessingError:  # a malformed chunked body: the client's fault
                return _closing(400, "malformed body")
            except ConnectionError:  # gone mid-body: nobody to answer, nothing to log
                return _closing(400, "connection lost")
            return await handler(request)

    return body_in_time


def _closing(status: int, error: str) -> web.Response:
    response = web.json_response({"error": error}, status=status)
    response.force_close()
    return response
