"""A large video through download (ProviderClient.download) and upload (DiscordDelivery).

Both doubles run in child processes; this process runs the provider client and a real
discord.py client logged in to the Discord double (a boost tier 3 guild: 100 MiB per file).
Peak memory added is the highest VmRSS sampled during a step minus VmRSS just before it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import discord
import yarl

from bench.probes import PeakRSS, rss
from bench.servers import serving
from cogs.delivery import DiscordDelivery
from sora_bot.models import Job, JobState
from sora_bot.provider.client import ProviderClient

MB = 1_000_000


@dataclass(frozen=True)
class TransferRun:
    size: int
    download_s: float
    download_peak_mb: float
    upload_s: float
    upload_peak_mb: float
    copy_s: float

    def rate(self, seconds: float) -> float:
        return self.size / MB / seconds if seconds else float("inf")


def _job(size: int, guild_id: int, channel_id: int, user_id: int, status_id: int) -> Job:
    blank = dict.fromkeys(Job.__dataclass_fields__)
    fields: dict[str, Any] = {
        **blank,
        "id": 1,
        "guild_id": str(guild_id),
        "channel_id": str(channel_id),
        "user_id": str(user_id),
        "prompt": "bench",
        "aspect_ratio": "16:9",
        "duration": 10,
        "remove_watermark": True,
        "cost": 0,
        "credit_day": "",
        "credit_state": "none",
        "state": JobState.DELIVERING,
        "progress": 100,
        "file_size": size,
        "front_ref": {"channel_id": str(channel_id), "message_id": str(status_id)},
        "outcome_posted": False,
        "attempts": 0,
        "created_at": time.time(),
        "updated_at": time.time(),
    }
    return Job(**fields)


async def _discord_client(info: dict[str, str]) -> discord.Client:
    discord.http.Route.BASE = info["DISCORD_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(info["DISCORD_GATEWAY_URL"])
    client = discord.Client(intents=discord.Intents(guilds=True))
    await client.login(info["DISCORD_TOKEN"])
    asyncio.create_task(client.connect(reconnect=False))  # noqa: RUF006 - closed with the client
    await asyncio.wait_for(client.wait_until_ready(), timeout=30)
    return client


async def run_transfer(size: int = 99 * MB) -> TransferRun:
    """Stream ``size`` bytes down from the provider double and up to the Discord double."""
    async with (
        serving("provider", "--task-seconds", "0", "--video-bytes", str(size)) as provider,
        serving("discord", "--premium-tier", "3") as discord_server,
    ):
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "video.mp4"
            async with aiohttp.ClientSession() as session:
                client = ProviderClient(
                    session, base_url=provider.info["base_url"], api_key=provider.info["api_key"]
                )
                from sora_bot.models import VideoOptions

                task = await client.create(VideoOptions("bench"))
                task = await client.get_task(task.id)
                before = rss()
                with PeakRSS().running() as peak:
                    started = time.monotonic()
                    written = await client.download(task.results[0], dest, max_bytes=2 * size)
                    download_s = time.monotonic() - started
                download_peak = peak.peak - before
            assert written == size
            started = time.monotonic()
            await asyncio.to_thread(shutil.copyfile, dest, Path(tmp) / "copy.mp4")
            copy_s = time.monotonic() - started
            info = discord_server.info
            bot = await _discord_client(info)
            try:
                delivery = DiscordDelivery(bot)
                channel = bot.get_partial_messageable(int(info["channel_id"]))
                status = await channel.send("status")  # the job's status message
                ids = (int(info["guild_id"]), int(info["channel_id"]), int(info["user_id"]))
                job = _job(size, *ids, status.id)
                before = rss()
                with PeakRSS().running() as peak:
                    started = time.monotonic()
                    ref = await delivery.deliver_video(replace(job), dest)
                    upload_s = time.monotonic() - started
                upload_peak = peak.peak - before
                assert ref
            finally:
                await bot.close()
    mib = 2**20
    return TransferRun(size, download_s, download_peak / mib, upload_s, upload_peak / mib, copy_s)


if __name__ == "__main__":
    print(asyncio.run(run_transfer()))
