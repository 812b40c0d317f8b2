"""Buttons under a job's outcome post, working across restarts (dynamic items keyed by job id).

Custom ids are ``sora:<action>:<job id>``; the job id is all the state a press needs, so no view
is kept in memory or re-armed at start: ``setup_hook`` only registers the item classes.

Who may press what: Re-roll and Remix are open to every member, on the presser's own credits
(the new job is theirs); Try again and Edit prompt, under a failure, are for the requester only;
Delete is for the requester and members with Manage Messages or Manage Server.
"""

from __future__ import annotations

import re
from typing import Any, Self

import discord

from cogs.buttons.remake import (
    PromptModal,
    answering,
    find_job,
    may_delete,
    remake,
    require_job,
    require_requester,
)
from cogs.errors import UserFacingError
from cogs.outgoing import reply
from cogs.texts import BUTTON_DELETE_REFUSED, BUTTON_DELETED, button_delete_failed
from sora_bot.models import Job

Button = discord.ui.Button[discord.ui.View]
JOB_ID = r"(?P<job_id>[0-9]{1,19})"
REQUESTER_ONLY = frozenset({"retry", "edit"})
_LOOK: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "reroll": ("Re-roll", "🎲", discord.ButtonStyle.primary),
    "retry": ("Try again", "🔁", discord.ButtonStyle.primary),
    "remix": ("Remix", "✏️", discord.ButtonStyle.secondary),
    "edit": ("Edit prompt", "✏️", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
}


def _button(action: str, job_id: int) -> Button:
    label, emoji, style = _LOOK[action]
    return Button(label=label, emoji=emoji, style=style, custom_id=f"sora:{action}:{job_id}")


class JobButton(discord.ui.DynamicItem[Button], template=rf"sora:(?P<action>[a-z]+):{JOB_ID}"):
    """A button for one action on one job; subclasses narrow the template and act on a press.

    Only the subclasses are registered (``DYNAMIC_ITEMS``); this one is never dispatched.
    """

    def __init__(self, job_id: int, action: str) -> None:
        super().__init__(_button(action, job_id))
        self.job_id = job_id
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(int(match["job_id"]), match["action"])

    async def permitted_job(self, interaction: discord.Interaction) -> Job:
        """The job, refused when unknown, or (for requester-only actions) to anyone else."""
        job = await require_job(interaction, self.job_id)
        if self.action in REQUESTER_ONLY:
            require_requester(interaction, job)
        return job


class RemakeButton(JobButton, template=rf"sora:(?P<action>reroll|retry):{JOB_ID}"):
    """Re-roll / Try again: the same prompt and options as a new job."""

    async def callback(self, interaction: discord.Interaction) -> None:
        """Charge the presser and start the job again (defer first: the 3-second rule)."""
        async with answering(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            await remake(interaction, await self.permitted_job(interaction))


class RemixButton(JobButton, template=rf"sora:(?P<action>remix|edit):{JOB_ID}"):
    """Remix / Edit prompt: a modal with the prompt to edit, then a new job."""

    async def callback(self, interaction: discord.Interaction) -> None:
        """Open the modal (it must be the first answer, so nothing is deferred here)."""
        async with answering(interaction):
            job = await self.permitted_job(interaction)
            verb = "Remix" if self.action == "remix" else "Edit the prompt of"
            await interaction.response.send_modal(PromptModal(job, title=f"{verb} video #{job.id}"))


class DeleteButton(JobButton, template=rf"sora:(?P<action>delete):{JOB_ID}"):
    """Delete: removes the video post (requester or moderators)."""

    async def callback(self, interaction: discord.Interaction) -> None:
        """Delete the message carrying the button, after checking who pressed."""
        async with answering(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            if not may_delete(interaction, await find_job(interaction, self.job_id)):
                raise UserFacingError(BUTTON_DELETE_REFUSED)
            assert interaction.message is not None  # component presses always carry it
            try:
                await interaction.message.delete()
            except discord.NotFound:
                pass  # already gone: what was asked for
            except discord.HTTPException as exc:
                raise UserFacingError(button_delete_failed(exc.status)) from exc
            await reply(interaction, BUTTON_DELETED)


DYNAMIC_ITEMS = (RemakeButton, RemixButton, DeleteButton)


def delivered_view(job_id: int) -> discord.ui.View:
    """Re-roll, Remix and Delete, for a posted video."""
    view = discord.ui.View(timeout=None)
    view.add_item(RemakeButton(job_id, "reroll"))
    view.add_item(RemixButton(job_id, "remix"))
    view.add_item(DeleteButton(job_id, "delete"))
    return view


def failed_view(job_id: int) -> discord.ui.View:
    """Try again and Edit prompt, for a job that ended without a video."""
    view = discord.ui.View(timeout=None)
    view.add_item(RemakeButton(job_id, "retry"))
    view.add_item(RemixButton(job_id, "edit"))
    return view
