"""Persistent result buttons (re-roll, remix, delete, retry) and their remakes.

Loaded as an extension: ``setup`` registers the dynamic items, so buttons on posts from
before this start are routed by their custom id (the job id).
"""

from __future__ import annotations

from discord.ext import commands

from cogs.buttons.views import DYNAMIC_ITEMS


async def setup(bot: commands.Bot) -> None:
    """Extension entry point: route every result button to its handler."""
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
