"""How a job ended, in words: provider and API errors, download failures, refund notes.

Shared by the worker, the CLI and the Discord layer (and the rules' refusals use its safety
net). Texts are plain sentences, never tracebacks or secrets, at most ``MAX_CHARS`` long, and
any provider text in them has its mentions defused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sora_bot.models import CreditState
from sora_bot.outside_text import clean_outside_text
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

MAX_CHARS = 1800  # Discord allows 2000 per message: leave room for a prefix or a mention
MAX_DETAIL_CHARS = 300

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
    "refused": "Your video was made, but its download link pointed somewhere the bot does "
    "not fetch from (not a public web address), so the bot did not fetch it.",
}

_PING_RE = re.compile(r"(?<=<)@(?!\u200b)|@(?=everyone|here)", re.IGNORECASE)
_SECRET_RE = re.compile(r"(?i)\b(bearer\s+|sk-)[\w.\-]{6,}")


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
    return safe_text(text)


def api_error(err: SoraAPIError | ProviderError) -> str:
    """Text for an error talking to the provider (HTTP statuses, no answer, lost answer)."""
    if isinstance(err, SubmissionUncertain):
        return safe_text(
            "We could not confirm that your video job started, so nothing was charged. "
            "Please try again."
        )
    if isinstance(err, ProviderUnavailable):
        return safe_text(f"The video service is not answering right now. {_TRY_LATER}")
    if isinstance(err, DownloadError):
        return download_failed(err)
    if not isinstance(err, SoraAPIError):
        return safe_text(f"Something went wrong talking to the video service. {_TRY_LATER}")
    if err.status == 400:
        field = _field_name(err.param)
        where = f" (the field `{field}`)" if field else ""
        return safe_text(
            f"The video service refused the request as invalid{where}. This is probably a bug "
            "in the bot; if it keeps happening, please tell a server admin."
        )
    if err.status == 429:
        wait = f"about {round(err.retry_after)} seconds" if err.retry_after else "a minute"
        return safe_text(
            f"The video service is busy with too many requests. Please try again in {wait}."
        )
    if err.status in _STATUS_TEXT:
        return safe_text(_STATUS_TEXT[err.status])
    return safe_text(
        f"The video service answered with an unexpected error (HTTP {err.status}). {_TRY_LATER}"
    )


def download_failed(err: DownloadError) -> str:
    """Text for a finished video that could not be downloaded."""
    text = _DOWNLOAD_TEXT.get(err.kind, "Your video was made, but the bot could not download it.")
    return safe_text(text)


def job_timed_out(minutes: float) -> str:
    """Text for a job the bot stopped waiting for."""
    shown = f"{minutes:.0f}" if float(minutes).is_integer() else f"{minutes:.1f}"
    unit = "minute" if shown == "1" else "minutes"
    return safe_text(
        f"Your video was not ready after {shown} {unit}, so the bot stopped waiting for it. "
        "Please try again later."
    )


def submit_interrupted() -> str:
    """Text for a job whose submission was cut short by a bot restart."""
    return safe_text(
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
    return safe_text(text)


def job_outcome(job: Job) -> str:
    """The message for a job that ended without a posted video, from its stored error code."""
    code = job.error_code or "unknown_error"
    refunded = job.credit_state == CreditState.REFUNDED
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
        return safe_text(text + ("\n" + refund_note(job.cost) if refunded else ""))
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
    return safe_text(text + ("\n" + refund_note(job.cost) if refunded else ""))


def refund_note(credits: int | None) -> str:
    """One sentence saying the credits were given back."""
    if credits is None:
        return "Your credits were refunded."
    if credits == 1:
        return "Your 1 credit was refunded."
    return f"Your {credits} credits were refunded."


def defuse_mentions(text: str) -> str:
    """Break ``@everyone``, ``@here`` and user/role mentions with a zero-width space."""
    return re.sub("@(?!\u200b)", "@\u200b", text)


def safe_text(text: str) -> str:
    """The last step of every text: pings broken, then clipped to ``MAX_CHARS``."""
    # Safety net for links and paths: break only what Discord would ping.
    return clip(_PING_RE.sub("@\u200b", text))


def clip(text: str) -> str:
    """``text`` cut to ``MAX_CHARS`` with an ellipsis (texts that must keep their mentions)."""
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _norm(code: str | None) -> str:
    return (code or "").strip().lower()


def _detail(message: str | None) -> str:
    """The provider's text trimmed to two lines and ``MAX_DETAIL_CHARS``, secrets masked.

    Cleaned again (it was when it entered): a row stored by an older version may not be.
    """
    lines = [line.strip() for line in clean_outside_text(message or "").splitlines()]
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
