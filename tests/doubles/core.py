"""Builds the real core against the provider double for engine tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from sora_bot.core import Core, open_core
from sora_bot.engine.delivery import Delivery

from .settings import make_settings


@asynccontextmanager
async def running_core(
    tmp_path: Path,
    base_url: str,
    delivery: Delivery,
    *,
    clock: Callable[[], float] | None = None,
    start: bool = True,
    **env: str,
) -> AsyncIterator[Core]:
    """The core over a database in tmp_path, talking to the double at base_url."""
    settings = make_settings(tmp_path, SORA_API_BASE=base_url, **env)
    kwargs = {"clock": clock} if clock is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        open_core(settings, session, delivery, **kwargs) as core,
    ):
        if start:
            core.worker.start()
        yield core
