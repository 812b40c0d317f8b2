"""Runs the real bot (in this process or as ``python bot.py``) against both local doubles."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot import SoraBot
from sora_bot.core import Core, open_core
from sora_bot.models import JobState
from sora_bot.store import Job
from tests.conftest import make_settings
from tests.discord_double import DiscordDouble, pointed_at
from tests.provider_double import ProviderDouble

ROOT = Path(__file__).resolve().parent.parent


class FastBot(SoraBot):
    """The real bot, minus discord.py's 5-second pause before re-identifying."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


def bot_env(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble, **env: str
) -> dict[str, str]:
    """Settings for a bot talking to the doubles, with files under tmp_path."""
    return {
        "SORA_API_KEY": provider.api_key,
        "SORA_API_BASE": provider.base_url,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "SORA_DOWNLOAD_DIR": str(tmp_path / "videos"),
        "SORA_POLL_INTERVAL": "0.05",
        "SORA_MAX_POLL_INTERVAL": "0.2",
        "SORA_RETRY_BACKOFF": "0.01",
        "DISCORD_STATUS_EDIT_INTERVAL": "0.2",
        **discord.env(),
        **env,
    }


@asynccontextmanager
async def running_bot(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble, **env: str
) -> AsyncIterator[SoraBot]:
    """The bot in this process, logged in to the Discord double and ready."""
    values = bot_env(tmp_path, discord, provider, **env)
    settings = make_settings(tmp_path, **values)
    with pointed_at(discord):
        async with aiohttp.ClientSession() as session, open_core(settings, session) as core:
            bot = FastBot(core=core, settings=settings, guild_ready_timeout=0.05)
            async with bot:
                runner = asyncio.create_task(bot.start(values["DISCORD_TOKEN"]))
                try:
                    async with asyncio.timeout(10):
                        await bot.wait_until_ready()
                    yield bot
                finally:
                    await bot.close()
                    await asyncio.gather(runner, return_exceptions=True)


@asynccontextmanager
async def bot_process(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble, **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python bot.py`` as a real process; stopped (SIGTERM) when the block ends."""
    log = (tmp_path / "bot.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        cwd=tmp_path,
        stdout=log,
        stderr=log,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            **bot_env(tmp_path, discord, provider, **env),
        },
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


async def wait_job(core: Core, predicate: Any, timeout: float = 15.0) -> Job:
    """Wait until the newest job satisfies ``predicate``."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await core.db.fetchall("SELECT id FROM jobs ORDER BY id DESC LIMIT 1")
            if rows:
                job = await core.store.require(int(rows[0][0]))
                if predicate(job):
                    return job
            await asyncio.sleep(0.02)


def finished(job: Job) -> bool:
    """Final and the user told."""
    return job.state.terminal and job.outcome_posted


__all__ = ["JobState", "bot_env", "bot_process", "finished", "running_bot", "wait_job"]
