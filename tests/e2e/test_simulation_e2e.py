"""Simulation mode end to end: the real bot and the CLI, no provider key, no provider calls."""

from __future__ import annotations

import json
from pathlib import Path

from sora_bot.models import JobState
from tests.doubles import (
    DiscordDouble,
    Message,
    ProviderDouble,
    admin,
    answer_text,
    answered,
    bot_messages,
    finished,
    run_cli,
    running_bot,
    wait_job,
)

# The provider fixture (conftest) is there only to prove it is never called.
SIMULATE = {"SORA_SIMULATE": "1", "SORA_SIMULATE_SPEED": "300", "SORA_API_KEY": ""}


def says_simulation(message: Message) -> bool:
    """Whether the message (as first posted and as last edited) says it is a simulation."""
    versions = [{"content": message.content, "embeds": message.embeds}, *message.edits]
    return all("simulat" in json.dumps(v, ensure_ascii=False).lower() for v in versions)


async def test_simulated_video_lands_in_the_thread(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider, **SIMULATE) as bot:
        assert bot.settings.simulate
        await discord.invoke("video", {"prompt": "a paper boat on a rainy street"})
        job = await wait_job(bot.core, finished, timeout=30)
        await discord.invoke("video", {"prompt": "a celebrity at the beach"})
        refused = await wait_job(bot.core, lambda j: j.id > job.id and finished(j), timeout=30)
    assert job.state is JobState.DELIVERED and job.task_id and job.task_id.startswith("sim-")
    assert refused.state is JobState.FAILED and refused.error_code == "content_policy_violation"
    [post] = [m for m in bot_messages(discord) if m.attachments]
    assert post.attachments[0].data[4:8] == b"ftyp"
    assert provider.requests == []


async def test_every_simulated_post_says_it_is_a_simulation(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    """Status messages (and their edits), video posts and failure posts all say so."""
    async with running_bot(tmp_path, discord, provider, **SIMULATE) as bot:
        await discord.invoke("video", {"prompt": "a paper boat on a rainy street"})
        first = await wait_job(bot.core, finished, timeout=30)
        await discord.invoke("video", {"prompt": "a celebrity at the beach"})
        await wait_job(bot.core, lambda j: j.id > first.id and finished(j), timeout=30)
    posted = bot_messages(discord)
    assert len(posted) >= 4  # two status messages, a video, a failure
    assert [m.id for m in posted if not says_simulation(m)] == []


async def test_ephemeral_answers_say_it_is_a_simulation(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    """/quota, /jobs and an error reply (here: not enough credits) say so too."""
    async with running_bot(tmp_path, discord, provider, **SIMULATE, SORA_DAILY_CREDITS="5"):
        quota = await discord.invoke("quota")
        await quota.wait(lambda h: h.original is not None)
        jobs = await discord.invoke("jobs")
        await jobs.wait(lambda h: h.original is not None)
        refused = await discord.invoke("video", {"prompt": "a lighthouse at night"})
        await refused.wait(answered)
    for handle in (quota, jobs):
        assert handle.ephemeral and handle.original is not None
        assert says_simulation(handle.original), handle.original.embeds
    assert "credits" in answer_text(refused) and "simulat" in answer_text(refused).lower()
    assert provider.requests == []


async def test_admin_answers_say_it_is_a_simulation(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider, **SIMULATE):
        answers = [await admin(discord, "settings"), await admin(discord, "pause")]
    assert [m.id for m in answers if not says_simulation(m)] == []


async def test_cli_generates_without_a_key(tmp_path: Path) -> None:
    out = tmp_path / "fox.mp4"
    code, text = await run_cli(
        tmp_path, "generate", "a fox in the snow", "--out", str(out), **SIMULATE
    )
    assert code == 0, text
    assert out.read_bytes()[4:8] == b"ftyp"
    assert "simulation" in text


async def test_cli_doctor_accepts_simulation_without_a_key(tmp_path: Path) -> None:
    code, text = await run_cli(tmp_path, "doctor", **SIMULATE)
    assert code == 0, text
    assert "simulation mode" in text and "SORA_API_KEY is not set" not in text
