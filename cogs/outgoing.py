"""The one way out: every message the bot posts, edits or replies goes through here.

In simulation mode (``SORA_SIMULATE=1``) each of them must say it is a simulation. Cogs never
call ``send``, ``send_message`` or ``edit`` themselves; ``reply``, ``post`` and ``edit`` read
the mode from the bot's settings and add the label, so a new message cannot forget it.

A message with an embed carries the label in the embed (where ``EmbedMark`` says), a message
without one in its first line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import discord

from cogs.context import settings_of
from cogs.texts import SIMULATION_NOTE, SIMULATION_SUFFIX, SIMULATION_TAG

MISSING: Any = discord.utils.MISSING


class EmbedMark(enum.Enum):
    """Where an embed says it is a simulation."""

    FOOTER_TAG = "footer_tag"  # "🧪 Simulation · <footer>": admin reports (the default)
    FOOTER_SUFFIX = "footer_suffix"  # "<footer> · simulation": job status messages
    DESCRIPTION = "description"  # the note line above the description: /quota, /jobs


@dataclass(frozen=True)
class Label:
    """Adds the simulation label to what is about to be sent (nothing when not simulating)."""

    simulated: bool

    @classmethod
    def of(cls, source: discord.Interaction | discord.Client) -> Label:
        """The label for the bot behind ``source`` (a client without a core: no label)."""
        settings = settings_of(source)
        return cls(bool(settings and settings.simulate))

    def message(
        self, content: str | None, embed: discord.Embed | None, mark: EmbedMark
    ) -> tuple[str | None, discord.Embed | None]:
        """Content and embed of one message, labelled once: in the embed when it has one."""
        if not self.simulated:
            return content, embed
        if embed is not None:
            return content, _marked(embed, mark)
        return f"{SIMULATION_NOTE}\n{content or ''}", None


def _marked(embed: discord.Embed, mark: EmbedMark) -> discord.Embed:
    footer = embed.footer.text
    if mark is EmbedMark.FOOTER_TAG:
        embed.set_footer(text=f"{SIMULATION_TAG} · {footer}" if footer else SIMULATION_TAG)
    elif mark is EmbedMark.FOOTER_SUFFIX:
        embed.set_footer(text=f"{footer} · {SIMULATION_SUFFIX}" if footer else SIMULATION_SUFFIX)
    else:
        description = embed.description
        embed.description = f"{SIMULATION_NOTE}\n{description}" if description else SIMULATION_NOTE
    return embed


async def reply(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    mark: EmbedMark = EmbedMark.FOOTER_TAG,
    file: discord.File = MISSING,
    allowed_mentions: discord.AllowedMentions = MISSING,
) -> None:
    """Answer ``interaction`` ephemerally: the first response, or a follow-up once deferred."""
    content, embed = Label.of(interaction).message(content, embed, mark)
    if interaction.response.is_done():
        await interaction.followup.send(
            content if content is not None else MISSING,
            embed=embed if embed is not None else MISSING,
            file=file,
            ephemeral=True,
            allowed_mentions=allowed_mentions,
        )
    else:
        await interaction.response.send_message(
            content,
            embed=embed if embed is not None else MISSING,
            file=file,
            ephemeral=True,
            allowed_mentions=allowed_mentions,
        )


async def post(
    source: discord.Interaction[Any] | discord.Client,
    channel: discord.abc.Messageable,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    mark: EmbedMark = EmbedMark.FOOTER_TAG,
    file: discord.File = MISSING,
    view: discord.ui.View = MISSING,
    reference: discord.MessageReference | None = None,
    allowed_mentions: discord.AllowedMentions = MISSING,
) -> discord.Message:
    """Post in ``channel`` for the bot behind ``source`` (with the bot token)."""
    content, embed = Label.of(source).message(content, embed, mark)
    return await channel.send(
        content,
        embed=embed if embed is not None else MISSING,
        file=file,
        view=view,
        reference=reference,  # type: ignore[arg-type]  # None (no reply) is what send expects
        allowed_mentions=allowed_mentions,
    )


async def edit(
    source: discord.Interaction[Any] | discord.Client,
    message: discord.PartialMessage,
    *,
    embed: discord.Embed,
    mark: EmbedMark = EmbedMark.FOOTER_TAG,
    allowed_mentions: discord.AllowedMentions = MISSING,
) -> None:
    """Replace the embed of one of the bot's messages."""
    _, labelled = Label.of(source).message(None, embed, mark)
    await message.edit(embed=labelled, allowed_mentions=allowed_mentions)
