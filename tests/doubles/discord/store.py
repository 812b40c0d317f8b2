"""Messages, threads and files of the double, with the gateway events they cause."""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from . import payloads as P
from .http_util import DiscordError, UploadedFile
from .mentions import MentionContext, resolve_pings
from .model import (
    Attachment,
    Channel,
    ChannelType,
    Guild,
    Message,
    Permission,
    Snowflakes,
    User,
    request_size_limit,
)

if TYPE_CHECKING:
    from .faults import Faults
    from .gateway import GatewayHub
    from .interactions import InteractionHandle

LOADING = 128
HAS_THREAD = 32
EDITABLE = ("content", "embeds", "components", "allowed_mentions")


class MessageStore:
    """The mutable model; `DiscordDouble` adds the server and the test API on top."""

    snowflakes: Snowflakes
    gateway: GatewayHub
    faults: Faults
    bot_user: User
    app_id: int
    attachment_ttl: float

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        self.interactions: dict[int, InteractionHandle] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.command_syncs: list[tuple[int | None, list[dict[str, Any]]]] = []

    @property
    def base_url(self) -> str:  # overridden by the server
        raise NotImplementedError

    # ----- queries ------------------------------------------------------------------
    def messages_in(
        self, channel: Channel | int, *, include_ephemeral: bool = False
    ) -> list[Message]:
        """Live messages of a channel or thread, oldest first."""
        cid = channel.id if isinstance(channel, Channel) else channel
        return [
            m
            for m in sorted(self.messages.values(), key=lambda m: m.id)
            if m.channel_id == cid and not m.deleted and (include_ephemeral or not m.ephemeral)
        ]

    @property
    def threads(self) -> list[Channel]:
        """Live threads, oldest first."""
        return [c for c in self.channels.values() if c.is_thread and not c.deleted]

    def uploads(self) -> list[Attachment]:
        """Every file the bot uploaded (not the users' command attachments)."""
        return [a for a in self.attachments.values() if not a.ephemeral]

    def live_channel(self, channel_id: int) -> Channel:
        """A channel that exists, or 404 / 10003."""
        channel = self.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    def live_message(self, channel_id: int, message_id: int) -> Message:
        """A message that exists in that channel, or 404 / 10008."""
        self.live_channel(channel_id)
        msg = self.messages.get(message_id)
        if msg is None or msg.deleted or msg.channel_id != channel_id:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    def guild_of(self, channel: Channel) -> Guild:
        """The guild of a channel."""
        return self.guilds[channel.guild_id]

    def message_json(self, msg: Message) -> dict[str, Any]:
        """A message payload as Discord returns it."""
        guild = self.guilds.get(msg.guild_id) if msg.guild_id else None
        data = P.message_payload(msg, self.users, guild)
        thread = self.channels.get(msg.thread_id or 0)
        if thread is not None and not thread.deleted:
            data["thread"] = self.channel_json(thread)
            data["flags"] = msg.flags | HAS_THREAD
        return data

    # ----- files ----------------------------------------------------------------------
    def check_upload(self, guild: Guild, files: list[UploadedFile]) -> None:
        """413 / 40005 when files exceed the tier's limits or the injected cap."""
        if not files:
            return
        total = sum(len(f.data) for f in files)
        cap = self.faults.upload_limit_bytes
        request_cap = request_size_limit(guild.premium_tier)
        too_big = any(len(f.data) > guild.filesize_limit for f in files)
        if too_big or (cap is not None and total > cap) or (request_cap and total > request_cap):
            raise DiscordError(413, 40005, "Request entity too large")
        if len(files) > 10:
            raise DiscordError(400, 50035, "Invalid Form Body: at most 10 files")

    def store_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> Attachment:
        """Keep the bytes and give them a signed URL served by the double."""
        aid = self.snowflakes.next()
        now = int(time.time())
        expires = now + int(self.attachment_ttl)
        digest = hashlib.sha256(f"{aid}:{expires}".encode()).hexdigest()[:32]
        folder = "ephemeral-attachments" if ephemeral else "attachments"
        url = (
            f"{self.base_url}/{folder}/{channel_id}/{aid}/{filename}"
            f"?ex={expires:x}&is={now:x}&hm={digest}&"
        )
        att = Attachment(
            aid, filename, data, url, content_type, description, float(expires), ephemeral
        )
        self.attachments[aid] = att
        return att

    def _attachments(
        self,
        channel_id: int,
        body: dict[str, Any],
        files: list[UploadedFile],
        existing: list[Attachment],
    ) -> list[Attachment]:
        by_index = {}
        for f in files:
            match = re.fullmatch(r"files\[(\d+)\]", f.field)
            if match is None:
                raise DiscordError(400, 50035, f"Invalid Form Body: unexpected part {f.field!r}")
            by_index[int(match.group(1))] = f
        listed = body.get("attachments")
        if listed is None:
            new = [self._store_upload(channel_id, f, None) for f in files]
            return existing + new
        result: list[Attachment] = []
        used: set[int] = set()
        for item in listed:
            aid = int(item["id"])
            old = next((a for a in existing if a.id == aid), None)
            if old is not None:
                result.append(old)
            elif aid in by_index:
                used.add(aid)
                result.append(self._store_upload(channel_id, by_index[aid], item))
            else:
                raise DiscordError(400, 50035, f"Invalid Form Body: attachment {aid} has no file")
        return result

    def _store_upload(
        self, channel_id: int, upload: UploadedFile, item: dict[str, Any] | None
    ) -> Attachment:
        item = item or {}
        return self.store_attachment(
            channel_id,
            item.get("filename") or upload.filename,
            upload.data,
            content_type=upload.content_type,
            description=item.get("description"),
        )

    # ----- messages -------------------------------------------------------------------
    async def create_message(
        self,
        channel: Channel,
        author: User,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        flags: int | None = None,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
    ) -> Message:
        """Store a message, compute its pings and dispatch MESSAGE_CREATE."""
        msg = Message(
            self.snowflakes.next(),
            channel.id,
            channel.guild_id,
            author,
            content=body.get("content") or "",
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            allowed_mentions=body.get("allowed_mentions"),
            message_reference=body.get("message_reference"),
            flags=int(body.get("flags") or 0) if flags is None else flags,
            webhook_id=webhook_id,
            interaction_id=interaction_id,
        )
        msg.attachments = self._attachments(channel.id, body, files, [])
        self._compute_pings(msg)
        self.messages[msg.id] = msg
        if channel.is_thread and channel.archived and not channel.locked:
            channel.archived = False
        if not msg.ephemeral:
            await self.gateway.dispatch("MESSAGE_CREATE", self.message_json(msg))
        return msg

    async def edit_message(
        self, msg: Message, body: dict[str, Any], files: list[UploadedFile]
    ) -> Message:
        """Apply an edit; completing a deferred (loading) response sends its pings."""
        for key in EDITABLE:
            if key in body:
                setattr(
                    msg,
                    key,
                    body[key] if body[key] is not None else ([] if key != "content" else ""),
                )
        if msg.content is None:
            msg.content = ""
        if "attachments" in body or files:
            msg.attachments = self._attachments(msg.channel_id, body, files, msg.attachments)
        msg.edits.append(body)
        if msg.flags & LOADING:
            msg.flags &= ~LOADING
            self._compute_pings(msg)
        else:
            msg.edited_at = time.time()
        if not msg.ephemeral:
            await self.gateway.dispatch("MESSAGE_UPDATE", self.message_json(msg))
        return msg

    async def delete_message(self, msg: Message) -> None:
        """Delete a message and dispatch MESSAGE_DELETE."""
        msg.deleted = True
        event = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
        if msg.guild_id:
            event["guild_id"] = str(msg.guild_id)
        await self.gateway.dispatch("MESSAGE_DELETE", event)

    def _compute_pings(self, msg: Message) -> None:
        if msg.ephemeral or msg.flags & LOADING:
            return
        channel = self.channels[msg.channel_id]
        guild = self.guild_of(channel)
        replied = None
        ref = msg.message_reference or {}
        if ref.get("message_id") and int(ref["message_id"]) in self.messages:
            replied = self.messages[int(ref["message_id"])].author.id
        can_everyone = True
        if msg.author.id == self.bot_user.id:
            can_everyone = bool(self.bot_permissions_in(channel.id) & Permission.MENTION_EVERYONE)
        ctx = MentionContext(
            known_user_ids=set(self.users),
            mentionable_role_ids={r.id for r in guild.roles.values() if r.mentionable},
            all_role_ids={r for r in guild.roles if r != guild.id},
            can_mention_everyone=can_everyone,
            replied_author_id=replied,
        )
        pings = resolve_pings(msg.content, msg.allowed_mentions, ctx)
        msg.pinged_user_ids, msg.pinged_role_ids = pings.users, pings.roles
        msg.pinged_everyone = pings.everyone

    def bot_permissions_in(self, channel_id: int) -> int:  # overridden by the server
        raise NotImplementedError

    def channel_json(self, channel: Channel) -> dict[str, Any]:  # overridden by the server
        raise NotImplementedError

    # ----- threads and channels ---------------------------------------------------------
    async def create_thread(
        self,
        parent: Channel,
        name: str,
        *,
        from_message: Message | None = None,
        auto_archive_duration: int = 1440,
        owner: User | None = None,
    ) -> Channel:
        """A public thread (id = starter message id when made from a message)."""
        tid = from_message.id if from_message else self.snowflakes.next()
        thread = Channel(
            tid,
            parent.guild_id,
            name,
            ChannelType.PUBLIC_THREAD,
            parent_id=parent.id,
            owner_id=(owner or self.bot_user).id,
            auto_archive_duration=auto_archive_duration,
        )
        self.channels[tid] = thread
        if from_message is not None:
            from_message.thread_id = tid
        await self.gateway.dispatch(
            "THREAD_CREATE", {**self.channel_json(thread), "newly_created": True}
        )
        return thread

    async def delete_channel(self, channel: Channel | int) -> None:
        """Delete a channel or thread (and the threads under it), with the gateway events."""
        ch = channel if isinstance(channel, Channel) else self.channels[channel]
        ch.deleted = True
        if ch.is_thread:
            await self.gateway.dispatch(
                "THREAD_DELETE",
                {
                    "id": str(ch.id),
                    "guild_id": str(ch.guild_id),
                    "parent_id": str(ch.parent_id),
                    "type": ch.type,
                },
            )
            return
        await self.gateway.dispatch("CHANNEL_DELETE", self.channel_json(ch))
        for thread in [t for t in self.threads if t.parent_id == ch.id]:
            thread.deleted = True
