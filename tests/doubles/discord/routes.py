"""REST routes of the double (bot-token side): users, applications, guilds, channels, files."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import payloads as P
from .http_util import BODY, DiscordError, ParsedBody, json_response, no_content
from .model import Attachment, ChannelType, Permission
from .webhook_routes import WebhookRoutes

if TYPE_CHECKING:
    from .server import DiscordDouble

SEND = Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES
SEND_IN_THREAD = Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES_IN_THREADS
READ = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY


def _id(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise DiscordError(404, 0, "404: Not Found") from None


def _body(request: web.Request) -> ParsedBody:
    body: ParsedBody = request[BODY]
    return body


class Routes:
    """Handlers for the bot-token REST API."""

    def __init__(self, double: DiscordDouble):
        self.d = double

    # ----- users, gateway, application --------------------------------------------------
    async def gateway(self, request: web.Request) -> web.Response:
        data: dict[str, Any] = {"url": self.d.gateway_url}
        if request.path.endswith("/bot"):
            limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            data.update(shards=1, session_start_limit=limit)
        return json_response(data)

    async def me(self, request: web.Request) -> web.Response:
        user = P.user_payload(self.d.bot_user)
        return json_response({**user, "verified": True, "mfa_enabled": False, "locale": "en-US"})

    async def application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": str(self.d.app_id),
                "name": self.d.bot_user.username,
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": P.user_payload(self.d.owner),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "bot": P.user_payload(self.d.bot_user),
            }
        )

    def _scope(self, request: web.Request) -> int | None:
        if _id(request, "app") != self.d.app_id:
            raise DiscordError(403, 50001, "Missing Access")
        if "guild" not in request.match_info:
            return None
        gid = _id(request, "guild")
        if gid not in self.d.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return gid

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.d.commands.get(self._scope(request), []))

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        body = list(_body(request).json or [])
        old = {(c["name"], c.get("type", 1)): c["id"] for c in self.d.commands.get(scope, [])}
        stored = []
        for cmd in body:
            key = (cmd["name"], cmd.get("type", 1))
            entry = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **cmd,
                "id": old.get(key) or str(self.d.snowflakes.next()),
                "application_id": str(self.d.app_id),
                "version": str(self.d.snowflakes.next()),
            }
            if scope is not None:
                entry["guild_id"] = str(scope)
            stored.append(entry)
        self.d.commands[scope] = stored
        self.d.command_syncs.append((scope, body))
        return json_response(stored)

    # ----- guilds -----------------------------------------------------------------------
    def _guild(self, request: web.Request) -> Any:
        guild = self.d.guilds.get(_id(request, "guild"))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        data = P.guild_payload(guild)
        data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
        return json_response(data)

    async def guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        channels = [self.d.channels[c] for c in guild.channel_ids if not self.d.channels[c].deleted]
        return json_response([self.d.channel_json(c) for c in channels])

    async def guild_roles(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        return json_response([P.role_payload(r) for r in guild.roles.values()])

    async def guild_member(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        member = guild.members.get(_id(request, "user"))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return json_response(P.member_payload(member))

    async def active_threads(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        threads = [t for t in self.d.threads if t.guild_id == guild.id and not t.archived]
        return json_response({"threads": [self.d.channel_json(t) for t in threads], "members": []})

    # ----- channels ---------------------------------------------------------------------
    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.d.channel_json(self.d.live_channel(_id(request, "channel"))))

    async def edit_channel(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        body = _body(request).json or {}
        if not channel.is_thread:
            raise DiscordError(403, 50013, "Missing Permissions")
        for key in ("name", "archived", "locked", "auto_archive_duration"):
            if key in body:
                setattr(channel, key, body[key])
        data = self.d.channel_json(channel)
        await self.d.gateway.dispatch("THREAD_UPDATE", data)
        return json_response(data)

    async def delete_channel(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        if channel.is_thread:
            self.d.require(channel, Permission.MANAGE_THREADS)
        else:
            raise DiscordError(403, 50013, "Missing Permissions")
        await self.d.delete_channel(channel)
        return json_response(self.d.channel_json(channel))

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        self.d.require(channel, READ)
        q = request.query
        limit = max(1, min(100, int(q.get("limit", 50))))
        msgs = self.d.messages_in(channel)
        if "before" in q:
            msgs = [m for m in msgs if m.id < int(q["before"])][-limit:]
        elif "after" in q:
            msgs = [m for m in msgs if m.id > int(q["after"])][:limit]
        else:
            msgs = msgs[-limit:]
        return json_response([self.d.message_json(m) for m in reversed(msgs)])

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        self.d.require(channel, READ)
        msg = self.d.live_message(channel.id, _id(request, "message"))
        return json_response(self.d.message_json(msg))

    async def post_message(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        body = _body(request)
        payload = body.json or {}
        if channel.type == ChannelType.FORUM:
            raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
        self._require_send(channel, payload, bool(body.files))
        if channel.is_thread and channel.locked:
            raise DiscordError(403, 50083, "Thread is archived")
        self.d.check_upload(self.d.guild_of(channel), body.files)
        msg = await self.d.create_message(channel, self.d.bot_user, payload, body.files)
        return json_response(self.d.message_json(msg))

    def _require_send(self, channel: Any, payload: dict[str, Any], has_files: bool) -> None:
        needed = SEND_IN_THREAD if channel.is_thread else SEND
        if payload.get("embeds"):
            needed |= Permission.EMBED_LINKS
        if has_files:
            needed |= Permission.ATTACH_FILES
        self.d.require(channel, needed)

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        msg = self.d.live_message(channel.id, _id(request, "message"))
        if msg.author.id != self.d.bot_user.id or msg.webhook_id is not None:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        body = _body(request)
        if body.files:
            self.d.require(channel, Permission.ATTACH_FILES)
        self.d.check_upload(self.d.guild_of(channel), body.files)
        await self.d.edit_message(msg, body.json or {}, body.files)
        return json_response(self.d.message_json(msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        msg = self.d.live_message(channel.id, _id(request, "message"))
        if msg.author.id != self.d.bot_user.id:
            self.d.require(channel, Permission.MANAGE_MESSAGES)
        await self.d.delete_message(msg)
        return no_content()

    async def thread_from_message(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        msg = self.d.live_message(channel.id, _id(request, "message"))
        if channel.is_thread or channel.type != ChannelType.TEXT:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        self.d.require(channel, Permission.VIEW_CHANNEL | Permission.CREATE_PUBLIC_THREADS)
        if msg.thread_id is not None:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        body = _body(request).json or {}
        thread = await self.d.create_thread(
            channel,
            body["name"],
            from_message=msg,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        return json_response(self.d.channel_json(thread))

    async def thread_without_message(self, request: web.Request) -> web.Response:
        channel = self.d.live_channel(_id(request, "channel"))
        body = _body(request)
        payload = body.json or {}
        archive = int(payload.get("auto_archive_duration") or 1440)
        if channel.type == ChannelType.FORUM:
            self._require_send(channel, payload.get("message") or {}, bool(body.files))
            self.d.check_upload(self.d.guild_of(channel), body.files)
            thread = await self.d.create_thread(
                channel, payload["name"], auto_archive_duration=archive
            )
            starter = await self.d.create_message(
                thread, self.d.bot_user, payload.get("message") or {}, body.files
            )
            # The starter post of a forum thread shares the thread's id.
            del self.d.messages[starter.id]
            starter.id = thread.id
            self.d.messages[thread.id] = starter
            return json_response(
                {**self.d.channel_json(thread), "message": self.d.message_json(starter)}
            )
        if channel.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        self.d.require(channel, Permission.VIEW_CHANNEL | Permission.CREATE_PUBLIC_THREADS)
        thread = await self.d.create_thread(channel, payload["name"], auto_archive_duration=archive)
        return json_response(self.d.channel_json(thread))

    async def ok_empty(self, request: web.Request) -> web.Response:
        self.d.live_channel(_id(request, "channel"))
        return no_content()

    # ----- files ------------------------------------------------------------------------
    async def attachment(self, request: web.Request) -> web.Response:
        att: Attachment | None = self.d.attachments.get(_id(request, "attachment"))
        if att is None or att.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        if att.expired or request.query.get("hm") != att.url.split("hm=")[1].rstrip("&"):
            return web.Response(status=404, text="This content is no longer available.")
        self.d.attachment_fetches.append(att.id)
        if self.d.attachment_delay:
            await asyncio.sleep(self.d.attachment_delay)  # a CDN that answers too slowly
        return web.Response(
            body=att.data, content_type=att.content_type or "application/octet-stream"
        )


def add_routes(app: web.Application, double: DiscordDouble) -> None:
    """Register every route of the double on `app`."""
    r = Routes(double)
    w = WebhookRoutes(double)
    api = "/api/v10"
    c = api + "/channels/{channel}"
    m = c + "/messages/{message}"
    g = api + "/guilds/{guild}"
    cmds = api + "/applications/{app}"
    hook = api + "/webhooks/{app}/{token}"
    table = [
        ("GET", api + "/gateway", r.gateway),
        ("GET", api + "/gateway/bot", r.gateway),
        ("GET", api + "/users/@me", r.me),
        ("GET", api + "/oauth2/applications/@me", r.application),
        ("GET", api + "/applications/@me", r.application),
        ("GET", cmds + "/commands", r.get_commands),
        ("PUT", cmds + "/commands", r.put_commands),
        ("GET", cmds + "/guilds/{guild}/commands", r.get_commands),
        ("PUT", cmds + "/guilds/{guild}/commands", r.put_commands),
        ("GET", g, r.get_guild),
        ("GET", g + "/channels", r.guild_channels),
        ("GET", g + "/roles", r.guild_roles),
        ("GET", g + "/members/{user}", r.guild_member),
        ("GET", g + "/threads/active", r.active_threads),
        ("GET", c, r.get_channel),
        ("PATCH", c, r.edit_channel),
        ("DELETE", c, r.delete_channel),
        ("GET", c + "/messages", r.list_messages),
        ("POST", c + "/messages", r.post_message),
        ("GET", m, r.get_message),
        ("PATCH", m, r.edit_message),
        ("DELETE", m, r.delete_message),
        ("POST", m + "/threads", r.thread_from_message),
        ("POST", c + "/threads", r.thread_without_message),
        ("PUT", c + "/thread-members/@me", r.ok_empty),
        ("DELETE", c + "/thread-members/@me", r.ok_empty),
        ("POST", c + "/typing", r.ok_empty),
        ("PUT", m + "/reactions/{emoji}/@me", r.ok_empty),
        ("POST", api + "/interactions/{interaction}/{token}/callback", w.callback),
        ("POST", hook, w.followup),
        ("GET", hook + "/messages/{message}", w.get_message),
        ("PATCH", hook + "/messages/{message}", w.edit_message),
        ("DELETE", hook + "/messages/{message}", w.delete_message),
        ("GET", "/attachments/{channel}/{attachment}/{filename}", r.attachment),
        ("GET", "/ephemeral-attachments/{channel}/{attachment}/{filename}", r.attachment),
    ]
    for method, path, handler in table:
        app.router.add_route(method, path, handler)
