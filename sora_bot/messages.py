"""Every user-facing outcome text, shared by the Discord layer and the CLI.

Texts are plain sentences, never tracebacks or secrets, at most ``MAX_CHARS`` long, and any
provider text in them has its mentions defused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from sora_bot.provider.errors import (
    DownloadError,
    ProviderError,
    ProviderUnavailable,
    SoraAPIError,
    SubmissionUncertain,
    error_for_status,
)

if TYPE_CHECKING:
    from sora_bot.models import Job
    from sora_bot.rules.credits import CreditRefused

MAX_CHARS = 1800  # Discord allows 2000 per message: leave room for a prefix or a mention
MAX_DETAIL_CHARS = 300
FailureKind = Literal["user_fixable", "retry", "transient", "gone", "other"]

_KINDS: dict[str, FailureKind] = {
    "content_policy_violation": "user_fixable",
    "invalid_parameters": "user_fixable",
    "image_processing_error": "user_fixable",
    "image_dimension_mismatch": "user_fixable",
    "request_cancelled": "other",
    "generation_failed_no_content": "retry",
    "service_error": "transient",
    "generation_timeout": "transient",
    "resource_exhausted": "transient",
    "service_unavailable": "transient",
    "quota_exceeded": "transient",
    "resource_not_found": "gone",
    "unknown_error": "other",
}

_TRY_LATER = "Please try again in a few minutes."
# (text, whether the provider's own detail helps the user) per failure code.
_FAILURES: dict[str, tuple[str, bool]] = {
    "content_policy_violation": (
        "Your video was blocked by the provider's content filter. Sora-2's filter is strict: it "
        "refuses real people, celebrities and public figures, violence, copyrighted characters, "
        "and images showing real humans. Try rephrasing the prompt, describing a fictional "
        "character instead, or using another image.",
        True,
    ),
    "invalid_parameters": ("The video service refused the options of this request.", True),
    "image_processing_error": (
        "The video service could not process your image. Please try another image.",
        True,
    ),
    "image_dimension_mismatch": (
        "Your image's shape does not fit the chosen aspect ratio. Pick the aspect ratio that "
        "matches the image (16:9 for landscape, 9:16 for portrait) or crop the image to match.",
        True,
    ),
    "request_cancelled": ("The video request was cancelled.", False),
    "generation_failed_no_content": (
        "The model finished without producing a video. Please try again, perhaps with a "
        "different prompt.",
        False,
    ),
    "service_error": (f"The video service had an internal error. {_TRY_LATER}", False),
    "generation_timeout": (
        f"The video service took too long to make the video. {_TRY_LATER}",
        False,
    ),
    "resource_exhausted": (f"The video service is out of capacity right now. {_TRY_LATER}", False),
    "service_unavailable": (f"The video service is temporarily unavailable. {_TRY_LATER}", False),
    "quota_exceeded": (
        f"The video service is limiting how many videos the bot can make. {_TRY_LATER}",
        False,
    ),
    "resource_not_found": (
        "The video service no longer knows this job (it may have expired). Please start a new one.",
        False,
    ),
    "unknown_error": ("The video could not be made, and the video service did not say why.", True),
}

_STATUS_TEXT: dict[int, str] = {
    401: "The bot could not sign in to the video service: its access key was refused. "
    "A server admin needs to fix the bot's configuration.",
    402: "The bot's video-service account has run out of credit, so no videos can be made "
    "until an admin tops it up.",
    403: "The bot's access key is not allowed to use the Sora-2 model. A server admin needs "
    "to check the provider account.",
    404: "The video service could not find the model or the job we asked for. If this keeps "
    "happening, please tell a server admin.",
    413: "Your image is too large for the video service. Please use a smaller image (under "
    "4 MB), for example a compressed JPEG.",
    500: f"The video service had an internal error. {_TRY_LATER}",
    502: f"The video service could not reach its own upstream servers. {_TRY_LATER}",
    503: "The video service is temporarily unavailable. Please try again in about 30 seconds.",
}

_DOWNLOAD_TEXT: dict[str, str] = {
    "expired": "Your video was made, but its download link had already expired (links last "
    "24 hours), so the bot could not fetch it.",
    "too_large": "Your video was made, but it is larger than the bot is allowed to download.",
    "incomplete": "Your video was made, but its download kept stopping before it finished.",
    "disk": "Your video was made, but the bot could not save it (a storage problem on the "
    "bot's side). Please tell a server admin.",
    "network": "Your video was made, but the bot could not reach the server holding it.",
}

_PING_RE = re.compile(r"(?<=<)@|@(?=everyone|here)", re.IGNORECASE)
_SECRET_RE = re.compile(r"(?i)\b(bearer\s+|sk-)[\w.\-]{6,}")


def classify_failure(code: str | None) -> FailureKind:
    """The kind of a provider failure code, to decide what the user may do next."""
    return _KINDS.get(_norm(code), "other")


def task_failure(code: str | None, provider_message: str | None, *, refunded: bool = True) -> str:
    """Text for a provider task that ended with ``status: failed``."""
    key = _norm(code)
    if key in _FAILURES:
        text, show_detail = _FAILURES[key]
    else:
        text, show_detail = (
            "The video could not be made (the video service gave no known reason).",
            True,
        )
    if show_detail and (detail := _detail(provider_message)):
        text += f"\nProvider's note: {detail}"
    if refunded:
        text += "\n" + refund_note(None)
    return _finish(text)


def api_error(err: SoraAPIError | ProviderError) -> str:
    """Text for an error talking to the provider (HTTP statuses, no answer, lost answer)."""
    if isinstance(err, SubmissionUncertain):
        return _finish(
            "We could not confirm that your video job started, so nothing was charged. "
            "Please try again."
        )
    if isinstance(err, ProviderUnavailable):
        return _finish(f"The video service is not answering right now. {_TRY_LATER}")
    if isinstance(err, DownloadError):
        return download_failed(err)
    if not isinstance(err, SoraAPIError):
        return _finish(f"Something went wrong talking to the video service. {_TRY_LATER}")
    if err.status == 400:
        field = _field_name(err.param)
        where = f" (the field `{field}`)" if field else ""
        return _finish(
            f"The video service refused the request as invalid{where}. This is probably a bug "
            "in the bot; if it keeps happening, please tell a server admin."
        )
    if err.status == 429:
        wait = f"about {round(err.retry_after)} seconds" if err.retry_after else "a minute"
        return _finish(
            f"The video service is busy with too many requests. Please try again in {wait}."
        )
    if err.status in _STATUS_TEXT:
        return _finish(_STATUS_TEXT[err.status])
    return _finish(
        f"The video service answered with an unexpected error (HTTP {err.status}). {_TRY_LATER}"
    )


def download_failed(err: DownloadError) -> str:
    """Text for a finished video that could not be downloaded."""
    text = _DOWNLOAD_TEXT.get(err.kind, "Your video was made, but the bot could not download it.")
    return _finish(text)


def job_timed_out(minutes: float) -> str:
    """Text for a job the bot stopped waiting for."""
    shown = f"{minutes:.0f}" if float(minutes).is_integer() else f"{minutes:.1f}"
    unit = "minute" if shown == "1" else "minutes"
    return _finish(
        f"Your video was not ready after {shown} {unit}, so the bot stopped waiting for it. "
        "Please try again later."
    )


def submit_interrupted() -> str:
    """Text for a job whose submission was cut short by a bot restart."""
    return _finish(
        "The bot restarted while sending your video job, and could not confirm that it started. "
        "Nothing was charged; please run the command again."
    )


def undeliverable(
    *, link: str | None = None, path: str | None = None, expires_at: datetime | None = None
) -> str:
    """Text for a finished video that could not be posted, saying how to get it anyway."""
    text = "Your video is ready, but the bot could not post it here."
    until = f" until {_utc(expires_at)}" if expires_at else ""
    if link:
        text += f"\nYou can download it{until}: {link}"
    if path:
        text += (
            f"\nA server admin can fetch it from the bot's storage{'' if link else until}: `{path}`"
        )
    if not link and not path:
        text += " Please ask a server admin for it."
    return _finish(text)


def job_outcome(job: Job) -> str:
    """The message for a job that ended without a posted video, from its stored error code."""
    code = job.error_code or "unknown_error"
    refunded = job.credit_state == "refunded"
    if code == "undeliverable":
        return undeliverable(path=job.file_path)
    if code in ("submit_interrupted", "preparation_interrupted"):
        return submit_interrupted()
    if code == "submit_uncertain":
        return api_error(SubmissionUncertain(job.error_message or ""))
    if code == "internal_error":
        text = (
            "Something went wrong on the bot's side while handling your video; it has been "
            "logged for the admins. Please try again."
        )
        return _finish(text + ("\n" + refund_note(job.cost) if refunded else ""))
    if code == "timeout":
        waited = (job.finished_at or 0) - (job.submitted_at or job.created_at)
        text = job_timed_out(max(1, round(waited / 60)))
    elif code.startswith("download_"):
        text = download_failed(DownloadError(code.removeprefix("download_"), ""))
    elif code.startswith("http_") and code[5:].isdigit():
        status = int(code[5:])
        text = api_error(error_for_status(status)(status, job.error_message or ""))
    elif code == "provider_unavailable":
        text = api_error(ProviderUnavailable(job.error_message or ""))
    else:
        return task_failure(code, job.error_message, refunded=refunded)
    return _finish(text + ("\n" + refund_note(job.cost) if refunded else ""))


_REFUSALS = {
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
    template = _REFUSALS.get(refused.reason, "This video cannot be started right now.")
    return _finish(
        template.format(
            active=status.active_jobs,
            limit=status.max_active,
            cost=refused.cost,
            remaining=status.remaining,
            resets=resets,
        )
    )


def refund_note(credits: int | None) -> str:
    """One sentence saying the credits were given back."""
    if credits is None:
        return "Your credits were refunded."
    if credits == 1:
        return "Your 1 credit was refunded."
    return f"Your {credits} credits were refunded."


def defuse_mentions(text: str) -> str:
    """Break ``@everyone``, ``@here`` and user/role mentions with a zero-width space."""
    return text.replace("@", "@\u200b")


def _norm(code: str | None) -> str:
    return (code or "").strip().lower()


def _detail(message: str | None) -> str:
    """The provider's text trimmed to two lines and ``MAX_DETAIL_CHARS``, secrets masked."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    detail = _SECRET_RE.sub("[hidden]", " ".join(lines[:2]))
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[: MAX_DETAIL_CHARS - 1].rstrip() + "…"
    return defuse_mentions(detail)


def _field_name(param: str | None) -> str | None:
    # Only show something that looks like a field name, never arbitrary provider text.
    return param if param and re.fullmatch(r"[\w.\[\]]{1,40}", param) else None


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:  # naive values in this project are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _finish(text: str) -> str:
    # Safety net for links and paths: break only what Discord would ping.
    text = _PING_RE.sub("@\u200b", text)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


# -- guild rules and admin commands ------------------------------------------------------

MAX_LISTED_CHANNELS = 5


def blocked_member() -> str:
    """Refusal for a member the server's admins blocked from the bot."""
    return _finish(
        "A server admin has blocked you from making videos in this server. "
        "Nothing was charged; ask an admin if you think this is a mistake."
    )


def channel_not_allowed(allowed_channel_ids: list[str]) -> str:
    """Refusal for /video outside the channels the admins allowed."""
    shown = " ".join(f"<#{c}>" for c in allowed_channel_ids[:MAX_LISTED_CHANNELS])
    more = " and others" if len(allowed_channel_ids) > MAX_LISTED_CHANNELS else ""
    return _finish(
        f"Videos can't be made in this channel. Please use {shown}{more}. Nothing was charged."
    )


def blocked_term(term: str) -> str:
    """Refusal naming the one rule the prompt matched (never the whole list)."""
    return _finish(
        f"Your prompt contains “{defuse_mentions(term)}”, which this server's admins have "
        "blocked. Please rephrase it; nothing was charged."
    )


def term_invalid(reason: str, max_chars: int) -> str:
    """Why an admin's new blocked term was not accepted."""
    if reason == "too_long":
        return _finish(f"A blocked term can have at most {max_chars} characters.")
    return _finish("A blocked term needs at least one letter or digit.")


def admin_done(action: str, **details: object) -> str:
    """The confirmation an admin sees after a change (sent with mentions disabled)."""
    template = _ADMIN_DONE.get(action, "Done.")
    # Not _finish: role and member mentions must render; the sender disables pings instead.
    text = template.format(**details)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


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
    return _finish(f"Discord refused to delete the video (HTTP {status}). Please try again later.")


def too_many_terms(limit: int) -> str:
    """Refusal when a guild's blocked-term list is full."""
    return _finish(f"This server already has {limit} blocked terms; remove one first.")


def negative_surcharge() -> str:
    """Refusal for a negative watermark surcharge."""
    return "The watermark surcharge must be 0 or more credits."


SIMULATION_TAG = "🧪 Simulation"


def simulation_label(text: str, simulate: bool) -> str:
    """``text`` marked as a simulation (``SORA_SIMULATE=1``: no provider, a test pattern)."""
    if not simulate:
        return text
    return f"-# {SIMULATION_TAG}: made by the built-in simulator, not by Sora-2.\n{text}"
