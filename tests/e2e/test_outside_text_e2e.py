"""Text from outside, end to end: what the provider says and what members type is stored,
logged and shown without secrets, pings, disguised links, bidi tricks or markup."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from sora_bot.models import JobState
from tests.doubles import (
    DiscordDouble,
    ProviderDouble,
    bot_messages,
    finished,
    running_bot,
    wait_job,
)

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.fixture
def provider_timing() -> dict[str, float]:
    return {"task_seconds": 0.3, "estimated_time": 1}


def secret_shapes(secret: str) -> list[str]:
    """The secret as a careless provider might echo it back."""
    return [
        quote(secret, safe=""),
        secret.upper(),
        json.dumps(secret)[1:-1].replace("-", "\\u002d"),
        "\u200b".join(secret),
        base64.b64encode(f"Bearer {secret}".encode()).decode(),
    ]


def hostile(discord: DiscordDouble, provider: ProviderDouble) -> str:
    shapes = secret_shapes(provider.api_key) + secret_shapes(discord.token)
    return (
        f"**Blocked** @everyone <@&{discord.guild.id}> [appeal here](https://evil.example/x) "
        f"```{BIDI}\nkey={' '.join(shapes)}"
    )


def texts_of_logs(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {vars(r).get('fields')}" for r in caplog.records)


def assert_clean(text: str, discord: DiscordDouble, provider: ProviderDouble) -> None:
    for secret in (provider.api_key, discord.token):
        assert not any(shape in text for shape in [secret, *secret_shapes(secret)]), secret
    assert "@everyone" not in text and f"<@&{discord.guild.id}>" not in text
    assert "](" not in text and "```" not in text and "**" not in text
    assert not any(ch in text for ch in BIDI)


async def test_a_failed_tasks_message_is_clean_in_the_database_the_logs_and_the_post(
    tmp_path: Path,
    discord: DiscordDouble,
    provider: ProviderDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    provider.fail_next_task("content_policy_violation", hostile(discord, provider))
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        job = await wait_job(bot.core, finished)
    assert job.state is JobState.FAILED and job.error_message
    assert_clean(job.error_message, discord, provider)
    assert "appeal here (https://evil.example/x)" in job.error_message
    [post] = [m for m in bot_messages(discord, public=True) if "Provider's note" in m.content]
    assert_clean(post.content, discord, provider)
    assert not post.pinged_everyone and not post.pinged_role_ids
    assert_clean(texts_of_logs(caplog), discord, provider)


async def test_an_error_envelope_is_clean_in_the_database_and_the_logs(
    tmp_path: Path,
    discord: DiscordDouble,
    provider: ProviderDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    text = hostile(discord, provider)
    envelope = {"error": {"code": 400, "message": text, "type": text, "param": text}}
    provider.inject("POST", "/v1/videos/generations", 400, body=json.dumps(envelope).encode())
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        job = await wait_job(bot.core, finished)
    assert job.state is JobState.REJECTED and job.error_code == "http_400"
    assert job.error_message and "Blocked" in job.error_message
    assert_clean(job.error_message, discord, provider)
    assert_clean(texts_of_logs(caplog), discord, provider)


async def test_a_prompt_shows_its_links_and_cannot_reorder_or_ping(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    prompt = f"a fox [cute cat](https://evil.example/x) {BIDI}4pm.exe @everyone ```"
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": prompt})
        job = await wait_job(bot.core, finished)
    thread = discord.channels[int(job.front_ref["thread_id"])]
    status = discord.messages[int(job.front_ref["message_id"])]
    for shown in (thread.name, status.embeds[0]["description"]):
        assert "cute cat (https://evil.example/x)" in shown and "](" not in shown
        assert not any(ch in shown for ch in BIDI)
        assert "@everyone" not in shown
    assert "```" not in status.embeds[0]["description"]
    assert thread.name.startswith("🎬 a fox cute cat") and "\\" not in thread.name
