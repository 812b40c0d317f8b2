"""Shared helpers of the fault tests: waiting for jobs, users, a short-timeout provider client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from sora_bot.core import Core
from sora_bot.models import Job, Requester, VideoOptions
from sora_bot.provider.client import ProviderClient

# Plenty of credits and slots, so that only the fault under test decides an outcome.
ROOMY: dict[str, Any] = {
    "SORA_DAILY_CREDITS": "10000",
    "SORA_MAX_ACTIVE_PER_USER": "50",
    "SORA_MAX_INFLIGHT_JOBS": "50",
}


def user(name: str) -> Requester:
    """A requester in guild g1, channel c1."""
    return Requester("g1", "c1", name)


def options(prompt: str) -> VideoOptions:
    """A 10-second job without watermark removal (costs 10 credits)."""
    return VideoOptions(prompt, duration=10, remove_watermark=False)


async def wait_for_job(
    core: Core, job_id: int, predicate: Callable[[Job], bool], timeout: float = 15.0
) -> Job:
    """Poll the store until the job satisfies ``predicate``."""
    async with asyncio.timeout(timeout):
        while True:
            job = await core.store.require(job_id)
            if predicate(job):
                return job
            await asyncio.sleep(0.02)


async def wait_terminal(core: Core, job_id: int, timeout: float = 15.0) -> Job:
    """Wait until the job is final and its outcome has been posted."""
    return await wait_for_job(
        core, job_id, lambda j: j.state.terminal and j.outcome_posted, timeout
    )


def use_short_timeouts(core: Core, seconds: float = 0.3) -> None:
    """Give the worker a provider client whose requests time out after ``seconds``."""
    core.worker.steps.provider = ProviderClient(
        cast(ProviderClient, core.provider)._session,
        base_url=core.settings.api_base,
        api_key=core.settings.require_api_key(),
        max_concurrency=core.settings.max_concurrent_requests,
        backoff_base=core.settings.retry_backoff,
        request_timeout=seconds,
    )
