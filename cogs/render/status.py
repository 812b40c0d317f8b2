"""How jobs look in Discord: the status embed, progress bar, job lines and references."""

from __future__ import annotations

import discord

from cogs.refs import DiscordRefs
from sora_bot.models import Job, JobState
from sora_bot.outside_text import clean_outside_code, display_prompt

PROMPT_EXCERPT = 300
BAR_CELLS = 12


def job_marker(job: Job) -> str:
    """The small last line of every outcome post, by which it is found again after a crash.

    The request time makes it unique even if the database (and so the job ids) were reset.
    """
    return f"-# requested <t:{int(job.created_at)}:f> · job #{job.id}"


_STATE_TEXT = {
    JobState.ACCEPTED: ("Preparing", discord.Colour.light_grey()),
    JobState.QUEUED: ("Queued", discord.Colour.light_grey()),
    JobState.SUBMITTING: ("Sending to Sora-2", discord.Colour.blurple()),
    JobState.SUBMITTED: ("Waiting for Sora-2", discord.Colour.blurple()),
    JobState.RUNNING: ("Generating", discord.Colour.blurple()),
    JobState.COMPLETED: ("Uploading", discord.Colour.teal()),
    JobState.DELIVERING: ("Uploading", discord.Colour.teal()),
    JobState.DELIVERED: ("Done", discord.Colour.green()),
    JobState.REJECTED: ("Not started", discord.Colour.red()),
    JobState.FAILED: ("Failed", discord.Colour.red()),
    JobState.UNDELIVERABLE: ("Ready, but could not be posted", discord.Colour.orange()),
}


def progress_bar(percent: int) -> str:
    """A text bar such as ``▰▰▰▰▱▱▱▱▱▱▱▱ 33%``."""
    percent = max(0, min(100, percent))
    filled = round(percent / 100 * BAR_CELLS)
    return "▰" * filled + "▱" * (BAR_CELLS - filled) + f" {percent}%"


def options_line(job: Job) -> str:
    """Aspect ratio, duration and watermark in one line."""
    shape = "landscape" if job.aspect_ratio == "16:9" else "portrait"
    mark = "no watermark" if job.remove_watermark else "watermark kept"
    return f"{job.aspect_ratio} {shape} · {job.duration} s · {mark} · {job.cost} credits"


def status_embed(job: Job, *, queue_position: int | None = None) -> discord.Embed:
    """The status message of a job, kept current while it runs (labelled by its sender)."""
    label, colour = _STATE_TEXT[job.state]
    if job.state is JobState.QUEUED and queue_position is not None:
        label = f"Queued · position {queue_position}"
    prompt = display_prompt(job.prompt, PROMPT_EXCERPT)
    embed = discord.Embed(title=f"🎬 {label}", description=prompt, colour=colour)
    embed.add_field(name="Requested by", value=f"<@{job.user_id}>", inline=True)
    embed.add_field(name="Options", value=options_line(job), inline=True)
    if not job.state.terminal:
        embed.add_field(name="Progress", value=progress_bar(job.progress), inline=False)
        if job.submitted_at and job.estimated_seconds and job.state is not JobState.DELIVERING:
            eta = int(job.submitted_at + job.estimated_seconds)
            embed.add_field(name="Expected", value=f"<t:{eta}:R>", inline=True)
    elif job.error_code and job.state is not JobState.DELIVERED:
        # Cleaned when it came in; again here for rows stored before that.
        code = clean_outside_code(job.error_code) or "unknown"
        embed.add_field(name="Reason", value=f"`{code}`", inline=True)
    embed.set_footer(text=f"job #{job.id}")
    return embed


def jump_url(guild_id: str, ref: str | None) -> str | None:
    """A link to a ``channel/message`` reference, or None."""
    if not ref or "/" not in ref:
        return None
    channel_id, message_id = ref.split("/", 1)
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def job_line(job: Job) -> str:
    """One line of ``/jobs``."""
    label, _ = _STATE_TEXT[job.state]
    prompt = display_prompt(job.prompt.replace("\n", " "), 60)
    line = f"**#{job.id}** · {label} · <t:{int(job.created_at)}:R> · {prompt}"
    link = jump_url(job.guild_id, job.delivery_ref or DiscordRefs.of(job).status_ref)
    if link:
        line += f" · [open]({link})"
    elif job.state is JobState.UNDELIVERABLE and job.file_path:
        line += " · kept on the bot's disk (ask an admin)"
    return line
