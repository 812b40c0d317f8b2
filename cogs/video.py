"""/video, /quota and /jobs: collect the request, hand it to the core, show what it says."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from sora_bot.media import PreparedImage, prepare_image_async
from sora_bot.models import Requester
from sora_bot.validation import build_options, clean_prompt

from .errors import UserFacingError
from .render import job_line, progress_bar, status_embed

if TYPE_CHECKING:
    from bot import SoraBot

log = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # larger uploads are refused before being read
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440  # one day
CHANNEL_NEEDS = ("send_messages", "embed_links", "attach_files", "read_message_history")
THREAD_NEEDS = ("create_public_threads", "send_messages_in_threads")
THREADABLE = (discord.ChannelType.text, discord.ChannelType.news)


def requester_of(interaction: discord.Interaction) -> Requester:
    """Who asked, with role ids for role allowances."""
    member = interaction.user
    roles = tuple(str(r.id) for r in getattr(member, "roles", ()) if not r.is_default())
    return Requester(
        guild_id=str(interaction.guild_id),
        channel_id=str(interaction.channel_id),
        user_id=str(member.id),
        role_ids=roles,
    )


def posting_plan(interaction: discord.Interaction) -> bool:
    """Whether a thread can be used; refuses (before spending) when nothing can be posted."""
    perms = interaction.app_permissions
    in_thread = isinstance(interaction.channel, discord.Thread)
    if in_thread:
        needs: tuple[str, ...] = ("send_messages_in_threads", "embed_links", "attach_files")
    else:
        needs = CHANNEL_NEEDS
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


class VideoCog(commands.Cog):
    """Video generation commands."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        self.jobs = bot.core.jobs

    @app_commands.command(name="video", description="Generate a Sora-2 video from a prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What should happen in the video (up to 5000 characters)",
        image="Optional starting image (jpg, png or webp, no real people)",
        aspect_ratio="Landscape or portrait",
        duration="Length of the clip",
        keep_watermark="Keep the provider's watermark (costs fewer credits)",
    )
    @app_commands.choices(
        aspect_ratio=[
            app_commands.Choice(name="Landscape (16:9)", value="16:9"),
            app_commands.Choice(name="Portrait (9:16)", value="9:16"),
        ]
    )
    @app_commands.choices(
        duration=[
            app_commands.Choice(name="10 seconds", value=10),
            app_commands.Choice(name="15 seconds (costs more)", value=15),
        ],
    )
    async def video(
        self,
        interaction: discord.Interaction,
        prompt: str,
        image: discord.Attachment | None = None,
        aspect_ratio: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
        keep_watermark: bool = False,
    ) -> None:
        """Validate, charge, post the status message and queue the job."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        options = build_options(
            clean_prompt(prompt),
            aspect_ratio=aspect_ratio.value if aspect_ratio else "16:9",
            duration=duration.value if duration else 10,
            remove_watermark=not keep_watermark,
        )
        prepared = await self._read_image(image) if image is not None else None
        use_thread = posting_plan(interaction)
        channel = interaction.channel
        assert isinstance(channel, discord.abc.Messageable)
        job = await self.jobs.submit(requester_of(interaction), options, hold=True)
        try:
            status = await channel.send(
                embed=status_embed(job),
                file=_image_file(prepared, job.id) if prepared else discord.utils.MISSING,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            await self.jobs.abandon(job.id, f"status message failed: {exc.status}")
            raise UserFacingError(
                "I couldn't post in this channel, so nothing was started or charged."
            ) from exc
        front_ref = {"channel_id": str(status.channel.id), "message_id": str(status.id)}
        if use_thread:
            thread_id = await self._open_thread(status, options.prompt)
            if thread_id:
                front_ref["thread_id"] = thread_id
        front_ref["status_ref"] = f"{status.channel.id}/{status.id}"
        # The provider fetches the image from our own post: a URL that outlives the command.
        image_url = status.attachments[0].url if prepared and status.attachments else None
        await self.jobs.release(job.id, image_url=image_url, front_ref=front_ref)
        where = f"<#{front_ref['thread_id']}>" if "thread_id" in front_ref else status.jump_url
        await interaction.followup.send(
            f"Your video is queued ({job.cost} credits). Follow it here: {where}", ephemeral=True
        )

    async def _read_image(self, image: discord.Attachment) -> PreparedImage:
        if image.size > MAX_ATTACHMENT_BYTES:
            raise UserFacingError("That file is too large; please attach an image under 25 MB.")
        try:
            data = await image.read()
        except (discord.HTTPException, discord.NotFound) as exc:
            raise UserFacingError("I couldn't read the attached image; please try again.") from exc
        return await prepare_image_async(data)

    async def _open_thread(self, status: discord.Message, prompt: str) -> str | None:
        name = prompt.replace("\n", " ")[:90] or "video"
        try:
            thread = await status.create_thread(
                name=f"🎬 {name}", auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except (discord.HTTPException, ValueError) as exc:
            log.info("thread not created on %d (%s); replying in the channel", status.id, exc)
            return None
        return str(thread.id)

    @app_commands.command(name="quota", description="Your credits today and active jobs")
    @app_commands.guild_only()
    async def quota(self, interaction: discord.Interaction) -> None:
        """Show remaining credits, active jobs and the reset time (ephemeral)."""
        status = await self.jobs.quota(requester_of(interaction))
        embed = discord.Embed(title="Your video credits", colour=discord.Colour.blurple())
        used_percent = round(100 * status.used / status.allowance) if status.allowance else 100
        embed.add_field(
            name="Left today",
            value=f"**{status.remaining}** of {status.allowance} credits\n"
            f"{progress_bar(100 - used_percent)}",
            inline=False,
        )
        embed.add_field(
            name="Active jobs", value=f"{status.active_jobs} of {status.max_active}", inline=True
        )
        embed.add_field(name="Resets", value=f"<t:{int(status.resets_at)}:R>", inline=True)
        if status.paused:
            embed.add_field(name="Note", value="Video generation is paused here.", inline=False)
        embed.set_footer(text="A 10 s video costs 10 credits, 15 s costs 15 (+ watermark removal).")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="jobs", description="Your recent video jobs")
    @app_commands.guild_only()
    async def jobs_command(self, interaction: discord.Interaction) -> None:
        """List the caller's recent jobs with state and where the video is (ephemeral)."""
        recent = await self.jobs.recent(requester_of(interaction), limit=10)
        if not recent:
            text = "You have no video jobs here yet. Try `/video`!"
        else:
            text = "\n".join(job_line(job) for job in recent)
        embed = discord.Embed(
            title="Your recent videos", description=text[:4000], colour=discord.Colour.blurple()
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)


def _image_file(prepared: PreparedImage, job_id: int) -> discord.File:
    return discord.File(io.BytesIO(prepared.data), filename=f"input-{job_id}.{prepared.extension}")


async def setup(bot: SoraBot) -> None:
    """Extension entry point."""
    await bot.add_cog(VideoCog(bot))
