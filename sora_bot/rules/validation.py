"""Checks on user input before anything is spent; refusals are friendly ``InvalidInput`` texts."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from sora_bot.errors import InvalidInput
from sora_bot.models import ASPECT_RATIOS, DURATIONS, MAX_PROMPT_CHARS, VideoOptions
from sora_bot.rules.terms import strip_invisible

MAX_URL_CHARS = 2048
_KEPT_CONTROLS = frozenset("\n\t")


def clean_prompt(text: str) -> str:
    """Strip the prompt, drop control characters (except newline and tab) and check its length."""
    if not isinstance(text, str):
        raise InvalidInput("Please write a prompt describing the video.")
    text = text.replace("\r\n", "\n")
    # Only category Cc goes: format characters (Cf) carry emoji joiners and RTL marks.
    text = "".join(
        ch for ch in text if ch in _KEPT_CONTROLS or unicodedata.category(ch) != "Cc"
    ).strip()
    if not text:
        raise InvalidInput("Please write a prompt describing the video; it can't be empty.")
    # Kept as typed (joiners shape emoji), but a prompt of invisible characters says nothing.
    if not strip_invisible(text).strip():
        raise InvalidInput(
            "Your prompt is only invisible characters; please describe the video in words."
        )
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"Your prompt has {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}. "
            "Please shorten it."
        )
    return text


def build_options(
    prompt: str,
    *,
    aspect_ratio: str = "16:9",
    duration: int | str = 10,
    remove_watermark: bool = True,
    image_url: str | None = None,
) -> VideoOptions:
    """Validate every option and return them as ``VideoOptions``."""
    return VideoOptions(
        prompt=clean_prompt(prompt),
        aspect_ratio=_aspect_ratio(aspect_ratio),
        duration=_duration(duration),
        remove_watermark=_flag(remove_watermark, "remove_watermark"),
        image_url=None if image_url is None else _image_url(image_url),
    )


def video_cost(duration: int, remove_watermark: bool, watermark_surcharge: int) -> int:
    """Credits for one video: its seconds, plus the surcharge when the watermark is removed."""
    if watermark_surcharge < 0:
        raise ValueError("watermark_surcharge must not be negative")
    return duration + (watermark_surcharge if remove_watermark else 0)


def _aspect_ratio(value: object) -> str:
    if isinstance(value, str) and value.strip() in ASPECT_RATIOS:
        return value.strip()
    raise InvalidInput("The aspect ratio must be 16:9 (landscape) or 9:16 (portrait).")


def _duration(value: object) -> int:
    # bool is an int subclass: True must not pass as a duration.
    if isinstance(value, int) and not isinstance(value, bool) and value in DURATIONS:
        return value
    if isinstance(value, str) and value.strip() in {str(d) for d in DURATIONS}:
        return int(value.strip())
    raise InvalidInput("The duration must be 10 or 15 seconds.")


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidInput(f"The {name.replace('_', ' ')} option must be yes or no.")


def _image_url(value: object) -> str:
    refusal = InvalidInput("The image must be a web link starting with http:// or https://.")
    if not isinstance(value, str):
        raise refusal
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        raise InvalidInput("The image link is too long; please use a shorter link.")
    if any(ch.isspace() for ch in url):
        raise refusal
    try:
        parts = urlsplit(url)
    except ValueError:
        raise refusal from None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise refusal
    return url
