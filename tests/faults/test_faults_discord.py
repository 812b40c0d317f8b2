"""Discord faults during a job: the video still reaches the user, or the job ends with a clear
account (a final state, an error message in the database, and a post when one is possible)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sora_bot.core import Core
from sora_bot.models import Job, JobState, Requester, VideoOptions
from tests.doubles import (
    DiscordDouble,
    Message,
    Permission,
    ProviderDouble,
    bot_messages,
    finished,
    running_bot,
    video_posts,
    wait_job,
)

UPLOAD = r"^/channels/\d+/messages$"


@pytest.fixture
def provider_timing() -> dict[str, float]:
    return {"task_seconds": 0.8, "estimated_time": 1}


async def polling(core: Core) -> Job:
    """The newest job once it holds a provider task (mid-job)."""
    return await wait_job(core, lambda j: j.task_id is not None and "message_id" in j.front_ref)


def assert_delivered_once(job: Job, discord: DiscordDouble, provider: ProviderDouble) -> Message:
    assert job.state is JobState.DELIVERED and job.credit_state == "settled"
    [post] = video_posts(discord, public=True)
    assert post.attachments[0].data == provider.video_bytes
    assert post.pinged_user_ids == {discord.owner.id} and not post.pinged_everyone
    assert len(provider.creates()) == 1
    return post


async def test_rate_limits_everywhere_are_waited_out(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    discord.faults.rate_limit("POST", r"/threads$", retry_after=0.2)
    discord.faults.rate_limit("PATCH", r"/messages/\d+$", times=3, retry_after=0.2)
    discord.faults.rate_limit("POST", UPLOAD, times=2, retry_after=0.3, is_global=True)
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        job = await wait_job(bot.core, finished)
    post = assert_delivered_once(job, discord, provider)
    assert post.channel_id == int(job.front_ref["thread_id"])
    assert all(f.times == 0 for f in discord.faults.route_faults)  # every 429 was met


async def test_long_rate_limit_on_upload_is_retried_later_not_lost(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        await polling(bot.core)
        # Longer than the bot waits inline (max_ratelimit_timeout): the worker retries later.
        discord.faults.rate_limit("POST", UPLOAD, retry_after=120.0)
        job = await wait_job(bot.core, finished, timeout=30)
    assert_delivered_once(job, discord, provider)


async def test_thread_permission_taken_away_mid_job_falls_back_to_the_channel(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        await polling(bot.core)
        await discord.deny(discord.channel, Permission.SEND_MESSAGES_IN_THREADS)
        job = await wait_job(bot.core, finished)
    post = assert_delivered_once(job, discord, provider)
    assert post.channel_id == discord.channel.id  # replying to the status message
    assert post.message_reference is not None
    assert int(post.message_reference["message_id"]) == int(job.front_ref["message_id"])


async def test_attach_permission_taken_away_mid_job_is_accounted_for(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        await polling(bot.core)
        await discord.deny(discord.channel, Permission.ATTACH_FILES)
        job = await wait_job(bot.core, finished)
    assert job.state is JobState.UNDELIVERABLE and job.error_code == "undeliverable"
    assert job.error_message and "403" in job.error_message
    assert job.file_path and Path(job.file_path).read_bytes() == provider.video_bytes
    assert video_posts(discord, public=True) == []
    [notice] = [m for m in bot_messages(discord, public=True) if "could not post it" in m.content]
    assert notice.channel_id == int(job.front_ref["thread_id"])
    assert notice.pinged_user_ids == {discord.owner.id}
    assert job.file_path in notice.content  # how to get it anyway


async def test_status_message_deleted_mid_job(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        running = await polling(bot.core)
        await discord.delete_message(discord.messages[int(running.front_ref["message_id"])])
        job = await wait_job(bot.core, finished)
    post = assert_delivered_once(job, discord, provider)
    assert post.channel_id == int(job.front_ref["thread_id"])


async def test_thread_deleted_mid_job_delivers_in_the_channel(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        running = await polling(bot.core)
        await discord.delete_channel(int(running.front_ref["thread_id"]))
        job = await wait_job(bot.core, finished)
    post = assert_delivered_once(job, discord, provider)
    assert post.channel_id == discord.channel.id


async def test_channel_deleted_mid_job_ends_with_a_clear_account(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        await polling(bot.core)
        await discord.delete_channel(discord.channel)
        job = await wait_job(bot.core, finished)
        # The bot keeps serving: a job in another channel is delivered.
        other = discord.add_channel(discord.guild, "elsewhere")
        await discord.gateway.dispatch("CHANNEL_CREATE", discord.channel_json(other))
        await discord.invoke("video", {"prompt": "a second heron"}, channel=other)
        second = await wait_job(bot.core, lambda j: finished(j) and j.id != job.id)
    assert job.state is JobState.UNDELIVERABLE and job.error_message
    assert "404" in job.error_message
    assert job.file_path and Path(job.file_path).read_bytes() == provider.video_bytes
    assert second.state is JobState.DELIVERED
    posts = video_posts(discord, public=True)
    assert [p.channel_id for p in posts] == [int(second.front_ref["thread_id"])]


@pytest.mark.parametrize("invalidate", [False, True])
async def test_gateway_drop_during_a_job(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble, invalidate: bool
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        await polling(bot.core)
        await discord.drop_gateway(invalidate=invalidate)
        job = await wait_job(bot.core, finished)
        await discord.wait_for(lambda: discord.gateway.connected == 1)
    assert_delivered_once(job, discord, provider)
    if invalidate:
        assert discord.gateway.identify_count == 2
    else:
        assert discord.gateway.identify_count == 1 and discord.gateway.resume_count >= 1


async def test_discord_server_errors_on_upload_are_retried(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        await polling(bot.core)
        discord.faults.fail("POST", UPLOAD, status=503, times=6)
        job = await wait_job(bot.core, finished, timeout=40)
    assert_delivered_once(job, discord, provider)


async def test_job_without_status_message_gets_its_outcome_posted(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        requester = Requester(str(discord.guild.id), str(discord.channel.id), str(discord.owner.id))
        held = await bot.core.jobs.submit(requester, VideoOptions("held"), hold=True)
        # As if the process that was preparing it died long ago: the worker expires it now.
        long_ago = bot.core.jobs.clock() - 3600
        await bot.core.db.execute(
            "UPDATE jobs SET updated_at = ?, created_at = ?, next_attempt_at = ? WHERE id = ?",
            (long_ago, long_ago, long_ago, held.id),
        )
        bot.core.worker.wake()
        job = await wait_job(bot.core, finished, timeout=2)
    assert job.state is JobState.REJECTED and job.credit_state == "refunded"
    outcome = f" · job #{job.id}"
    assert [m for m in bot_messages(discord, public=True) if m.content.endswith(outcome)]


# -- the final state on the status message ------------------------------------------------

EDIT = r"^/channels/\d+/messages/\d+$"


def final_edits(discord: DiscordDouble, job: Job) -> list[int]:
    """The answers to each edit of the job's status message that showed its final state."""
    path = f"/channels/{job.front_ref['channel_id']}/messages/{job.front_ref['message_id']}$"
    return [
        r.status
        for r in discord.find_requests("PATCH", path)
        if "Done" in str((r.json or {}).get("embeds", [{}])[0].get("title"))
    ]


def shown_title(discord: DiscordDouble, job: Job) -> str:
    return str(discord.messages[int(job.front_ref["message_id"])].embeds[0]["title"])


async def test_final_status_lands_after_a_rate_limit_longer_than_the_bot_waits(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        # discord.py waits out a 429 inline up to this long, then raises RateLimited (30 s in
        # production, where an edit bucket can be empty for minutes): shortened to stay fast.
        bot.http.max_ratelimit_timeout = 0.3
        window = discord.faults.rate_limit_for("PATCH", EDIT, seconds=2.5)
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        job = await wait_job(bot.core, finished, timeout=20)
    assert_delivered_once(job, discord, provider)
    answers = final_edits(discord, job)
    assert window.hits and answers[0] == 429 and answers[-1] == 200
    assert "Done" in shown_title(discord, job)


async def test_final_status_lands_after_a_restart(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    outage = discord.faults.fail("PATCH", EDIT, status=503, times=10_000)
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        # The video is posted; the final edit failed twice (backing off) when the bot stops.
        told = await wait_job(bot.core, lambda j: j.outcome_posted and j.attempts >= 2)
    assert told.state is JobState.DELIVERED and told.next_attempt_at is not None
    assert "Done" not in shown_title(discord, told) and set(final_edits(discord, told)) == {503}
    outage.times = 0
    async with running_bot(tmp_path, discord, provider) as bot:
        job = await wait_job(bot.core, finished)
    assert_delivered_once(job, discord, provider)
    assert final_edits(discord, job)[-1] == 200 and "Done" in shown_title(discord, job)


async def test_a_deleted_status_message_stops_the_final_edit(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a heron in the reeds"})
        running = await polling(bot.core)
        await discord.delete_message(discord.messages[int(running.front_ref["message_id"])])
        job = await wait_job(bot.core, finished)
        await asyncio.sleep(0.5)  # a retry would show up now
        again = await bot.core.store.require(job.id)
    assert_delivered_once(job, discord, provider)
    assert final_edits(discord, job) == [404]
    assert again.next_attempt_at is None and again.attempts == 0
