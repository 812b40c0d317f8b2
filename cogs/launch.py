"""Starting a job from any interaction (/video, buttons, modals): charge, post, queue."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Literal

import aiohttp
import discord

from cogs.errors import UserFacingError
from cogs.outgoing import EmbedMark, post, reply
from cogs.refs import DiscordRefs
from cogs.render.status import status_embed
from sora_bot.media import PreparedImage
from sora_bot.models import Job, Requester, VideoOptions
from sora_bot.outside_text import display_prompt

if TYPE_CHECKING:
    from sora_bot.engine.service import JobService

log = logging.getLogger(__name__)

THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440  # one day
THREAD_NAME_CHARS = 90  # Discord allows 100, and the name starts with "🎬 "
CHANNEL_NEEDS = ("send_messages", "embed_links", "attach_files", "read_message_history")
IN_THREAD_NEEDS = (
    "send_messages_in_threads",
    "embed_links",
    "attach_files",
    "read_message_history",
)
THREAD_NEEDS = ("create_public_threads", "send_messages_in_threads")
THREADABLE = (discord.ChannelType.text, discord.ChannelType.news)


def requester_of(interaction: discord.Interaction) -> Requester:
    """Who asked and where (a thread counts as its parent channel), with role ids."""
    member = interaction.user
    roles = tuple(str(r.id) for r in getattr(member, "roles", ()) if not r.is_default())
    channel = interaction.channel
    # Channel allow-lists name channels; a press under a video in its thread must count.
    where = channel.parent_id if isinstance(channel, discord.Thread) else interaction.channel_id
    return Requester(
        guild_id=str(interaction.guild_id),
        channel_id=str(where),
        user_id=str(member.id),
        role_ids=roles,
    )


def posting_plan(interaction: discord.Interaction) -> bool:
    """Whether a thread can be used; refuses (before spending) when nothing can be posted."""
    perms = interaction.app_permissions
    in_thread = isinstance(interaction.channel, discord.Thread)
    needs = IN_THREAD_NEEDS if in_thread else CHANNEL_NEEDS
    missing = [name for name in needs if not getattr(perms, name)]
    if missing:
        readable = ", ".join(n.replace("_", " ").title() for n in missing)
        raise UserFacingError(
            f"I can't post videos in this channel (missing permission: {readable}). "
            "Ask an admin, or try another channel. Nothing was charged."
        )
    channel_type = getattr(interaction.channel, "type", None)
    return (
        not in_thread
        and channel_type in THREADABLE
        and all(getattr(perms, name) for name in THREAD_NEEDS)
    )


async def launch_job(
    jobs: JobService,
    interaction: discord.Interaction,
    options: VideoOptions,
    *,
    image: PreparedImage | None = None,
) -> Job:
    """Charge and queue a job, with its status message (and thread) in the invoker's channel.

    The interaction must already be deferred ephemerally: every refusal goes through the
    command error handler as an ephemeral message, and nothing is spent before it.
    """
    use_thread = posting_plan(interaction)
    channel = interaction.channel
    assert isinstance(channel, discord.abc.Messageable)
    job = await jobs.submit(requester_of(interaction), options, hold=True)
    try:
        status = await post(
            interaction,
            channel,
            embed=status_embed(job),
            mark=EmbedMark.FOOTER_SUFFIX,
            file=_image_file(image, job.id) if image else discord.utils.MISSING,
            allowed_mentions=discord.AllowedMentions.none(),
        )
    except BaseException as exc:  # whatever stopped the post, the held credits go back
        await jobs.abandon(job.id, f"status message failed: {type(exc).__name__}")
        if isinstance(exc, discord.HTTPException | discord.RateLimited | aiohttp.ClientError):
            raise UserFacingError(
                "I couldn't post in this channel, so nothing was started or charged."
            ) from exc
        raise
    thread_id = await _open_thread(status, options.prompt) if use_thread else None
    refs = DiscordRefs.posted(status, thread_id)
    # The provider fetches the image from our own post: a URL that outlives the command.
    image_url = status.attachments[0].url if image and status.attachments else None
    await jobs.release(job.id, image_url=image_url, front_ref=refs.to_dict())
    where = f"<#{refs.thread_id}>" if refs.thread_id is not None else status.jump_url
    await reply(interaction, f"Your video is queued ({job.cost} credits). Follow it here: {where}")
    return job


async def _open_thread(status: discord.Message, prompt: str) -> int | None:
    # Plain text (Discord renders no markup in names), without bidi tricks or pings.
    name = display_prompt(prompt, THREAD_NAME_CHARS, markdown=False).strip() or "video"
    try:
        thread = await status.create_thread(
            name=f"🎬 {name}", auto_archive_duration=THREAD_ARCHIVE_MINUTES
        )
    except (discord.HTTPException, ValueError) as exc:
        log.info("thread not created on %d (%s); replying in the channel", status.id, exc)
        return None
    return thread.id


def _image_file(prepared: PreparedImage, job_id: int) -> discord.File:
    return discord.File(io.BytesIO(prepared.data), filename=f"input-{job_id}.{prepared.extension}")
