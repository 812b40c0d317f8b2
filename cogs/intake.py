"""What a request goes through before anything costly: the cheap refusals, then the image.

Order matters: who asks, where, and whether they can afford it are answered from memory and
the database in milliseconds; only then is an image downloaded (with a deadline) and decoded
(in the core's ``ImageGate``). ``JobService.submit`` decides again at the end, atomically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import aiohttp
import discord

from cogs.errors import UserFacingError
from cogs.launch import posting_plan, requester_of
from sora_bot.errors import InvalidInput
from sora_bot.media import PreparedImage

if TYPE_CHECKING:
    from sora_bot.engine.service import JobService
    from sora_bot.models import VideoOptions

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # larger uploads are refused before being read
READ_SECONDS = 20.0  # for the whole download of one image, however slowly it trickles
READ_LATE = "I couldn't read the image in time; please try again (nothing was charged)."
READ_FAILED = "I couldn't read the attached image; please try again."


async def precheck(
    jobs: JobService, interaction: discord.Interaction, options: VideoOptions
) -> None:
    """Refuse before reading anything: no way to post here, a guild rule, or too few credits."""
    posting_plan(interaction)
    await jobs.precheck(requester_of(interaction), options)


async def read_attachment(jobs: JobService, attachment: discord.Attachment) -> PreparedImage:
    """The attachment, downloaded within ``READ_SECONDS`` and checked by the core's gate."""
    if attachment.size > MAX_ATTACHMENT_BYTES:
        raise InvalidInput("That file is too large; please attach an image under 25 MB.")
    try:
        data = await within_deadline(attachment.read())
    except (discord.HTTPException, aiohttp.ClientError) as exc:
        raise UserFacingError(READ_FAILED) from exc
    return await jobs.images.prepare(data)


async def within_deadline(reading: Awaitable[bytes]) -> bytes:
    """The bytes ``reading`` gives, or a refusal when it takes over ``READ_SECONDS``."""
    try:
        async with asyncio.timeout(READ_SECONDS):
            return await reading
    except TimeoutError:
        raise UserFacingError(READ_LATE) from None
