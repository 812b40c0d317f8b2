"""A local Discord (REST + gateway) that the real discord.py client talks to in tests."""

from __future__ import annotations

from .client import ThreadedDouble, pointed_at
from .faults import Faults, RouteFault
from .gateway import GatewayHub, GatewaySession
from .http_util import UploadedFile
from .interactions import FileSpec, InteractionHandle
from .model import (
    DEFAULT_BOT_PERMISSIONS,
    MIB,
    Attachment,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    Permission,
    RecordedRequest,
    Role,
    User,
    Violation,
    file_size_limit,
)
from .server import DiscordDouble

__all__ = [
    "DEFAULT_BOT_PERMISSIONS",
    "MIB",
    "Attachment",
    "Channel",
    "ChannelType",
    "DiscordDouble",
    "Faults",
    "FileSpec",
    "GatewayHub",
    "GatewaySession",
    "Guild",
    "InteractionHandle",
    "Member",
    "Message",
    "Permission",
    "RecordedRequest",
    "Role",
    "RouteFault",
    "ThreadedDouble",
    "UploadedFile",
    "User",
    "Violation",
    "file_size_limit",
    "pointed_at",
]
