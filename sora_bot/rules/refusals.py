"""Why the rules refused something, in words: credits, guild rules, blocked terms.

Refusals come before anything is spent, so most of them say that nothing was charged. They
pass through the same safety net as outcome texts (pings broken, ``MAX_CHARS`` at most).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sora_bot.outcome_texts import defuse_mentions, safe_text

if TYPE_CHECKING:
    from sora_bot.rules.credits import CreditRefused

MAX_LISTED_CHANNELS = 5

_CREDIT_REFUSALS = {
    "paused": "Video generation is paused in this server by its admins. Please try again later.",
    "active_limit": "You already have {active} video(s) in progress (the limit is {limit}). "
    "Please wait for one to finish.",
    "allowance": "This video costs {cost} credits and you have {remaining} left today. "
    "Your allowance resets {resets}.",
    "budget": "This server has used its video budget for today. It resets {resets}.",
}


def credit_refusal(refused: CreditRefused, *, resets: str) -> str:
    """Why a job was refused before anything was spent; ``resets`` is a rendered time."""
    status = refused.status
    template = _CREDIT_REFUSALS.get(refused.reason, "This video cannot be started right now.")
    return safe_text(
        template.format(
            active=status.active_jobs,
            limit=status.max_active,
            cost=refused.cost,
            remaining=status.remaining,
            resets=resets,
        )
    )


def blocked_member() -> str:
    """Refusal for a member the server's admins blocked from the bot."""
    return safe_text(
        "A server admin has blocked you from making videos in this server. "
        "Nothing was charged; ask an admin if you think this is a mistake."
    )


def channel_not_allowed(allowed_channel_ids: list[str]) -> str:
    """Refusal for /video outside the channels the admins allowed."""
    shown = " ".join(f"<#{c}>" for c in allowed_channel_ids[:MAX_LISTED_CHANNELS])
    more = " and others" if len(allowed_channel_ids) > MAX_LISTED_CHANNELS else ""
    return safe_text(
        f"Videos can't be made in this channel. Please use {shown}{more}. Nothing was charged."
    )


def blocked_term(term: str) -> str:
    """Refusal naming the one rule the prompt matched (never the whole list)."""
    return safe_text(
        f"Your prompt contains “{defuse_mentions(term)}”, which this server's admins have "
        "blocked. Please rephrase it; nothing was charged."
    )


def slow_down(seconds: float) -> str:
    """Refusal for someone refused several times in a row: wait before trying again."""
    return f"You were refused several times in a row; please wait {max(1, round(seconds))} s."


def term_invalid(reason: str, max_chars: int) -> str:
    """Why an admin's new blocked term was not accepted."""
    if reason == "too_long":
        return safe_text(f"A blocked term can have at most {max_chars} characters.")
    return safe_text("A blocked term needs at least one letter or digit.")


def too_many_terms(limit: int) -> str:
    """Refusal when a guild's blocked-term list is full."""
    return safe_text(f"This server already has {limit} blocked terms; remove one first.")


def negative_surcharge() -> str:
    """Refusal for a negative watermark surcharge."""
    return "The watermark surcharge must be 0 or more credits."
