"""Which result links may be fetched: the address rule, the link check, the guarded resolver."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from sora_bot.provider.errors import DownloadError
from sora_bot.provider.links import GuardedResolver, LinkGuard, RefusedAddress, is_public_address

API = URL("http://127.0.0.1:8080/apiv1")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "224.0.0.1",
        "233.1.1.1",  # multicast that ipaddress calls global
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff0e::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::127.0.0.1",  # IPv4-compatible: ipaddress calls it global
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1: ipaddress calls it global
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2001:db8::1",
        "64:ff9b:1:7f00:1::808:808",  # local-use NAT64: the IPv4 address may sit anywhere
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "link",
    [
        "file:///etc/passwd",
        "ftp://files.example.com/v.mp4",
        "gopher://127.0.0.1:70/x",
        "data:video/mp4;base64,AAAA",
        "http:///no-host",
        "not a link",
        "",
        "http://127.0.0.1:8081/v.mp4",  # another port of the API's host is another origin
        "https://127.0.0.1:8080/v.mp4",  # the API's host and port under another scheme
        "http://10.0.0.7/v.mp4",
        "http://[::ffff:127.0.0.1]:8080/v.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "https://cdn.example.com/" + "a" * 5000,
        "http://127.1/v.mp4",  # numeric hosts some parsers read as IPv4
        "http://2130706433/v.mp4",
        "http://017700000001/v.mp4",
    ],
)
def test_check_refuses_links_before_any_request(link: str) -> None:
    with pytest.raises(DownloadError) as caught:
        LinkGuard(API).check(link)
    assert caught.value.kind == "refused" and not caught.value.retryable


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1:8080/apiv1/files/t.mp4",  # the API's own origin is exempt
        "https://93.184.216.34/v.mp4",
        "https://cdn.example.com/v.mp4?sig=abc",  # a name: checked after DNS, in the resolver
    ],
)
def test_check_passes_the_api_origin_public_literals_and_names(link: str) -> None:
    assert LinkGuard(API).check(link) == URL(link)


class ScriptedResolver(AbstractResolver):
    """Answers each lookup with the next list of addresses (a DNS that may rebind)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.answers.pop(0)
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in addresses
        ]

    async def close(self) -> None:
        self.closed = True


def guarded(inner: AbstractResolver) -> GuardedResolver:
    return GuardedResolver(inner, exempt=("api.example.com", 443), allowed=is_public_address)


async def test_resolver_keeps_public_addresses_only() -> None:
    resolver = guarded(ScriptedResolver(["10.0.0.1", "93.184.216.34", "::1", "2606:4700::1"]))
    found = await resolver.resolve("cdn.example.com", 443)
    assert [r["host"] for r in found] == ["93.184.216.34", "2606:4700::1"]


async def test_resolver_refuses_a_name_that_rebinds_to_a_private_address() -> None:
    resolver = guarded(ScriptedResolver(["93.184.216.34"], ["127.0.0.1"]))
    assert [r["host"] for r in await resolver.resolve("rebind.example.com", 443)] == [
        "93.184.216.34"
    ]
    with pytest.raises(RefusedAddress):  # every lookup is checked, not only the first
        await resolver.resolve("rebind.example.com", 443)


async def test_resolver_exempts_only_the_api_host_and_port() -> None:
    resolver = guarded(ScriptedResolver(["10.0.0.5"], ["10.0.0.5"]))
    assert [r["host"] for r in await resolver.resolve("API.example.com", 443)] == ["10.0.0.5"]
    with pytest.raises(RefusedAddress):
        await resolver.resolve("api.example.com", 8443)


async def test_resolver_closes_its_inner_resolver() -> None:
    inner = ScriptedResolver()
    await guarded(inner).close()
    assert inner.closed
