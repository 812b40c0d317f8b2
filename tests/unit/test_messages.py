"""Tests for the user-facing texts of every outcome."""

from __future__ import annotations

from datetime import UTC, datetime

from sora_bot import outcome_texts as messages
from sora_bot.provider.errors import (
    DownloadError,
    ProviderError,
    ProviderUnavailable,
    SoraAPIError,
    SubmissionUncertain,
    error_for_status,
)
from tests.doubles import FAILURE_CODES

CODES = [*FAILURE_CODES, "brand_new_code", None]  # the provider's codes, a new one, none
STATUSES = [400, 401, 402, 403, 404, 413, 429, 500, 502, 503]
KINDS = ["expired", "too_large", "incomplete", "disk", "network", "other"]


def check(text: str) -> None:
    assert text.strip()
    assert len(text) <= messages.MAX_CHARS
    assert "@everyone" not in text and "@here" not in text
    assert "Traceback" not in text


def test_every_failure_code_has_its_own_text() -> None:
    texts = [messages.task_failure(code, None) for code in CODES[:-1]]
    for text in texts:
        check(text)
    assert len(set(texts)) == len(texts)
    check(messages.task_failure(None, None))


def test_content_policy_text_explains_and_suggests() -> None:
    text = messages.task_failure("content_policy_violation", "Prompt flagged")
    assert text.splitlines()[0].startswith("Your video was blocked")
    assert "rephras" in text
    assert "fictional" in text
    assert "refunded" in text
    assert "Prompt flagged" in text


def test_codes_are_matched_loosely() -> None:
    assert messages.task_failure(" Content_Policy_Violation ", None) == messages.task_failure(
        "content_policy_violation", None
    )


def test_dimension_mismatch_suggests_aspect_ratio_or_crop() -> None:
    text = messages.task_failure("image_dimension_mismatch", None)
    assert "aspect ratio" in text and "crop" in text


def test_provider_detail_is_trimmed_to_two_lines() -> None:
    detail = "first line\n\nsecond line\nthird line\n" + "x" * 1000
    text = messages.task_failure("invalid_parameters", detail)
    assert "first line second line" in text
    assert "third line" not in text
    long = messages.task_failure("invalid_parameters", "y" * 5000)
    assert long.count("y") <= messages.MAX_DETAIL_CHARS


def test_provider_detail_is_left_out_where_it_does_not_help() -> None:
    assert "internal stack" not in messages.task_failure("service_error", "internal stack")


def test_unknown_code_keeps_the_provider_detail() -> None:
    assert "odd thing" in messages.task_failure("brand_new_code", "odd thing")


def test_mentions_in_provider_text_are_defused() -> None:
    text = messages.task_failure("unknown_error", "ping @everyone and @here and <@123> <@&9>")
    check(text)
    assert "<@123>" not in text and "<@&9>" not in text
    assert "@\u200beveryone" in text


def test_secrets_in_provider_text_are_hidden() -> None:
    text = messages.task_failure("unknown_error", "bad header Bearer sk-abcdef1234567890")
    assert "abcdef1234567890" not in text


def test_refund_can_be_left_out() -> None:
    assert "refunded" not in messages.task_failure("service_error", None, refunded=False)


def test_every_status_has_its_own_text() -> None:
    texts = [messages.api_error(error_for_status(s)(s, "boom")) for s in STATUSES]
    texts += [messages.api_error(SoraAPIError(418, "teapot"))]
    texts += [messages.api_error(ProviderUnavailable("timeout"))]
    texts += [messages.api_error(SubmissionUncertain("lost answer"))]
    texts += [messages.api_error(ProviderError("other"))]
    for text in texts:
        check(text)
    assert len(set(texts)) == len(texts)


def test_api_error_details() -> None:
    uncertain = messages.api_error(SubmissionUncertain("x"))
    assert "nothing was charged" in uncertain and "try again" in uncertain
    assert "`duration`" in messages.api_error(SoraAPIError(400, "bad", param="duration"))
    assert "`" not in messages.api_error(SoraAPIError(400, "bad", param="a b <@1>"))
    assert "45 seconds" in messages.api_error(error_for_status(429)(429, retry_after=45))
    assert "4 MB" in messages.api_error(error_for_status(413)(413))


def test_api_error_never_shows_provider_message() -> None:
    text = messages.api_error(error_for_status(401)(401, "key sk-secret123456 is wrong"))
    assert "sk-secret" not in text


def test_every_download_kind_has_its_own_text() -> None:
    texts = [messages.download_failed(DownloadError(kind, "x")) for kind in KINDS]
    for text in texts:
        check(text)
    assert len(set(texts)) == len(texts)
    assert messages.api_error(DownloadError("expired", "x")) == texts[0]


def test_job_timed_out() -> None:
    assert "30 minutes" in messages.job_timed_out(30)
    assert "7.5 minutes" in messages.job_timed_out(7.5)


def test_submit_interrupted() -> None:
    text = messages.submit_interrupted()
    check(text)
    assert "Nothing was charged" in text


def test_undeliverable_with_link_and_path() -> None:
    expires = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    link = "https://files.example/v/abc@def.mp4"
    text = messages.undeliverable(link=link, path="data/videos/42.mp4", expires_at=expires)
    check(text)
    assert link in text  # ordinary '@' in a link is left alone
    assert "2030-01-02 03:04 UTC" in text
    assert "data/videos/42.mp4" in text
    check(messages.undeliverable())


def test_refund_note() -> None:
    assert messages.refund_note(1) == "Your 1 credit was refunded."
    assert messages.refund_note(15) == "Your 15 credits were refunded."
    assert messages.refund_note(None) == "Your credits were refunded."


def test_long_text_is_clipped() -> None:
    text = messages.undeliverable(link="https://x.example/" + "a" * 3000)
    assert len(text) <= messages.MAX_CHARS
