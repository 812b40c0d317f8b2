"""/video, /quota and /jobs: collect the request, hand it to the core, show what it says."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from cogs.context import core_of
from cogs.intake import precheck, read_attachment
from cogs.launch import launch_job, requester_of
from cogs.outgoing import EmbedMark, reply
from cogs.render.status import job_line, progress_bar

ASPECT_CHOICES = [  # shared by /video and /sora-admin defaults
    app_commands.Choice(name="Landscape (16:9)", value="16:9"),
    app_commands.Choice(name="Portrait (9:16)", value="9:16"),
]


class VideoCog(commands.Cog):
    """Video generation commands."""

    def __init__(self, bot: commands.Bot) -> None:
        core = core_of(bot)
        self.bot = bot
        self.jobs = core.jobs
        self.policy = core.policy

    @app_commands.command(name="video", description="Generate a Sora-2 video from a prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What should happen in the video (up to 5000 characters)",
        image="Optional starting image (jpg, png or webp, no real people)",
        aspect_ratio="Landscape or portrait",
        duration="Length of the clip",
        keep_watermark="Keep the provider's watermark (costs fewer credits)",
    )
    @app_commands.choices(aspect_ratio=ASPECT_CHOICES)
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
        keep_watermark: bool | None = None,
    ) -> None:
        """Validate, check cheaply, read the image, charge, post the status message, queue."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Options left out are None: the server's defaults fill them in.
        options = await self.policy.options_for(
            str(interaction.guild_id),
            prompt,
            aspect_ratio=aspect_ratio.value if aspect_ratio else None,
            duration=duration.value if duration else None,
            keep_watermark=keep_watermark,
        )
        await precheck(self.jobs, interaction, options)  # before any byte of the image
        prepared = await read_attachment(self.jobs, image) if image is not None else None
        await launch_job(self.jobs, interaction, options, image=prepared)

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
        await reply(interaction, embed=embed, mark=EmbedMark.DESCRIPTION)

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
        await reply(interaction, embed=embed, mark=EmbedMark.DESCRIPTION)


async def setup(bot: commands.Bot) -> None:
    """Extension entry point."""
    await bot.add_cog(VideoCog(bot))
