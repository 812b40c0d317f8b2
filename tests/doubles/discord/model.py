"""State model of the Discord double: guilds, channels, messages, interactions."""

from __future__ import annotations

import enum
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000
MIB = 1024 * 1024


class Permission(enum.IntFlag):
    """The permission bits the double knows and enforces."""

    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38


DEFAULT_BOT_PERMISSIONS = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.MENTION_EVERYONE
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
)
EVERYONE_PERMISSIONS = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
)


ALL_PERMISSIONS = (1 << 51) - 1


class ChannelType(enum.IntEnum):
    """Channel types used by the double."""

    TEXT = 0
    PUBLIC_THREAD = 11
    FORUM = 15


def file_size_limit(premium_tier: int) -> int:
    """Per-file upload limit for a guild boost tier."""
    return {2: 50 * MIB, 3: 100 * MIB}.get(premium_tier, 10 * MIB)


def request_size_limit(premium_tier: int) -> int | None:
    """Whole-request upload limit (only the free tiers have one below the file limit)."""
    return 25 * MIB if premium_tier < 2 else None


class Snowflakes:
    """Makes increasing snowflakes that carry the current time."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> int:
        """A new unique id."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)


@dataclass
class User:
    """A Discord user (the bot or a person)."""

    id: int
    username: str
    bot: bool = False


@dataclass
class Role:
    """A guild role; the @everyone role has the guild's id."""

    id: int
    name: str
    permissions: int = 0
    mentionable: bool = False
    position: int = 0


@dataclass
class Member:
    """A user's membership of a guild."""

    user: User
    roles: list[int] = field(default_factory=list)
    flags: int = 0
    nick: str | None = None


@dataclass
class Channel:
    """A guild channel or thread; threads carry a parent id."""

    id: int
    guild_id: int
    name: str
    type: int = ChannelType.TEXT
    parent_id: int | None = None
    position: int = 0
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    bot_permissions: int | None = None  # None: the guild's default for the bot
    deleted: bool = False

    @property
    def is_thread(self) -> bool:
        """Whether this channel is a thread."""
        return self.type in (10, 11, 12)


@dataclass
class Guild:
    """A guild with its roles, channels and members."""

    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    roles: dict[int, Role] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)

    @property
    def filesize_limit(self) -> int:
        """Per-file upload limit of this guild."""
        return file_size_limit(self.premium_tier)


@dataclass
class Attachment:
    """A stored file, served by the double at `url`."""

    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None
    expires_at: float | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    @property
    def expired(self) -> bool:
        """Whether the signed URL has expired."""
        return self.expires_at is not None and time.time() >= self.expires_at


@dataclass
class Message:
    """A message in a channel or thread, with the pings Discord would send."""

    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    flags: int = 0
    webhook_id: int | None = None
    interaction_id: int | None = None
    pinged_user_ids: set[int] = field(default_factory=set)
    pinged_role_ids: set[int] = field(default_factory=set)
    pinged_everyone: bool = False
    created_at: float = field(default_factory=time.time)
    edited_at: float | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    thread_id: int | None = None
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        """Whether only the invoker sees this message (flag 64)."""
        return bool(self.flags & 64)


@dataclass
class RecordedRequest:
    """One HTTP request the client sent to the double."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    files: list[tuple[str, str, int]]
    time: float
    status: int = 0

    @property
    def raw_text(self) -> str:
        """Everything the request carried as text, for secret scans."""
        return f"{self.method} {self.path} {self.query} {self.json!r}"


@dataclass
class Violation:
    """A request that broke Discord's contract (schema, limits, unknown route)."""

    method: str
    path: str
    errors: list[str]
    body: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}: " + "; ".join(self.errors)
