"""Texts only the Discord layer shows: result buttons, admin confirmations, the simulation label.

Outcome texts (how a job ended) live in ``sora_bot.outcome_texts`` and rule refusals in
``sora_bot.rules.refusals``; both are shared with the CLI. ``cogs.outgoing`` applies the
simulation label, so no cog adds it by hand.
"""

from __future__ import annotations

from sora_bot.outcome_texts import clip, safe_text

# -- simulation mode (SORA_SIMULATE=1: no provider, a test pattern) ------------------------

SIMULATION_TAG = "🧪 Simulation"
SIMULATION_NOTE = f"-# {SIMULATION_TAG}: made by the built-in simulator, not by Sora-2."
SIMULATION_SUFFIX = "simulation"  # after the job number in a status message's footer

# -- result buttons (Re-roll, Remix, Delete, Try again, Edit prompt) ------------------------

BUTTON_JOB_UNKNOWN = "The bot no longer knows the job behind this button, so it can't be used."
BUTTON_REQUESTER_ONLY = (
    "Only the person who asked for this video can use this button. You can start your own "
    "with `/video`, or press Re-roll or Remix under a finished video (on your own credits)."
)
BUTTON_DELETE_REFUSED = (
    "Only the person who asked for this video, or a moderator (Manage Messages or Manage "
    "Server), can delete it."
)
BUTTON_IMAGE_GONE = (
    "The starting image of this video is no longer available, so it can't be made again. "
    "Please use `/video` with the image."
)
BUTTON_DELETED = "The video was deleted."


def button_delete_failed(status: int) -> str:
    """Text for a Delete press whose deletion Discord refused."""
    return safe_text(
        f"Discord refused to delete the video (HTTP {status}). Please try again later."
    )


# -- /sora-admin confirmations ------------------------------------------------------------


def admin_done(action: str, **details: object) -> str:
    """The confirmation an admin sees after a change (sent with mentions disabled)."""
    template = _ADMIN_DONE.get(action, "Done.")
    # Not safe_text: role and member mentions must render; the sender disables pings instead.
    return clip(template.format(**details))


_ADMIN_DONE = {
    "pause": "Paused: new videos are refused in this server until `/sora-admin resume`. "
    "Jobs already running will finish.",
    "resume": "Resumed: members can make videos again.",
    "allowance_default": "Every member now gets {credits} credits a day, unless a role or "
    "personal allowance says otherwise.",
    "allowance_default_cleared": "The daily allowance is back to the bot's default "
    "({credits} credits).",
    "allowance_role": "Members with {target} now get at least {credits} credits a day "
    "(the most generous of a member's roles counts).",
    "allowance_role_cleared": "{target} no longer has its own daily allowance.",
    "allowance_user": "{target} now gets {credits} credits a day, whatever their roles.",
    "allowance_user_cleared": "{target} is back to the allowance of their roles or the server.",
    "grant": "{target} got {credits} extra credits for today.",
    "reset_user": "{target}'s day was reset: {credits} credits spent today were given back.",
    "budget": "The server may now spend at most {credits} credits a day in total.",
    "budget_off": "The server has no daily budget now.",
    "budget_cleared": "The server's daily budget is back to the bot's default.",
    "block": "{target} can no longer make videos here.",
    "block_again": "{target} was already blocked.",
    "unblock": "{target} can make videos again.",
    "unblock_noop": "{target} was not blocked.",
    "channel_allow": "/video now works in {target}{others}.",
    "channel_remove": "{target} was removed from the allowed channels{left}.",
    "channel_remove_noop": "{target} was not on the list of allowed channels.",
    "channels_clear": "/video works in every channel again.",
    "term_add": "Blocked “{term}”. Prompts containing it are refused before anything is spent.",
    "term_add_noop": "“{term}” was already blocked.",
    "term_remove": "“{term}” is no longer blocked.",
    "term_remove_noop": "“{term}” was not on the list.",
    "defaults": "Defaults updated. Members who leave an option out now get: {summary}.",
}
