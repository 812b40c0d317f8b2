"""The Discord double: state, lifecycle, request pipeline and the test-facing API."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from . import payloads as P
from .faults import Faults
from .gateway import GatewayHub, GatewaySession
from .http_util import BODY, DiscordError, fault_response, json_response, parse_body
from .interactions import FileSpec, InteractionHandle
from .mentions import allowed_mentions_error
from .model import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    MIB,
    Attachment,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    RecordedRequest,
    Role,
    Snowflakes,
    User,
    Violation,
)
from .schema import SPEC_PATH, FieldError, error_body, load_schemas, message_limit_errors
from .store import MessageStore

API_PREFIX = "/api/v10"
WEBHOOK_ROUTE = re.compile(r"^/(webhooks/\d+/[^/]+|interactions/\d+/[^/]+/callback)")
MESSAGE_ROUTE = re.compile(
    r"^/(channels/\d+/messages(/\d+)?|webhooks/\d+/[^/]+(/messages/[^/]+)?)$"
)


class ContractViolation(DiscordError):
    """A request Discord would reject as malformed; recorded in `violations`."""

    def __init__(self, message: str):
        super().__init__(400, 50035, "Invalid Form Body", {"errors": {"_errors": [message]}})
        self.detail = message


class DiscordDouble(MessageStore):
    """A local Discord (REST under /api/v10 and a gateway at /gateway) for discord.py."""

    def __init__(
        self,
        *,
        token: str = "double-bot-token",
        premium_tier: int = 0,
        interaction_ttl: float = 900.0,
        callback_window: float = 3.0,
        attachment_ttl: float = 86400.0,
        heartbeat_interval_ms: int = 41250,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.host, self.port = host, port
        self.interaction_ttl = interaction_ttl
        self.callback_window = callback_window
        self.attachment_ttl = attachment_ttl
        self.attachment_fetches: list[int] = []  # ids of attachments served, in order
        self.attachment_delay = 0.0  # seconds before an attachment's bytes are sent
        self.validate = validate
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.snowflakes = Snowflakes()
        self.app_id = self.snowflakes.next()
        self.bot_user = self.add_user("SoraBot", bot=True, user_id=self.app_id)
        self.owner = self.add_user("alice")
        self.member_user = self.add_user("bob")
        self.guild = self.add_guild("Test Guild", premium_tier=premium_tier)
        self.channel = self.add_channel(self.guild, "general")
        self.forum = self.add_channel(self.guild, "showcase", type=ChannelType.FORUM)
        self.gateway = GatewayHub(
            token=lambda: self.token,
            ready_payloads=self._ready_payloads,
            heartbeat_interval_ms=heartbeat_interval_ms,
        )
        self._runner: web.AppRunner | None = None

    # ----- world building -------------------------------------------------------------
    def add_user(self, name: str, *, bot: bool = False, user_id: int | None = None) -> User:
        """A new user, added to every existing guild."""
        user = User(user_id or self.snowflakes.next(), name, bot)
        self.users[user.id] = user
        for guild in self.guilds.values():
            guild.members[user.id] = Member(user)
        return user

    def add_guild(self, name: str, *, premium_tier: int = 0) -> Guild:
        """A guild with @everyone, a bot role and every known user as member."""
        gid = self.snowflakes.next()
        guild = Guild(gid, name, owner_id=self.owner.id, premium_tier=premium_tier)
        guild.roles[gid] = Role(gid, "@everyone", int(EVERYONE_PERMISSIONS))
        bot_role = Role(
            self.snowflakes.next(), self.bot_user.username, int(DEFAULT_BOT_PERMISSIONS)
        )
        guild.roles[bot_role.id] = bot_role
        for user in self.users.values():
            roles = [bot_role.id] if user.id == self.bot_user.id else []
            guild.members[user.id] = Member(user, roles=roles)
        self.guilds[gid] = guild
        return guild

    def add_role(
        self, guild: Guild, name: str, *, permissions: int = 0, mentionable: bool = False
    ) -> Role:
        """A new role in `guild`."""
        role = Role(self.snowflakes.next(), name, permissions, mentionable, len(guild.roles))
        guild.roles[role.id] = role
        return role

    def add_channel(self, guild: Guild, name: str, *, type: int = ChannelType.TEXT) -> Channel:
        """A new text (0) or forum (15) channel."""
        channel = Channel(
            self.snowflakes.next(), guild.id, name, type, position=len(guild.channel_ids)
        )
        self.channels[channel.id] = channel
        guild.channel_ids.append(channel.id)
        return channel

    # ----- permissions ----------------------------------------------------------------
    def bot_permissions_in(self, channel_id: int) -> int:
        """The bot's effective permissions in a channel (threads use their parent)."""
        channel = self.channels[channel_id]
        if channel.is_thread and channel.parent_id is not None:
            channel = self.channels[channel.parent_id]
        if channel.bot_permissions is not None:
            return channel.bot_permissions
        guild = self.guilds[channel.guild_id]
        perms = guild.roles[guild.id].permissions
        for role_id in guild.members[self.bot_user.id].roles:
            perms |= guild.roles[role_id].permissions
        return perms

    async def set_bot_permissions(self, channel: Channel | int, permissions: int | None) -> None:
        """Set the bot's exact permissions in a channel (None: guild default), CHANNEL_UPDATE."""
        ch = self._channel(channel)
        ch.bot_permissions = None if permissions is None else int(permissions)
        await self.gateway.dispatch("CHANNEL_UPDATE", self.channel_json(ch))

    async def deny(self, channel: Channel | int, permissions: int) -> None:
        """Take permission bits away from the bot in a channel."""
        ch = self._channel(channel)
        await self.set_bot_permissions(ch, self.bot_permissions_in(ch.id) & ~int(permissions))

    def require(self, channel: Channel, permissions: int) -> None:
        """403 / 50013 unless the bot has all `permissions` in `channel`."""
        missing = int(permissions) & ~self.bot_permissions_in(channel.id)
        if missing:
            raise DiscordError(403, 50013, "Missing Permissions")

    def channel_json(self, channel: Channel) -> dict[str, Any]:
        """A channel payload including the bot's overwrite for the permissions knob."""
        overwrites = P.bot_overwrites(channel, self.bot_user.id, ALL_PERMISSIONS)
        return P.channel_payload(channel, overwrites)

    # ----- lifecycle ------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """http://host:port of the double."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for `discord.http.Route.BASE` / DISCORD_API_BASE."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for `DiscordWebSocket.DEFAULT_GATEWAY` / DISCORD_GATEWAY_URL."""
        return f"ws://{self.host}:{self.port}/gateway"

    def env(self) -> dict[str, str]:
        """Environment for a bot subprocess (plus DISCORD_TOKEN)."""
        return {
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway_url,
            "DISCORD_TOKEN": self.token,
        }

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one)."""
        from .routes import add_routes

        load_schemas(SPEC_PATH)
        app = web.Application(middlewares=[self._middleware], client_max_size=512 * MIB)
        app.router.add_get("/gateway", self.gateway.handle)
        add_routes(app, self)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close gateway connections and the server."""
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordDouble:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- request pipeline -----------------------------------------------------------
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            response: web.StreamResponse = await handler(request)
            return response
        rel = request.path[len(API_PREFIX) :]
        record = RecordedRequest(
            request.method, rel, dict(request.query), dict(request.headers), None, [], time.time()
        )
        self.requests.append(record)
        try:
            body = await parse_body(request)
            record.json = body.json
            record.files = [(f.field, f.filename, len(f.data)) for f in body.files]
            request[BODY] = body
            response = await self._answer(request, handler, rel, body.json)
        except ContractViolation as exc:
            self.violations.append(Violation(request.method, rel, [exc.detail], record.json))
            response = exc.response()
        except DiscordError as exc:
            response = exc.response()
        record.status = response.status
        return response

    async def _answer(
        self, request: web.Request, handler: Callable[[web.Request], Any], rel: str, body: Any
    ) -> web.StreamResponse:
        fault = self.faults.take(request.method, rel)
        if fault is not None:
            return fault_response(fault)
        if (
            not WEBHOOK_ROUTE.match(rel)
            and request.headers.get("Authorization") != f"Bot {self.token}"
        ):
            raise DiscordError(401, 0, "401: Unauthorized")
        errors = self.body_errors(request.method, rel, body) if self.validate else []
        if errors:
            self.violations.append(Violation(request.method, rel, [str(e) for e in errors], body))
            return json_response(error_body(errors), 400)
        try:
            response: web.StreamResponse = await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            self.violations.append(
                Violation(request.method, rel, ["route not implemented by the double"])
            )
            raise DiscordError(404, 0, "404: Not Found") from None
        return response

    def body_errors(self, method: str, rel: str, body: Any) -> list[FieldError]:
        """Schema errors plus the documented limits for a JSON body."""
        if body is None:
            return []
        errors = load_schemas(SPEC_PATH).errors(method, rel, body)
        message: Any = None
        prefix: tuple[str, ...] = ()
        if (
            rel.startswith("/interactions/")
            and isinstance(body, dict)
            and body.get("type") in (4, 7)
        ):
            message, prefix = body.get("data"), ("data",)
        elif re.fullmatch(r"/channels/\d+/threads", rel) and isinstance(body, dict):
            message, prefix = body.get("message"), ("message",)
        elif MESSAGE_ROUTE.match(rel) and method in ("POST", "PATCH"):
            message = body
        if isinstance(message, dict):
            errors += message_limit_errors(message, prefix)
            problem = allowed_mentions_error(message.get("allowed_mentions"))
            if problem:
                errors.append(FieldError((*prefix, "allowed_mentions"), "INVALID", problem))
        return errors

    def assert_no_violations(self) -> None:
        """Fail when the bot sent anything Discord would reject as malformed."""
        assert not self.violations, "Discord contract violations:\n" + "\n".join(
            str(v) for v in self.violations
        )

    # ----- gateway --------------------------------------------------------------------
    def _ready_payloads(
        self, session: GatewaySession
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        ready = {
            "v": 10,
            "user": {**P.user_payload(self.bot_user), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "private_channels": [],
            "relationships": [],
            "application": {"id": str(self.app_id), "flags": 0},
            "_trace": ["discord-double"],
        }
        return ready, [self.guild_create_json(g) for g in self.guilds.values()]

    def guild_create_json(self, guild: Guild) -> dict[str, Any]:
        """The GUILD_CREATE payload of a guild as it is now."""
        live = [self.channels[c] for c in guild.channel_ids if not self.channels[c].deleted]
        threads = [
            self.channel_json(c)
            for c in self.channels.values()
            if c.guild_id == guild.id and c.is_thread and not c.deleted and not c.archived
        ]
        return P.guild_create_payload(guild, [self.channel_json(c) for c in live], threads)

    async def drop_gateway(self, *, invalidate: bool = False) -> None:
        """Drop gateway connections; the client resumes (or re-identifies if `invalidate`)."""
        await self.gateway.drop(invalidate=invalidate)

    # ----- interactions -----------------------------------------------------------------
    async def invoke(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: User | None = None,
        channel: Channel | int | None = None,
        attachments: Mapping[str, FileSpec] | None = None,
        app_permissions: int | None = None,
        ttl: float | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Dispatch a slash command ("name" or "group sub") and return its handle."""
        from .dispatch import invoke

        return await invoke(
            self,
            command,
            {**(options or {}), **(attachments or {})},
            user,
            channel,
            app_permissions,
            ttl,
            locale,
        )

    async def click(
        self,
        message: Message | int,
        custom_id: str,
        *,
        user: User | None = None,
        ttl: float | None = None,
    ) -> InteractionHandle:
        """Press a button (component interaction, type 3) on a message."""
        from .dispatch import click

        return await click(self, self._message(message), custom_id, user, ttl)

    async def submit_modal(
        self,
        opened_by: InteractionHandle,
        values: Mapping[str, str],
        *,
        user: User | None = None,
        ttl: float | None = None,
    ) -> InteractionHandle:
        """Submit the modal the bot opened in answer to `opened_by` (type 5)."""
        from .dispatch import submit_modal

        return await submit_modal(self, opened_by, values, user, ttl)

    def expire_interaction_tokens(self) -> None:
        """Make every interaction token issued so far expire now (401 / 50027)."""
        for handle in self.interactions.values():
            handle.expire()

    def expire_attachment(self, attachment: Attachment | int) -> None:
        """Make a signed attachment URL expire now."""
        att = attachment if isinstance(attachment, Attachment) else self.attachments[attachment]
        att.expires_at = time.time()

    # ----- queries ---------------------------------------------------------------------
    def find_requests(
        self, method: str | None = None, path_regex: str = ""
    ) -> list[RecordedRequest]:
        """Recorded requests by method and a regex searched in the path (relative to /api/v10)."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and pattern.search(r.path)
        ]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll the model until `predicate()` is truthy; return its value."""
        async with asyncio.timeout(timeout):
            while not (value := predicate()):
                await asyncio.sleep(0.01)
        return value

    def _channel(self, channel: Channel | int) -> Channel:
        return channel if isinstance(channel, Channel) else self.channels[channel]

    def _message(self, message: Message | int) -> Message:
        return message if isinstance(message, Message) else self.messages[message]
