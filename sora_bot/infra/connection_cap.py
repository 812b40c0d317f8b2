"""A cap on a listener's open connections, overall and per client.

aiohttp's server keeps every connection it is offered, and each costs a file descriptor (1024
per process by default, shared with the database and the gateway). A gate sits between the
event loop and aiohttp's protocol and decides at connect, before a byte is parsed:

- a client (an IPv4 address, or an IPv6 /64: one host holds a whole /64) over its share is
  closed at once;
- when the listener is full, the connection that has waited longest without a request in
  progress (slow headers, idle keep-alive) is closed to make room, as nginx drains idle
  connections; with none idle, the newcomer is closed. So a slow flood cannot keep out a
  caller that sends its request at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sora_bot.infra.log_limit import LogLimiter

MAX_CONNECTIONS = 256  # per listener: two listeners stay far below 1024 descriptors
MAX_PER_CLIENT = 32  # a provider's callbacks come a few at a time


def client_key(peer: Any) -> str:
    """Whom a connection counts against: the IPv4 address, or the IPv6 /64."""
    if peer is None:
        return "?"
    host = peer[0] if isinstance(peer, tuple) and peer else str(peer)
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class ConnectionCap:
    """Open connections of one listener, oldest first; hands out gated protocols."""

    def __init__(
        self, refusals: LogLimiter, total: int = MAX_CONNECTIONS, per_client: int = MAX_PER_CLIENT
    ) -> None:
        self.refusals = refusals
        self.total = total
        self.per_client = per_client
        self._open: dict[Gate, None] = {}  # admission order: the first is the oldest
        self._clients: Counter[str] = Counter()
        self._busy: set[object] = set()  # aiohttp protocols with a request in progress

    @property
    def open(self) -> int:
        """Connections admitted and not yet closed."""
        return len(self._open)

    def factory(self, make_protocol: Callable[[], asyncio.Protocol]) -> Callable[[], Gate]:
        """A protocol factory for ``loop.create_server`` wrapping ``make_protocol``."""
        return lambda: Gate(self, make_protocol)

    @contextmanager
    def busy(self, protocol: object) -> Iterator[None]:
        """While a request of ``protocol``'s connection is handled, it is never closed for room."""
        self._busy.add(protocol)
        try:
            yield
        finally:
            self._busy.discard(protocol)

    def admit(self, gate: Gate) -> bool:
        """Count ``gate`` in, making room if needed; False: close it."""
        if self._clients[gate.client] >= self.per_client:
            self.refusals.event(
                logging.INFO, "connection refused: too many from one client", client=gate.client
            )
            return False
        if len(self._open) >= self.total:
            idle = next((g for g in self._open if g.protocol not in self._busy), None)
            if idle is None:
                self.refusals.event(
                    logging.INFO, "connection refused: listener full", open=len(self._open)
                )
                return False
            self.refusals.event(
                logging.INFO, "idle connection closed to make room", client=idle.client
            )
            idle.close()
        self._open[gate] = None
        self._clients[gate.client] += 1
        return True

    def release(self, gate: Gate) -> None:
        """``gate`` is closed (or closing): it no longer counts."""
        if gate in self._open:
            del self._open[gate]
            self._clients[gate.client] -= 1
            if self._clients[gate.client] <= 0:
                del self._clients[gate.client]


class Gate(asyncio.Protocol):
    """One connection: admitted under the cap, then everything goes to aiohttp's protocol."""

    def __init__(self, cap: ConnectionCap, make_protocol: Callable[[], asyncio.Protocol]) -> None:
        self.cap = cap
        self.make_protocol = make_protocol
        self.protocol: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.client = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.client = client_key(transport.get_extra_info("peername"))
        if not self.cap.admit(self):
            transport.abort()  # before aiohttp sees it: no parser, no task
            return
        self.protocol = self.make_protocol()
        self.protocol.connection_made(transport)

    def close(self) -> None:
        """Close now, uncounted at once (the loop reports the loss later)."""
        self.cap.release(self)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cap.release(self)
        if self.protocol is not None:
            self.protocol.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.protocol is not None:
            self.protocol.data_received(data)

    def eof_received(self) -> bool | None:
        return self.protocol.eof_received() if self.protocol is not None else None

    def pause_writing(self) -> None:
        if self.protocol is not None:
            self.protocol.pause_writing()

    def resume_writing(self) -> None:
        if self.protocol is not None:
            self.protocol.resume_writing()
