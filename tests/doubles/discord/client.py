"""Point discord.py at a double: in-process patching, env vars, a background-thread runner."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import discord
import discord.gateway
import discord.http
import yarl

from .server import DiscordDouble

T = TypeVar("T")


@contextlib.contextmanager
def pointed_at(double: DiscordDouble) -> Iterator[DiscordDouble]:
    """Make discord.py in this process talk to `double`; restore the real URLs afterwards."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = double.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(double.gateway_url)
    try:
        yield double
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


class ThreadedDouble:
    """Runs a double on its own event loop in a background thread (for sync tests)."""

    def __init__(self, double: DiscordDouble | None = None) -> None:
        self.double = double or DiscordDouble()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> DiscordDouble:
        self._thread.start()
        self.call(self.double.start)
        return self.double

    def __exit__(self, *exc: object) -> None:
        self.call(self.double.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def call(self, func: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `await func()` on the double's loop and return the result."""

        async def run() -> T:
            return await func()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)
