"""The interface the worker needs from a video provider, and the choice of implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import aiohttp

from sora_bot.models import Task, VideoOptions
from sora_bot.provider.client import ProviderClient, ProviderObserver
from sora_bot.settings import Settings


class VideoProvider(Protocol):
    """Create, query and download; implemented by the HTTP client and the simulator."""

    async def create(self, options: VideoOptions, *, callback_url: str | None = None) -> Task:
        """Submit one generation task."""

    async def get_task(self, task_id: str) -> Task:
        """The task's current status (``NotFound`` for an unknown id)."""

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        """Write a result video to ``dest``; return its size."""

    async def check_key(self) -> None:
        """Make a cheap authenticated call; raise if the provider refuses it."""


def build_provider(
    settings: Settings,
    session: aiohttp.ClientSession,
    observer: ProviderObserver | None = None,
    *,
    max_retries: int = 4,
) -> VideoProvider:
    """The simulator when ``SORA_SIMULATE`` is on, else the HTTP client (which needs the key)."""
    if settings.simulate:
        from sora_bot.provider.simulator import SimulatedProvider

        return SimulatedProvider.from_settings(settings, observer=observer)
    return ProviderClient(
        session,
        base_url=settings.api_base,
        api_key=settings.require_api_key(),
        max_concurrency=settings.max_concurrent_requests,
        backoff_base=settings.retry_backoff,
        max_retries=max_retries,
        observer=observer,
        secrets=settings.secrets(),
    )
