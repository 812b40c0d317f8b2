"""The websocket gateway of the double: HELLO, IDENTIFY/READY, RESUME, dispatches."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

HELLO, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HEARTBEAT_ACK = (
    10,
    1,
    2,
    6,
    7,
    9,
    11,
)


@dataclass
class GatewaySession:
    """A gateway session (one IDENTIFY), possibly spanning several connections."""

    session_id: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    resumes: int = 0
    invalid: bool = False
    events: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    session: GatewaySession | None = None


class GatewayHub:
    """Serves `/gateway` and fans dispatch events out to connected sessions."""

    def __init__(
        self,
        *,
        token: Callable[[], str],
        ready_payloads: Callable[[GatewaySession], tuple[dict[str, Any], list[dict[str, Any]]]],
        heartbeat_interval_ms: int = 41250,
    ) -> None:
        self._token = token
        self._ready_payloads = ready_payloads
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: list[GatewaySession] = []
        self.received: list[dict[str, Any]] = []
        self.heartbeats = 0
        self._connections: list[_Connection] = []

    @property
    def identify_count(self) -> int:
        """How many IDENTIFYs (new sessions) the double has seen."""
        return len(self.sessions)

    @property
    def resume_count(self) -> int:
        """How many successful RESUMEs the double has seen."""
        return sum(s.resumes for s in self.sessions)

    @property
    def connected(self) -> int:
        """Connections with a live session."""
        return sum(1 for c in self._connections if c.session is not None and not c.ws.closed)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The websocket endpoint."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Connection(ws)
        self._connections.append(conn)
        try:
            await self._send(
                ws, {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._connections.remove(conn)
        return ws

    async def _on_frame(self, conn: _Connection, frame: dict[str, Any]) -> None:
        self.received.append(frame)
        op, data = frame.get("op"), frame.get("d")
        if op == HEARTBEAT:
            self.heartbeats += 1
            await self._send(conn.ws, {"op": HEARTBEAT_ACK, "d": None})
        elif op == IDENTIFY:
            await self._identify(conn, data or {})
        elif op == RESUME:
            await self._resume(conn, data or {})

    async def _identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        if data.get("token") != self._token():
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = GatewaySession(secrets.token_hex(16), int(data.get("intents", 0)), data)
        self.sessions.append(session)
        conn.session = session
        ready, guilds = self._ready_payloads(session)
        ready["session_id"] = session.session_id
        await self._dispatch_to(conn, "READY", ready)
        for guild in guilds:
            await self._dispatch_to(conn, "GUILD_CREATE", guild)

    async def _resume(self, conn: _Connection, data: dict[str, Any]) -> None:
        session = next((s for s in self.sessions if s.session_id == data.get("session_id")), None)
        if session is None or session.invalid or data.get("token") != self._token():
            await self._send(conn.ws, {"op": INVALID_SESSION, "d": False})
            return
        session.resumes += 1
        conn.session = session
        await self._dispatch_to(conn, "RESUMED", {})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to every connected session."""
        for conn in list(self._connections):
            if conn.session is not None and not conn.ws.closed:
                await self._dispatch_to(conn, event, data)

    async def _dispatch_to(self, conn: _Connection, event: str, data: dict[str, Any]) -> None:
        assert conn.session is not None
        conn.session.seq += 1
        conn.session.events.append((event, data))
        await self._send(conn.ws, {"op": 0, "t": event, "s": conn.session.seq, "d": data})

    async def drop(self, *, code: int = 4000, invalidate: bool = False) -> None:
        """Close every connection (resumable code by default), as a network drop would."""
        for conn in list(self._connections):
            if invalidate and conn.session is not None:
                conn.session.invalid = True
            await conn.ws.close(code=code, message=b"dropped by the double")

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to every connection."""
        for conn in list(self._connections):
            await self._send(conn.ws, {"op": RECONNECT, "d": None})

    async def close(self) -> None:
        """Close all connections for shutdown."""
        await self.drop(code=1001)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        if ws.closed:
            return
        try:
            await ws.send_str(json.dumps(frame))
        except (ConnectionError, RuntimeError):
            log.debug("gateway send on a closing socket ignored")

    async def wait_for_sessions(self, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` IDENTIFYs have happened."""
        async with asyncio.timeout(timeout):
            while self.identify_count < count:
                await asyncio.sleep(0.01)
