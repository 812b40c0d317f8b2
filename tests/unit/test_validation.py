"""Tests for prompt and option validation."""

from __future__ import annotations

import pytest

from sora_bot.errors import InvalidInput
from sora_bot.models import MAX_PROMPT_CHARS, VideoOptions
from sora_bot.rules.validation import build_options, clean_prompt, video_cost


def test_prompt_is_stripped() -> None:
    assert clean_prompt("  a cat on a skateboard \n") == "a cat on a skateboard"


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n", "\x00\x01 \x7f"])
def test_empty_prompt_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        clean_prompt(text)


def test_prompt_of_exactly_the_limit_is_kept() -> None:
    text = "a" * MAX_PROMPT_CHARS
    assert clean_prompt(text) == text


def test_prompt_over_the_limit_says_how_long_it_is() -> None:
    with pytest.raises(InvalidInput) as info:
        clean_prompt("a" * (MAX_PROMPT_CHARS + 1))
    assert "5,001" in str(info.value)
    assert "5,000" in str(info.value)


def test_limit_counts_after_trimming() -> None:
    text = "  " + "a" * MAX_PROMPT_CHARS + "  "
    assert len(clean_prompt(text)) == MAX_PROMPT_CHARS


def test_control_characters_are_removed_but_newline_and_tab_kept() -> None:
    assert clean_prompt("a\x00b\x07c\x1b[31m\r\nd\te\x85") == "abc[31m\nd\te"


def test_emoji_rtl_and_joiners_are_kept() -> None:
    text = "👩‍👩‍👧 قطة على لوح \u200f تزلج 🛹"
    assert clean_prompt(text) == text


def test_build_options_defaults() -> None:
    assert build_options(" a fox ") == VideoOptions(prompt="a fox")


def test_build_options_accepts_duration_strings_and_portrait() -> None:
    options = build_options(
        "a fox",
        aspect_ratio="9:16",
        duration="15",
        remove_watermark=False,
        image_url="https://example.com/fox.png",
    )
    assert options == VideoOptions("a fox", "9:16", 15, False, "https://example.com/fox.png")


@pytest.mark.parametrize("ratio", ["4:3", "16:10", "", "16/9", None])
def test_bad_aspect_ratio_is_refused(ratio: object) -> None:
    with pytest.raises(InvalidInput, match="16:9"):
        build_options("x", aspect_ratio=ratio)  # type: ignore[arg-type]


@pytest.mark.parametrize("duration", [5, 12, "12", "ten", 10.0, True, None, -10])
def test_bad_duration_is_refused(duration: object) -> None:
    with pytest.raises(InvalidInput, match="10 or 15"):
        build_options("x", duration=duration)  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", ["yes", 1, 0, None])
def test_watermark_flag_must_be_bool(flag: object) -> None:
    with pytest.raises(InvalidInput, match="watermark"):
        build_options("x", remove_watermark=flag)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/a.png",
        "https://",
        "https://exa mple.com/a.png",
        "https://example.com/" + "a" * 3000,
    ],
)
def test_bad_image_url_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        build_options("x", image_url=url)


def test_image_url_is_trimmed() -> None:
    assert build_options("x", image_url=" http://a.example/b.jpg ").image_url == (
        "http://a.example/b.jpg"
    )


def test_bad_prompt_is_refused_by_build_options() -> None:
    with pytest.raises(InvalidInput):
        build_options("   ")


@pytest.mark.parametrize(
    ("duration", "remove", "surcharge", "cost"),
    [
        (10, False, 5, 10),
        (10, True, 5, 15),
        (15, True, 0, 15),
        (15, False, 3, 15),
        (15, True, 3, 18),
    ],
)
def test_video_cost(duration: int, remove: bool, surcharge: int, cost: int) -> None:
    assert video_cost(duration, remove, surcharge) == cost


def test_negative_surcharge_is_a_bug() -> None:
    with pytest.raises(ValueError):
        video_cost(10, True, -1)


@pytest.mark.parametrize(
    "text",
    ["\u200b", "\u200b \u200d\u2060", "\u00ad\ufe0f", "\U000e0041\U000e0042", " \u180e\ufeff "],
)
def test_prompt_of_only_invisible_characters_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="invisible"):
        clean_prompt(text)


def test_invisible_characters_inside_a_real_prompt_are_kept() -> None:
    assert clean_prompt("a fox\u200d in the snow") == "a fox\u200d in the snow"
