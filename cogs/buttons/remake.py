"""What the result buttons do: find the job, check who may act, start its remake, edit prompts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from cogs.context import core_of
from cogs.errors import UserFacingError, refuse_if_slowed, reply_with_error
from cogs.intake import precheck, within_deadline
from cogs.launch import launch_job
from cogs.refs import DiscordRefs
from cogs.texts import BUTTON_IMAGE_GONE, BUTTON_JOB_UNKNOWN, BUTTON_REQUESTER_ONLY
from sora_bot.media import PreparedImage
from sora_bot.models import Job
from sora_bot.rules.validation import clean_prompt

if TYPE_CHECKING:
    from sora_bot.engine.service import JobService

log = logging.getLogger(__name__)

TEXT_INPUT_MAX = 4000  # Discord's cap for one modal text input; prompts may be 5000
MODAL_TIMEOUT = 15 * 60  # an unsubmitted modal is forgotten after the interaction's lifetime


def job_service(interaction: discord.Interaction) -> JobService:
    """The core's job service, from the bot that received the interaction."""
    return core_of(interaction).jobs


async def find_job(interaction: discord.Interaction, job_id: int) -> Job | None:
    """The job a button names, or None when unknown or not from this server."""
    job = await job_service(interaction).get(job_id)
    # Custom ids come from our own posts; a job of another guild is refused all the same.
    if job is None or job.guild_id != str(interaction.guild_id):
        return None
    return job


async def require_job(interaction: discord.Interaction, job_id: int) -> Job:
    """The job a button names (refuses the press when it is unknown)."""
    job = await find_job(interaction, job_id)
    if job is None:
        raise UserFacingError(BUTTON_JOB_UNKNOWN)
    return job


def require_requester(interaction: discord.Interaction, job: Job) -> None:
    """Refuse the press unless it comes from the person who asked for the job."""
    if str(interaction.user.id) != job.user_id:
        raise UserFacingError(BUTTON_REQUESTER_ONLY)


def may_delete(interaction: discord.Interaction, job: Job | None) -> bool:
    """The requester, or a member allowed to moderate messages or manage the server."""
    if job is not None and str(interaction.user.id) == job.user_id:
        return True
    perms = interaction.permissions  # the member's resolved permissions in this channel
    return perms.manage_messages or perms.manage_guild


async def remake(interaction: discord.Interaction, job: Job, *, prompt: str | None = None) -> Job:
    """A new job with ``job``'s options (and maybe a new prompt), charged to whoever pressed.

    The interaction must be deferred ephemerally; refusals are raised for ``answering``.
    """
    jobs = job_service(interaction)
    options = replace(job.options, image_url=None)
    if prompt is not None:
        options = replace(options, prompt=clean_prompt(prompt))
    await precheck(jobs, interaction, options)  # before the image is fetched again
    image = await source_image(interaction.client, jobs, job) if job.image_url else None
    return await launch_job(jobs, interaction, options, image=image)


async def source_image(client: discord.Client, jobs: JobService, job: Job) -> PreparedImage:
    """The job's starting image, read again from the bot's own status post.

    Stored attachment links are signed and expire after a day; fetching the message gives a
    fresh one, and re-posting the image gives the new job a link of its own.
    """
    refs = DiscordRefs.of(job)
    try:
        if refs.channel_id is None or refs.message_id is None:
            raise LookupError("no status message stored")
        channel = client.get_partial_messageable(refs.channel_id)
        data = await within_deadline(_first_attachment(channel, refs.message_id))
    except (LookupError, ValueError, discord.HTTPException, aiohttp.ClientError) as exc:
        log.info("job %d: starting image not readable (%s)", job.id, exc)
        raise UserFacingError(BUTTON_IMAGE_GONE) from exc
    return await jobs.images.prepare(data)


async def _first_attachment(channel: discord.PartialMessageable, message_id: int) -> bytes:
    message = await channel.fetch_message(message_id)
    return await message.attachments[0].read()


@contextlib.asynccontextmanager
async def answering(interaction: discord.Interaction) -> AsyncIterator[None]:
    """Answer a failed press like a failed command: short ephemeral text, bugs logged.

    Dynamic items and modals do not pass through the command tree's ``on_error`` (nor its
    ``interaction_check``: someone refused too often is turned away here).
    """
    try:
        refuse_if_slowed(interaction)
        yield
    except Exception as error:
        await reply_with_error(interaction, error)


def split_prompt(prompt: str, size: int = TEXT_INPUT_MAX) -> tuple[str, str]:
    """Cut a prompt for two text inputs, at whitespace when the rest still fits in one."""
    if len(prompt) <= size:
        return prompt, ""
    cut = max(prompt.rfind(" ", 0, size), prompt.rfind("\n", 0, size))
    if cut < len(prompt) - size or cut <= 0:
        cut = size
    return prompt[:cut], prompt[cut:]


def join_prompt(first: str, rest: str) -> str:
    """Put the two text inputs back together (a space between them unless one has it)."""
    if not rest.strip():
        return first
    if first[-1:].isspace() or rest[:1].isspace():
        return first + rest
    return f"{first} {rest}"


class PromptModal(discord.ui.Modal):
    """The job's prompt, prefilled for editing; submitting starts the edited job."""

    def __init__(self, job: Job, *, title: str) -> None:
        super().__init__(title=title, timeout=MODAL_TIMEOUT)
        self.job = job
        first, rest = split_prompt(job.prompt)
        self.first: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Prompt",
            style=discord.TextStyle.paragraph,
            default=first,
            max_length=TEXT_INPUT_MAX,
            custom_id="prompt",
        )
        self.add_item(self.first)
        self.rest: discord.ui.TextInput[Any] | None = None
        if rest:  # over Discord's 4000 per input: the end goes in a second box, not lost
            self.rest = discord.ui.TextInput(
                label="Prompt (continued)",
                style=discord.TextStyle.paragraph,
                default=rest,
                max_length=TEXT_INPUT_MAX,
                required=False,
                custom_id="prompt_more",
            )
            self.add_item(self.rest)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Start the job with the edited prompt, on the submitter's credits."""
        async with answering(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            prompt = join_prompt(self.first.value, self.rest.value if self.rest else "")
            await remake(interaction, self.job, prompt=prompt)
