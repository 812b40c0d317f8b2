"""The one error path of every application command: short ephemeral text, logged tracebacks."""

from __future__ import annotations

import logging
from typing import Any, cast

import discord
from discord import app_commands

from cogs.context import attempts_of
from cogs.outgoing import reply
from sora_bot.errors import InvalidInput
from sora_bot.rules.credits import CreditRefused
from sora_bot.rules.refusals import credit_refusal, slow_down
from sora_bot.storage.database import StorageUnavailable

log = logging.getLogger(__name__)

GENERIC = "Something went wrong on the bot's side; it has been logged. Please try again."


class UserFacingError(app_commands.AppCommandError):
    """A refusal whose text is shown to the user as is (cogs raise it)."""


class SlowedDown(UserFacingError):
    """Someone refused too often lately, turned away before anything is read or looked up."""


# Refusals caused by what the user asked for: these count toward slowing them down. The bot's
# own failures (Discord or storage trouble, bugs) never do.
USER_CAUSED = (InvalidInput, CreditRefused)


def refuse_if_slowed(interaction: discord.Interaction[Any]) -> None:
    """Raise SlowedDown when the user was refused too often lately (memory only, no I/O)."""
    attempts = attempts_of(interaction)
    wait = attempts.wait(str(interaction.user.id)) if attempts is not None else 0.0
    if wait > 0:
        raise SlowedDown(slow_down(wait))


def text_for(error: BaseException) -> str | None:
    """The user-facing text for an expected error, or None for a bug."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserFacingError | InvalidInput):
        return str(error)
    if isinstance(error, CreditRefused):
        return credit_refusal(error, resets=f"<t:{int(error.status.resets_at)}:R>")
    if isinstance(error, StorageUnavailable):
        return "The bot can't record new jobs right now; nothing was charged. Try again later."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need the Manage Server permission for this."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    return None


class SoraTree(app_commands.CommandTree[discord.Client]):
    """Command tree whose on_error answers every failure the same way."""

    async def interaction_check(self, interaction: discord.Interaction[discord.Client]) -> bool:
        """Turn away, before the command runs, someone refused too often lately."""
        if interaction.type is not discord.InteractionType.autocomplete:
            refuse_if_slowed(interaction)  # raised errors reach on_error
        return True

    async def on_error(
        self, interaction: discord.Interaction[discord.Client], error: app_commands.AppCommandError
    ) -> None:
        await reply_with_error(interaction, error)


def _what_failed(interaction: discord.Interaction[Any]) -> str:
    """The command or component an interaction was for, as logged."""
    if interaction.type is discord.InteractionType.application_command:
        return f"command /{interaction.command.qualified_name if interaction.command else '?'}"
    return f"component {cast('dict[str, Any]', interaction.data or {}).get('custom_id')}"


async def reply_with_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the user, ephemerally, what went wrong; log the traceback of anything unexpected.

    Used by the command tree's ``on_error`` and, for dynamic items and modals (which do not pass
    through it), by ``cogs.buttons.remake.answering``.
    """
    text = text_for(error)
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    attempts = attempts_of(interaction)
    if isinstance(original, USER_CAUSED) and attempts is not None:
        attempts.refused(str(interaction.user.id))
    if text is None:
        log.error("%s failed", _what_failed(interaction), exc_info=error)
        text = GENERIC
    try:
        await reply(interaction, text)
    except discord.HTTPException as exc:  # token expired or interaction gone
        log.info("could not tell the user about an error: %s", exc)
