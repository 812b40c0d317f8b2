"""The one way from a Discord object to the core: the bot that received it carries it.

Cogs, buttons and modals never import ``bot.py`` (that would be an import cycle) and never
read attributes of the client directly; they ask this module.
"""

from __future__ import annotations

import discord

from sora_bot.core import Core
from sora_bot.rules.attempts import RefusalLimiter
from sora_bot.settings import Settings


def core_of(source: discord.Interaction | discord.Client) -> Core:
    """The core of the bot behind ``source`` (an interaction, or the bot itself)."""
    client = source.client if isinstance(source, discord.Interaction) else source
    core = getattr(client, "core", None)
    if not isinstance(core, Core):
        raise RuntimeError("this Discord client carries no Sora core")
    return core


def settings_of(source: discord.Interaction | discord.Client) -> Settings | None:
    """The settings of the bot behind ``source``; None on a client without a core."""
    client = source.client if isinstance(source, discord.Interaction) else source
    core = getattr(client, "core", None)
    return core.settings if isinstance(core, Core) else None


def attempts_of(source: discord.Interaction | discord.Client) -> RefusalLimiter | None:
    """The refusal limiter of the bot behind ``source``; None on a client without a core."""
    client = source.client if isinstance(source, discord.Interaction) else source
    core = getattr(client, "core", None)
    return core.jobs.attempts if isinstance(core, Core) else None
