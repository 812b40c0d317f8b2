"""The Discord double against the real discord.py client, with a tiny test bot."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.doubles import MIB, DiscordDouble, FileSpec, Permission, ThreadedDouble, pointed_at

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
POSTER = b"\x89PNG\r\n\x1a\n" + b"poster" * 100


class DemoCog(commands.Cog):
    """Commands that exercise the flows the Sora bot uses."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.results: dict[str, Any] = {}
        self.proceed = asyncio.Event()

    def _record(self, key: str, exc: discord.HTTPException) -> None:
        self.results[key] = (exc.status, exc.code)

    @app_commands.command(name="demo", description="Post, thread, follow up, upload.")
    async def demo(
        self, interaction: discord.Interaction, prompt: str, image: discord.Attachment | None = None
    ) -> None:
        await interaction.response.defer(thinking=True)
        assert isinstance(interaction.channel, discord.TextChannel)
        self.results["app_permissions"] = interaction.app_permissions.value
        self.results["image"] = await image.read() if image else None
        embed = discord.Embed(title="Video", description=prompt)
        mentions = discord.AllowedMentions(users=[interaction.user], everyone=False, roles=False)
        msg = await interaction.channel.send(
            f"{interaction.user.mention} asked: {prompt}",
            embed=embed,
            file=discord.File(io.BytesIO(POSTER), filename="poster.png"),
            allowed_mentions=mentions,
        )
        try:
            thread = await interaction.channel.get_partial_message(msg.id).create_thread(
                name=prompt[:50], auto_archive_duration=1440
            )
        except discord.HTTPException as exc:
            self._record("thread", exc)
            await interaction.followup.send("no thread", ephemeral=True)
            return
        await interaction.followup.send(f"Started in {thread.mention}")
        await thread.send(
            f"{interaction.user.mention} your video (@everyone)",
            file=discord.File(io.BytesIO(VIDEO), filename="video.mp4"),
            allowed_mentions=mentions,
        )

    @app_commands.command(name="long", description="Send an over-long embed.")
    async def long(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        embed = discord.Embed(description="x" * 5000)
        try:
            await interaction.followup.send(embed=embed)
        except discord.HTTPException as exc:
            self._record("long", exc)

    @app_commands.command(name="slow", description="Follow up after the test says so.")
    async def slow(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await self.proceed.wait()
        try:
            await interaction.followup.send("late")
        except discord.HTTPException as exc:
            self._record("slow", exc)

    @app_commands.command(name="upload", description="Upload `size` bytes.")
    async def upload(self, interaction: discord.Interaction, size: int) -> None:
        await interaction.response.defer()
        assert isinstance(interaction.channel, discord.TextChannel)
        file = discord.File(io.BytesIO(b"v" * size), filename="clip.mp4")
        try:
            await interaction.channel.send("clip", file=file)
            self.results["upload"] = "ok"
        except discord.HTTPException as exc:
            self._record("upload", exc)
        await interaction.followup.send("done")

    group = app_commands.Group(name="video", description="Video commands")

    @group.command(name="generate", description="Generate a video.")
    async def generate(
        self, interaction: discord.Interaction, prompt: str, seconds: int = 4
    ) -> None:
        self.results["generate"] = (prompt, seconds)
        await interaction.response.send_message("queued", view=RetryView(), ephemeral=False)


class RetryView(discord.ui.View):
    """A persistent button that opens a modal."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Retry", custom_id="video:retry")
    async def retry(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(PromptModal())


class PromptModal(discord.ui.Modal, title="New prompt"):
    """Asks for a new prompt."""

    prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Prompt", custom_id="prompt")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"retrying: {self.prompt.value}", ephemeral=True)


class DemoBot(commands.Bot):
    """The smallest bot that syncs its commands to the test guild."""

    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.default()
        intents.members = intents.presences = intents.message_content = False
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        self.guild_id = guild_id
        self.cog = DemoCog(self)
        self.deleted_threads: list[int] = []

    async def setup_hook(self) -> None:
        await self.add_cog(self.cog)
        self.add_view(RetryView())
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every re-IDENTIFY; not needed against the double."""

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        self.deleted_threads.append(payload.thread_id)


@pytest.fixture
async def double() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as d:
        with pointed_at(d):
            yield d


@contextlib.asynccontextmanager
async def running_bot(d: DiscordDouble) -> AsyncIterator[DemoBot]:
    """Log in, connect, wait for on_ready; close cleanly afterwards."""
    bot = DemoBot(d.guild.id)
    async with bot:
        await bot.login(d.token)
        task = asyncio.create_task(bot.connect(reconnect=True))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), 5)
            yield bot
        finally:
            await bot.close()
            await asyncio.wait_for(task, 5)


async def test_login_ready_and_command_sync(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        assert bot.user is not None and bot.user.id == double.bot_user.id
        guild = bot.get_guild(double.guild.id)
        assert guild is not None and guild.filesize_limit == 10 * MIB
    assert double.gateway.identify_count == 1
    assert [scope for scope, _ in double.command_syncs] == [double.guild.id]
    names = {c["name"] for c in double.commands[double.guild.id]}
    assert names == {"demo", "long", "slow", "upload", "video"}
    double.assert_no_violations()


async def test_demo_flow_models_messages_threads_uploads_and_pings(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        prompt = "a cat surfing @everyone <@&1>"
        handle = await double.invoke(
            "demo",
            {"prompt": prompt},
            attachments={"image": FileSpec("in.png", POSTER, "image/png")},
        )
        await handle.wait_for_callback()
        thread = await double.wait_for(lambda: double.threads and double.threads[0])
        in_thread = await double.wait_for(lambda: double.messages_in(thread))
        results = bot.cog.results

    assert handle.callback_type == 5 and not handle.ephemeral
    assert results["image"] == POSTER
    assert results["app_permissions"] == double.bot_permissions_in(double.channel.id)
    post = next(m for m in double.messages_in(double.channel) if m.webhook_id is None)
    assert post.embeds[0]["description"] == prompt
    assert post.attachments[0].data == POSTER and post.attachments[0].filename == "poster.png"
    assert thread.id == post.id and thread.parent_id == double.channel.id and thread.type == 11
    assert handle.original is not None and handle.original.content.startswith("Started in")
    assert in_thread[0].attachments[0].data == VIDEO
    assert [a.filename for a in double.uploads()] == ["poster.png", "video.mp4"]
    for msg in (post, in_thread[0]):
        assert msg.pinged_user_ids == {double.owner.id}
        assert not msg.pinged_everyone and not msg.pinged_role_ids
    assert all(double.token not in r.raw_text for r in double.requests)
    double.assert_no_violations()


async def test_overlong_embed_is_a_violation(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        await double.invoke("long")
        await double.wait_for(lambda: "long" in bot.cog.results)
    assert bot.cog.results["long"] == (400, 50035)
    assert len(double.violations) == 1
    assert "embeds.0.description" in str(double.violations[0])


async def test_expired_token_fails_followup_with_50027(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        handle = await double.invoke("slow")
        await handle.wait_for_callback()
        assert handle.ephemeral
        double.expire_interaction_tokens()
        bot.cog.proceed.set()
        await double.wait_for(lambda: "slow" in bot.cog.results)
    assert bot.cog.results["slow"] == (401, 50027)


async def test_upload_limits_answer_413(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        double.faults.reject_uploads_over(1000)
        await double.invoke("upload", {"size": 2000})
        await double.wait_for(lambda: "upload" in bot.cog.results)
        assert bot.cog.results.pop("upload") == (413, 40005)
        double.faults.reject_uploads_over(None)
        await double.invoke("upload", {"size": 10 * MIB + 1})
        await double.wait_for(lambda: "upload" in bot.cog.results)
        assert bot.cog.results.pop("upload") == (413, 40005)
        await double.invoke("upload", {"size": 5000})
        await double.wait_for(lambda: "upload" in bot.cog.results)
    assert bot.cog.results["upload"] == "ok"


async def test_rate_limit_is_retried(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        fault = double.faults.rate_limit(
            "POST", r"^/channels/\d+/messages$", times=2, retry_after=0.05
        )
        await double.invoke("upload", {"size": 10})
        await double.wait_for(lambda: "upload" in bot.cog.results)
    assert bot.cog.results["upload"] == "ok" and fault.hits == 2
    statuses = [r.status for r in double.find_requests("POST", r"^/channels/\d+/messages$")]
    assert statuses == [429, 429, 200]


async def test_gateway_drop_resumes_and_invalidation_reidentifies(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        await double.drop_gateway()
        await double.wait_for(lambda: double.gateway.resume_count == 1)
        await double.drop_gateway(invalidate=True)
        await double.gateway.wait_for_sessions(2)
        await double.wait_for(lambda: double.gateway.connected == 1)
        handle = await double.invoke("upload", {"size": 1})
        await handle.wait_for_callback()
        assert bot.is_ready()


async def test_missing_thread_permission_is_403_and_shown_in_app_permissions(
    double: DiscordDouble,
) -> None:
    async with running_bot(double) as bot:
        await double.deny(double.channel, Permission.CREATE_PUBLIC_THREADS)
        handle = await double.invoke("demo", {"prompt": "dog"})
        await double.wait_for(lambda: "thread" in bot.cog.results)
        await handle.wait(lambda h: bool(h.original and h.original.content))
        channel = bot.get_channel(double.channel.id)
        assert isinstance(channel, discord.TextChannel) and channel.guild.me is not None
        assert not channel.permissions_for(channel.guild.me).create_public_threads
    assert bot.cog.results["thread"] == (403, 50013)
    assert not bot.cog.results["app_permissions"] & Permission.CREATE_PUBLIC_THREADS
    # A public defer decides: followup.send(ephemeral=True) completing it stays public.
    assert handle.original is not None and handle.original.content == "no thread"
    assert not handle.original.ephemeral
    double.assert_no_violations()


async def test_subcommand_button_and_modal(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        handle = await double.invoke("video generate", {"prompt": "sea", "seconds": 8})
        await handle.wait_for_callback()
        assert bot.cog.results["generate"] == ("sea", 8)
        assert handle.original is not None
        click = await double.click(handle.original, "video:retry")
        await click.wait_for_callback()
        assert click.modal is not None and click.modal["title"] == "New prompt"
        submit = await double.submit_modal(click, {"prompt": "sea at night"})
        await submit.wait_for_callback()
    assert submit.callback_data["content"] == "retrying: sea at night" and submit.ephemeral
    double.assert_no_violations()


async def test_history_lookup_and_thread_delete_event(double: DiscordDouble) -> None:
    async with running_bot(double) as bot:
        await double.invoke("demo", {"prompt": "owl"})
        thread = await double.wait_for(lambda: double.threads and double.threads[0])
        channel = bot.get_channel(double.channel.id)
        assert isinstance(channel, discord.TextChannel)
        mine = [m async for m in channel.history(limit=10) if m.author == bot.user]
        assert [m.id for m in mine if m.thread is not None] == [thread.id]
        older = [m async for m in channel.history(limit=10, before=discord.Object(thread.id))]
        assert [m.id for m in older] == [m.id for m in mine if m.id < thread.id]
        await double.delete_channel(thread)
        await double.wait_for(lambda: bot.deleted_threads == [thread.id])
    assert double.threads == []


def test_threaded_double_serves_a_separate_process() -> None:
    with ThreadedDouble() as d:
        headers = {"Authorization": f"Bot {d.token}"}
        request = urllib.request.Request(d.api_base + "/users/@me", headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert response.headers["Content-Type"] == "application/json"
            assert json.load(response)["id"] == str(d.bot_user.id)
        assert d.env()["DISCORD_GATEWAY_URL"] == d.gateway_url
        assert [r.status for r in d.requests] == [200]
