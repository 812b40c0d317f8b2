"""Which result links may be fetched: http(s) to public addresses, checked where it counts.

A result link (and every redirect) comes from outside, so it could point at the bot's own
machine or network. A link is refused before any request when its scheme is not http(s) or
its host is an IP literal that is not public. A host name is checked after DNS resolution,
inside the connector (``GuardedResolver``), so the addresses checked are the addresses
connected to: a name that resolves to a public address for a check and to a private one for
the connection (DNS rebinding) cannot slip through. The API's own origin is exempt, so a
provider (or a local double) on a private address keeps working.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from sora_bot.provider.errors import DownloadError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[IPAddress], bool]

SCHEMES = frozenset({"http", "https"})
MAX_LINK_CHARS = 4096  # signed CDN links are long, but not this long
# IPv6 ranges that carry an IPv4 address in their last 32 bits (compatible, NAT64).
_EMBEDDING = (
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("64:ff9b::/96"),
)
# Local-use NAT64 (RFC 8215): the IPv4 address may sit anywhere in it, so none of it is public.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


class RefusedAddress(OSError):
    """A host resolved only to addresses the bot may not connect to.

    An ``OSError`` so that aiohttp reports it as a DNS failure (``ClientConnectorDNSError``)
    before any connection is made; the client turns it into ``DownloadError("refused")``.
    """


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable unicast, including any IPv4 address inside."""
    if not address.is_global or address.is_multicast or address in _LOCAL_NAT64:
        return False
    return all(is_public_address(inner) for inner in _embedded(address))


def _embedded(address: IPAddress) -> list[IPAddress]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    inner: list[IPAddress] = []
    if address.ipv4_mapped is not None:
        inner.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        inner.append(address.sixtofour)
    if address.teredo is not None:
        inner.extend(address.teredo)
    if any(address in network for network in _EMBEDDING):
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return inner


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _host_port(url: URL) -> tuple[str, int | None]:
    return ((url.host or "").lower(), url.port)


class GuardedResolver(AbstractResolver):
    """Resolves through ``inner`` and keeps only allowed addresses (all hosts but the API's)."""

    def __init__(
        self,
        inner: AbstractResolver,
        *,
        exempt: tuple[str, int | None],
        allowed: AddressCheck,
    ) -> None:
        self._inner = inner
        self._exempt = exempt
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The resolved addresses of ``host`` that may be connected to (raises if none)."""
        found = await self._inner.resolve(host, port, family)
        # Keyed by host and port, like aiohttp's DNS cache, so a cached answer is never
        # reused across the exemption's boundary.
        if (host.lower(), port) == self._exempt:
            return found
        kept = [r for r in found if self._permitted(r["host"])]
        if not kept:
            raise RefusedAddress(f"{host} resolves only to non-public addresses")
        return kept

    def _permitted(self, address: str) -> bool:
        parsed = _literal(address)
        return parsed is not None and self._allowed(parsed)

    async def close(self) -> None:
        """Close the inner resolver (each guarded session has its own)."""
        await self._inner.close()


class LinkGuard:
    """Checks result links and opens download sessions that can only reach permitted hosts."""

    def __init__(
        self,
        api_base: URL,
        *,
        resolver: Callable[[], AbstractResolver] | None = None,
        allowed: AddressCheck = is_public_address,
    ) -> None:
        self._api = api_base
        self._resolver = resolver
        self._allowed = allowed

    def exempt(self, url: URL) -> bool:
        """Whether ``url`` has the API's origin (scheme, host and port)."""
        return url.scheme == self._api.scheme and _host_port(url) == _host_port(self._api)

    def check(self, link: str | URL) -> URL:
        """The link as a URL, or ``DownloadError("refused")`` when it must not be fetched."""
        url = _parse(link)
        if url.scheme not in SCHEMES or not url.host:
            raise DownloadError("refused", "result link is not an http(s) URL")
        if self.exempt(url):
            return url
        if _host_port(url) == _host_port(self._api):
            # The API's host and port under another scheme: the resolver exempts by host
            # and port, so refuse it here rather than let it reach a private API host.
            raise DownloadError("refused", "result link uses the API's host with another scheme")
        address = _literal(url.host)
        if address is not None and not self._allowed(address):
            raise DownloadError("refused", "result link points at a non-public address")
        if address is None and (url.host.replace(".", "").isdigit() or ":" in url.host):
            # "127.1" or "2130706433": not an address to us, an IPv4 one to some parsers.
            raise DownloadError("refused", "result link has a numeric host that is no address")
        return url

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """A session whose connector resolves through ``GuardedResolver`` (one per download)."""
        inner = aiohttp.ThreadedResolver() if self._resolver is None else self._resolver()
        guarded = GuardedResolver(inner, exempt=_host_port(self._api), allowed=self._allowed)
        try:
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=guarded)
            ) as session:
                yield session
        finally:
            await guarded.close()  # the connector does not close a resolver it was given


def _parse(link: str | URL) -> URL:
    if isinstance(link, URL):
        return link
    if not isinstance(link, str) or len(link) > MAX_LINK_CHARS:
        raise DownloadError("refused", "result link is not a usable URL")
    try:
        return URL(link)
    except ValueError as exc:
        raise DownloadError("refused", "result link is not a usable URL") from exc
