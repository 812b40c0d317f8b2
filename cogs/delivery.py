"""Posts job progress and outcomes to Discord with the bot token (never an interaction token)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord

from cogs.buttons.views import delivered_view, failed_view
from cogs.outgoing import EmbedMark, edit, post
from cogs.refs import DiscordRefs
from cogs.render.status import job_marker, status_embed
from sora_bot.engine.delivery import DeliveryError
from sora_bot.media import MediaError, shrink_video
from sora_bot.models import Job, JobState
from sora_bot.outcome_texts import undeliverable

log = logging.getLogger(__name__)

EDIT_INTERVAL = 6.0  # seconds between two edits of one status message (latest value wins)
LINK_LIFETIME = 24 * 3600  # the provider's result links live 24 hours
DEFAULT_FILESIZE_LIMIT = 10 * 1024 * 1024
UPLOAD_TRIES = 3
SEARCH_MARGIN = 60.0  # seconds of clock skew allowed when searching for an earlier post
HISTORY_SEARCH = 500  # messages read after the request when looking for an earlier post
MAX_LINK_CHARS = 1200  # a longer result link would not fit a message with its text
SIZE_MARGIN = 0.95  # stay under the limit: multipart overhead, rounding


class DiscordDelivery:
    """The core's Delivery, implemented on a discord.py client.

    Every post and edit goes through ``cogs.outgoing``, which labels it in simulation mode.
    """

    def __init__(self, client: discord.Client, *, edit_interval: float = EDIT_INTERVAL) -> None:
        self.client = client
        self.edit_interval = edit_interval
        self._latest: dict[int, tuple[Job, int | None]] = {}
        self._last_edit: dict[int, float] = {}
        self._pending: dict[int, asyncio.Task[None]] = {}
        # One edit of a status message at a time: a late progress edit must never land
        # after (and so over) the final state.
        self._editing: dict[int, asyncio.Lock] = {}

    # -- progress -----------------------------------------------------------------------

    async def job_updated(self, job: Job, *, queue_position: int | None = None) -> None:
        """Schedule a throttled edit of the status message; only the newest state is shown.

        Best effort: a lost progress edit is overtaken by the next. The final state is
        ``show_final_status``'s, which the worker calls until it lands.
        """
        if DiscordRefs.of(job).message_id is None or job.state.terminal:
            return
        self._latest[job.id] = (job, queue_position)
        if job.id not in self._pending:
            task = asyncio.create_task(self._edit_later(job.id), name=f"status-edit-{job.id}")
            self._pending[job.id] = task

    async def _edit_later(self, job_id: int) -> None:
        try:
            wait = self._last_edit.get(job_id, 0.0) + self.edit_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        finally:
            self._pending.pop(job_id, None)
        latest = self._latest.pop(job_id, None)
        if latest is not None:
            await self._edit_status(*latest)

    async def _edit_status(self, job: Job, queue_position: int | None = None) -> None:
        self._last_edit[job.id] = time.monotonic()
        try:
            await self._edit(job, queue_position)
        except (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, OSError) as exc:
            # Progress only: a deleted status message or a rate limit must not stop the job.
            log.info("job %d: status edit skipped (%s)", job.id, exc)

    async def show_final_status(self, job: Job) -> bool:
        """Edit the status message to the job's final state (see ``Delivery``).

        discord.py waits out short rate limits itself; what it gives up on (a long 429,
        5xx, network) becomes a retryable DeliveryError, a deleted message False.
        """
        pending = self._pending.pop(job.id, None)
        if pending is not None:  # a throttled progress edit not sent yet: it would be stale
            pending.cancel()
        self._latest.pop(job.id, None)
        self._last_edit.pop(job.id, None)
        try:
            async with self._errors_mapped():
                await self._edit(job)
        except DeliveryError as exc:
            if isinstance(exc.__cause__, discord.NotFound | discord.Forbidden):
                log.info("job %d: final status not shown (%s)", job.id, exc)
                return False
            raise
        finally:
            self._editing.pop(job.id, None)
        return True

    async def _edit(self, job: Job, queue_position: int | None = None) -> None:
        """One edit of the status message (none when it was never posted)."""
        refs = DiscordRefs.of(job)
        if refs.channel_id is None or refs.message_id is None:
            return
        channel = self.client.get_partial_messageable(refs.channel_id)
        async with self._editing.setdefault(job.id, asyncio.Lock()):
            await edit(
                self.client,
                channel.get_partial_message(refs.message_id),
                embed=status_embed(job, queue_position=queue_position),
                mark=EmbedMark.FOOTER_SUFFIX,
                allowed_mentions=discord.AllowedMentions.none(),
            )

    async def close(self) -> None:
        """Cancel pending status edits (shutdown)."""
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- outcomes -----------------------------------------------------------------------

    async def deliver_video(self, job: Job, path: Path) -> str:
        """Upload the video (re-encoded or as a link when too large), mentioning the requester."""
        await self._ready()
        limit = int(self._filesize_limit(job) * SIZE_MARGIN)
        # Too large for this guild: re-encode to fit (None when even that cannot fit).
        fits = (job.file_size or 0) <= limit
        upload = path if fits else await self._shrunk(job, path, limit)
        text = f"<@{job.user_id}> your video is ready."
        async with self._errors_mapped():
            return await self._upload(job, path, upload, limit, text)

    async def _upload(
        self, job: Job, original: Path, upload: Path | None, limit: int, text: str
    ) -> str:
        """Try the file, halving the size budget on each 413; finally post a link instead."""
        budget = limit if upload is not original else min(limit, job.file_size or limit)
        view = delivered_view(job.id)
        for _ in range(UPLOAD_TRIES):
            if upload is None:
                break
            try:
                return await self._post(job, text, file=upload, view=view)
            except discord.HTTPException as exc:
                if exc.status != 413:
                    raise
            # Discord's real limit is lower than advertised: re-encode smaller and try again.
            budget //= 2
            upload = await self._shrunk(job, original, budget)
        return await self._post(job, text + "\n" + self._link_text(job, original), view=view)

    async def deliver_failure(self, job: Job, text: str) -> str:
        """Post the mapped failure message where the video would have gone."""
        await self._ready()
        # A video that was made but not postable is not something to make again.
        retryable = job.state in (JobState.FAILED, JobState.REJECTED)
        async with self._errors_mapped():
            ref = await self._post(
                job,
                f"<@{job.user_id}> {text}",
                view=failed_view(job.id) if retryable else None,
            )
        return ref

    async def find_posted(self, job: Job) -> str | None:
        """Look for this job's outcome among the bot's recent messages (after a crash)."""
        await self._ready()
        marker = job_marker(job)
        me = self.client.user
        # The outcome can only have been posted once the job reached its last step (the
        # video downloaded, or the failure recorded): search from then, less a margin.
        reached = job.completed_at or job.finished_at or job.created_at
        start = max(job.created_at, reached - SEARCH_MARGIN)
        since = discord.Object(
            discord.utils.time_snowflake(datetime.datetime.fromtimestamp(start, datetime.UTC))
        )
        for channel_id in self._targets(job):
            channel = self.client.get_partial_messageable(channel_id)
            try:
                async for message in channel.history(limit=HISTORY_SEARCH, after=since):
                    if me and message.author.id == me.id and message.content.endswith(marker):
                        return f"{channel_id}/{message.id}"
            except (
                discord.HTTPException,
                discord.RateLimited,
                aiohttp.ClientError,
                OSError,
            ) as exc:
                log.warning(
                    "job %d: could not read channel %d history (%s)", job.id, channel_id, exc
                )
        return None

    # -- helpers ------------------------------------------------------------------------

    async def _post(
        self,
        job: Job,
        text: str,
        *,
        file: Path | None = None,
        view: discord.ui.View | None = None,
    ) -> str:
        """Send to the job's thread, falling back to its channel (as a reply) when needed."""
        content = f"{text}\n{job_marker(job)}"
        mentions = discord.AllowedMentions(
            everyone=False,
            roles=False,
            replied_user=False,
            users=[discord.Object(int(job.user_id))],
        )
        refs = DiscordRefs.of(job)
        targets = self._targets(job)
        for index, channel_id in enumerate(targets):
            channel = self.client.get_partial_messageable(channel_id)
            reference = None
            # In the status message's own channel (no thread), the post replies to it.
            if refs.message_id is not None and channel_id == refs.channel_id:
                reference = discord.MessageReference(
                    message_id=refs.message_id, channel_id=channel_id, fail_if_not_exists=False
                )
            try:
                message = await post(
                    self.client,
                    channel,
                    content,
                    allowed_mentions=mentions,
                    reference=reference,
                    file=discord.File(file, filename=f"sora-{job.id}.mp4")
                    if file is not None
                    else discord.utils.MISSING,
                    view=view or discord.utils.MISSING,
                )
            except (discord.Forbidden, discord.NotFound) as exc:
                if index + 1 < len(targets):  # thread gone or closed to us: use the channel
                    log.info("job %d: posting in channel %d failed (%s)", job.id, channel_id, exc)
                    continue
                raise
            return f"{channel_id}/{message.id}"
        raise DeliveryError("no place to post", retryable=False)

    def _targets(self, job: Job) -> list[int]:
        """The thread first (when there is one), then the channel of the request."""
        refs = DiscordRefs.of(job)
        ids = [] if refs.thread_id is None else [refs.thread_id]
        ids.append(int(job.channel_id) if refs.channel_id is None else refs.channel_id)
        return ids

    def _filesize_limit(self, job: Job) -> int:
        guild = self.client.get_guild(int(job.guild_id)) if job.guild_id.isdigit() else None
        return guild.filesize_limit if guild is not None else DEFAULT_FILESIZE_LIMIT

    async def _shrunk(self, job: Job, path: Path, limit: int) -> Path | None:
        dest = path.with_name(f"{path.stem}-{limit}.mp4")
        try:
            return await shrink_video(path, dest, max_bytes=limit)
        except MediaError as exc:
            log.warning("job %d: re-encoding to fit %d bytes failed: %s", job.id, limit, exc)
            return None

    def _link_text(self, job: Job, path: Path) -> str:
        expires = int((job.submitted_at or job.created_at) + LINK_LIFETIME)
        size_mb = (job.file_size or 0) / 1024 / 1024
        if job.video_url and len(job.video_url) <= MAX_LINK_CHARS:
            return (
                f"It is {size_mb:.0f} MB, too large to upload here even re-encoded. "
                f"Download it until <t:{expires}:f> (<t:{expires}:R>): {job.video_url}\n"
                "The bot also keeps a copy; a server admin can fetch it."
            )
        return undeliverable(path=str(path))

    async def _ready(self) -> None:
        # After a restart the worker may resume before the gateway is ready (guild cache).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):  # not wait_for: it can lose a cancel on 3.11
                await self.client.wait_until_ready()

    @contextlib.asynccontextmanager
    async def _errors_mapped(self) -> AsyncIterator[None]:
        """Turn Discord and network errors into DeliveryError (retryable or not)."""
        try:
            yield
        except discord.RateLimited as exc:
            raise DeliveryError(f"rate limited for {exc.retry_after:.0f}s", retryable=True) from exc
        except discord.HTTPException as exc:
            retryable = exc.status >= 500 or exc.status == 429
            raise DeliveryError(
                f"Discord answered {exc.status}: {exc.text[:200]}", retryable=retryable
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"network error: {exc}", retryable=True) from exc
