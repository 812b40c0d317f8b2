"""Start the Discord bot: ``python bot.py`` (``--sync`` forces a command sync)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import signal
import sys
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands

from cogs import EXTENSIONS
from cogs.delivery import DiscordDelivery
from cogs.errors import SoraTree
from sora_bot.core import Core, open_core
from sora_bot.errors import ConfigError
from sora_bot.infra.logs import configure_logging
from sora_bot.services import running_services
from sora_bot.settings import Settings, load_settings

log = logging.getLogger("bot")
SHUTDOWN_GRACE = 35.0  # seconds for running job steps (a create POST may take 30 s)


class SoraBot(commands.Bot):
    """The bot. Its Discord delivery exists from construction, because the core's worker is
    built around it; the core itself is handed over by ``start_with`` and reached by cogs
    through ``cogs.context``. Cogs are loaded in ``setup_hook``."""

    core: Core

    def __init__(self, *, settings: Settings, force_sync: bool = False, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            tree_cls=SoraTree,
            allowed_mentions=discord.AllowedMentions.none(),
            max_ratelimit_timeout=30.0,
            help_command=None,
            **options,
        )
        self.settings = settings
        self.force_sync = force_sync
        self.delivery = DiscordDelivery(self, edit_interval=settings.status_edit_interval)

    async def setup_hook(self) -> None:
        """Load cogs (result buttons included), sync commands when changed, start the worker."""
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands_if_changed()
        self.core.worker.start()

    async def start_with(self, core: Core, token: str) -> None:
        """Log in and run with ``core`` (built around ``self.delivery``) until closed."""
        self.core = core
        await self.start(token)

    async def sync_commands_if_changed(self) -> None:
        """Sync application commands only when their definition changed (Discord caps creates)."""
        guild_id = self.settings.discord_dev_guild_id
        guild = discord.Object(guild_id) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        commands_json = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(
            json.dumps(commands_json, sort_keys=True, default=str).encode()
        ).hexdigest()
        key = f"command_sync:{guild_id or 'global'}"
        if not self.force_sync and await self.core.meta.get(key) == digest:
            log.info("application commands unchanged; not syncing")
            return
        synced = await self.tree.sync(guild=guild)
        await self.core.meta.set(key, digest)
        log.info("synced %d application commands (%s)", len(synced), guild_id or "global")

    async def close(self) -> None:
        """Stop posting, then close the gateway (the worker is stopped by ``main``)."""
        await self.delivery.close()
        await super().close()


def point_discord_at(settings: Settings) -> None:
    """Use a Discord-compatible server instead of discord.com (tests, self-hosted doubles)."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


async def run(settings: Settings, *, force_sync: bool) -> None:
    """Own the session, database and core for the bot's lifetime; stop on SIGINT/SIGTERM."""
    token = settings.require_discord_token()
    point_discord_at(settings)
    bot = SoraBot(settings=settings, force_sync=force_sync)
    async with (
        aiohttp.ClientSession() as session,
        open_core(settings, session, bot.delivery) as core,
    ):
        stopping: list[asyncio.Task[None]] = []

        async def shutdown() -> None:
            # The worker first: no new claims, and a create POST in flight gets time to
            # finish and store its task id; only then does the bot go offline.
            await core.worker.stop(grace=SHUTDOWN_GRACE)
            await bot.close()

        def on_signal() -> None:
            if not stopping:
                stopping.append(asyncio.create_task(shutdown()))

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        if settings.simulate:
            log.warning("SIMULATION MODE: no provider calls; every post says it is a simulation")

        def gateway_connected() -> bool:
            return bot.is_ready() and not bot.is_closed()

        async with running_services(core, gateway_connected=gateway_connected), bot:
            await bot.start_with(core, token)
        await asyncio.gather(*stopping)
        # Every job state is already committed, so the next start resumes.


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sync", action="store_true", help="sync slash commands even if unchanged")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        settings.require_discord_token()
        if settings.needs_api_key:
            settings.require_api_key()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 3
    configure_logging(settings.log_level, settings.secrets(), log_prompts=settings.log_prompts)
    logging.getLogger("discord").setLevel(  # every gateway event at DEBUG: noise, not insight
        max(logging.INFO, logging.getLevelName(settings.log_level))
    )
    try:
        asyncio.run(run(settings, force_sync=args.sync))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 3
    except discord.LoginFailure:
        print("configuration error: DISCORD_TOKEN was refused by Discord", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
