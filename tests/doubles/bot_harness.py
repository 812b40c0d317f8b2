"""Runs the real bot (in this process or as ``python bot.py``) against both local doubles."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import discord as discord_py
from PIL import Image

from bot import SoraBot
from sora_bot.core import Core, open_core
from sora_bot.models import Job

from .discord import DiscordDouble, InteractionHandle, Message, pointed_at
from .provider import ProviderDouble
from .settings import ROOT, make_settings

MANAGE_GUILD = discord_py.Permissions(manage_guild=True).value


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
        bot = FastBot(settings=settings, guild_ready_timeout=0.05)
        async with (
            aiohttp.ClientSession() as session,
            open_core(settings, session, bot.delivery) as core,
            bot,
        ):
            runner = asyncio.create_task(bot.start_with(core, values["DISCORD_TOKEN"]))
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
    """Final, the user told, and nothing left to do (the status message shows the end)."""
    return job.state.terminal and job.outcome_posted and job.next_attempt_at is None


def bot_messages(discord: DiscordDouble, *, public: bool = False) -> list[Message]:
    """What the bot has posted; ``public``: only non-ephemeral messages not deleted."""
    return [
        m
        for m in discord.messages.values()
        if m.author.id == discord.bot_user.id and not (public and (m.ephemeral or m.deleted))
    ]


def video_posts(discord: DiscordDouble, *, public: bool = False) -> list[Message]:
    """The bot's messages carrying a video (``public`` as for ``bot_messages``)."""
    return [
        m
        for m in bot_messages(discord, public=public)
        if any(a.filename.endswith(".mp4") for a in m.attachments)
    ]


def answered(handle: InteractionHandle) -> bool:
    """The bot has said something to the invoker (the deferral's completion or a followup)."""
    return bool(handle.followups) or bool(handle.original and handle.original.content)


def answer_text(handle: InteractionHandle) -> str:
    """What the bot last told the invoker: the last followup, else the original response."""
    if handle.followups:
        return handle.followups[-1].content
    return handle.original.content if handle.original else ""


async def wait_answer(handle: InteractionHandle) -> str:
    """Wait until the bot has told the invoker something; return it."""
    await handle.wait(lambda h: bool(answer_text(h)))
    return answer_text(handle)


def set_manage_guild(discord: DiscordDouble, allowed: bool) -> None:
    """The double sends @everyone's permissions as the invoker's: toggle Manage Server there."""
    everyone = discord.guild.roles[discord.guild.id]
    if allowed:
        everyone.permissions |= MANAGE_GUILD
    else:
        everyone.permissions &= ~MANAGE_GUILD


def reply(handle: InteractionHandle) -> Message | None:
    """The bot's answer: the last followup, else the original response once it has content."""
    if handle.followups:
        return handle.followups[-1]
    original = handle.original
    return original if original and (original.content or original.embeds) else None


async def wait_reply(handle: InteractionHandle) -> Message:
    """Wait until the bot has answered (see ``reply``); return the answer."""
    await handle.wait(lambda h: reply(h) is not None)
    message = reply(handle)
    assert message is not None
    return message


async def admin(discord: DiscordDouble, command: str, **options: object) -> Message:
    """Run ``/sora-admin <command>`` as a member with Manage Server; return the answer."""
    set_manage_guild(discord, True)
    try:
        handle = await discord.invoke(f"sora-admin {command}", options)
        message = await wait_reply(handle)
    finally:
        set_manage_guild(discord, False)
    assert message.ephemeral, command
    return message


def png_bytes(color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    """A 320×180 PNG of one colour."""
    out = io.BytesIO()
    Image.new("RGB", (320, 180), color).save(out, "PNG")
    return out.getvalue()
