"""Hostile requests against the running callback endpoint, over raw TCP.

Invariants: every request is answered with 2xx/4xx (interim 1xx aside) or the connection is
closed, never 5xx, never no answer; a job is woken, and its row written, only by a POST whose
last path segment is its own unused token; after the fuzz the endpoint still serves a valid
callback. ``FUZZ_EXAMPLES`` sets how many examples run (CI runs more).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sora_bot.engine.callbacks import MAX_BODY, CallbackServer, RateLimiter
from sora_bot.engine.worker import Worker
from sora_bot.infra.listen import Limits
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import RawClient, WakeRecorder, callback_jobs, raw_connect

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
# Short deadlines so an incomplete request costs a fraction of a second, not ten.
LIMITS = Limits(header_seconds=0.1, body_seconds=0.2, linger_seconds=0.1)
JOBS = 40
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n")
_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Hostile:
    """One connection's worth of bytes, and which tokens it names as its last path segment."""

    data: bytes
    chunks: int  # sent in this many writes
    requests: int  # requests in ``data`` (pipelined when more than one)
    named_tokens: frozenset[str]  # the tokens its POST paths contain, percent-decoded or not
    head: bool  # a HEAD request: answers carry no body


def segments(tokens: list[str]) -> st.SearchStrategy[str]:
    unicode = st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="\r\n "), max_size=60
    )
    return st.one_of(
        st.sampled_from(tokens),
        st.just("x" * 43),  # well formed, unknown
        st.sampled_from(["..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%00", "%zz", "~", "", "//"]),
        st.sampled_from(tokens).map(lambda t: "".join(f"%{ord(c):02X}" for c in t)),
        st.sampled_from(tokens).map(lambda t: t + "/"),
        st.sampled_from(tokens).map(lambda t: t[:-1]),
        st.integers(1, 20_000).map(lambda n: "a" * n),  # up to beyond aiohttp's line limit
        unicode,
    )


@st.composite
def paths(draw: st.DrawFn, tokens: list[str]) -> str:
    parts = draw(st.lists(segments(tokens), min_size=1, max_size=4))
    prefix = draw(mostly("/sora-cb/", ["/", "", "*", "http://evil.example/", "//"]))
    suffix = draw(mostly("", ["?a=1", "#frag", "?" + "q" * 3000, ";x"]))
    return prefix + "/".join(parts) + suffix


def mostly(usual: Any, odd: list[Any], odds: int = 4) -> st.SearchStrategy[Any]:
    """``usual`` about ``odds`` times in ``odds + 1``, else one of ``odd``: hostile, yet deep
    enough that most requests reach the handler rather than the parser's 400."""
    return st.integers(0, odds).flatmap(
        lambda n: st.sampled_from(odd) if n == odds else st.just(usual)  # 0, the usual, is
        # what hypothesis shrinks towards
    )


GOOD_HEADERS = [
    "Content-Type: application/json",
    "Content-Encoding: gzip",
    "Content-Encoding: br",
    "Expect: 100-continue",
    "Connection: keep-alive",
    "Connection: close",
    "Connection: Upgrade\r\nUpgrade: websocket",
    "X-Forwarded-For: 1.2.3.4",
    "X-Émoji: 🎬",
    "X-Long: " + "v" * 8000,
]
BAD_HEADERS = [
    "Content-Length: -1",
    "Content-Length: 99999999999999999999",
    "Content-Length: abc",
    "Content-Length: 5, 6",
    "Transfer-Encoding: chunked",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: identity",
    "Host: a\r\nHost: b",
    "No colon here",
    " folded continuation",
    "X-Nul: a\x00b",
    "X-Too-Long: " + "v" * 9000,
    ": empty name",
]
ODD_METHODS = ["GET", "HEAD", "PUT", "OPTIONS", "TRACE", "CONNECT", "post", "P\x00ST", "FOO"]
ODD_METHODS += ["", "POST POST", "\x16\x03\x01"]
HEADER_LINES = st.integers(0, 5).flatmap(
    lambda n: st.sampled_from(BAD_HEADERS if n == 5 else GOOD_HEADERS)
)
BODIES = st.one_of(
    st.binary(max_size=256),
    st.sampled_from([0, 1, MAX_BODY - 1, MAX_BODY, MAX_BODY + 1, 100_000]).map(lambda n: b"{" * n),
    st.just(b'{"id": "task", "status": "completed", "results": ["https://evil.example/v"]}'),
)


@st.composite
def requests(draw: st.DrawFn, tokens: list[str]) -> tuple[bytes, set[str], bool]:
    """(bytes of one request, the tokens a POST names, is HEAD)."""
    method = draw(mostly("POST", ODD_METHODS, odds=3))
    path = draw(paths(tokens))
    version = draw(mostly("HTTP/1.1", ["HTTP/1.0", "HTTP/2.0", "HTTP/9", "", "HTTP/1.1 x"]))
    eol = draw(mostly("\r\n", ["\n"], odds=9))
    lines = draw(st.lists(HEADER_LINES, max_size=3))
    body = draw(BODIES)
    framing = draw(mostly("length", ["short", "long", "chunked", "chunked", "badchunk"], odds=2))
    head = [f"{method} {path} {version}".strip(), "Host: 127.0.0.1", *lines]
    if framing in ("length", "short", "long"):
        stated = len(body) + {"length": 0, "short": -1, "long": 10}[framing]
        head.append(f"Content-Length: {max(stated, 0)}")
    else:
        head.append("Transfer-Encoding: chunked")
        size = f"{len(body):x}" if framing == "chunked" else "zz"
        body = f"{size}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    data = (eol.join(head) + eol + eol).encode("utf-8", "surrogatepass") + body
    # The server decodes the path; a token written as %XX escapes is still that token.
    named = {t for t in tokens if t in unquote(path)} if method == "POST" else set()
    return data, named, method == "HEAD"


@st.composite
def hostile(draw: st.DrawFn, tokens: list[str]) -> Hostile:
    if draw(st.integers(0, 9)) == 0:  # not HTTP at all
        return Hostile(draw(st.binary(min_size=1, max_size=2048)), 1, 1, frozenset(), False)
    made = draw(st.lists(requests(tokens), min_size=1, max_size=3))
    named = frozenset().union(*(n for _, n, _ in made))
    data = b"".join(part for part, _, _ in made)
    return Hostile(data, draw(st.integers(1, 4)), len(made), named, any(h for *_, h in made))


async def answers(client: RawClient, hostile: Hostile) -> list[int]:
    """The final statuses answered before the server closed or answered every request."""
    statuses: list[int] = []
    at = 0
    async with asyncio.timeout(5):  # neither an answer nor a close: the invariant is broken
        while len(statuses) < hostile.requests:
            line = _STATUS_LINE.match(client.received, at)
            end = client.received.find(b"\r\n\r\n", at)
            if line and end >= 0:
                length = _LENGTH.search(client.received, at, end + 2)
                size = 0 if hostile.head or not length else int(length.group(1))
                if len(client.received) >= end + 4 + size:
                    status = int(line.group(1))
                    if status >= 200:  # 1xx is interim (100 Continue)
                        statuses.append(status)
                    at = end + 4 + size
                    continue
            try:
                chunk = await client.reader.read(65536)
            except ConnectionError:
                break
            if not chunk:
                break
            client.received += chunk
    return statuses


async def send(port: int, hostile: Hostile) -> list[int]:
    client = await raw_connect(port)
    try:
        step = max(1, len(hostile.data) // hostile.chunks)
        for start in range(0, len(hostile.data), step):
            if not await client.send(hostile.data[start : start + step]):
                break
        return await answers(client, hostile)
    finally:
        client.close()


async def rows(db: Database) -> dict[int, tuple[Any, ...]]:
    found = await db.fetchall("SELECT * FROM jobs ORDER BY id")
    return {int(r["id"]): tuple(r) for r in found}


def test_hostile_requests_get_4xx_or_a_close_and_wake_nothing_unowed() -> None:
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        db = loop.run_until_complete(Database.open(Path(tmp) / "bot.db"))
        store = JobStore(db)
        tokens = loop.run_until_complete(callback_jobs(store, JOBS))
        spare, *fuzzed = tokens  # kept for the check after the fuzz
        woken = WakeRecorder()
        server = CallbackServer(
            store=store,
            worker=cast(Worker, woken),
            clock=lambda: 1_800_000_000.0,
            host="127.0.0.1",
            port=0,
            limiter=RateLimiter(rate=1e6, burst=1e6),  # the fuzz is one client; 429s tested apart
            limits=LIMITS,
        )
        loop.run_until_complete(server.start())
        used: set[str] = set()
        try:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(hostile(fuzzed))
            def one(case: Hostile) -> None:
                before, wakes = loop.run_until_complete(rows(db)), len(woken.woken)
                statuses = loop.run_until_complete(send(server.port, case))
                after = loop.run_until_complete(rows(db))
                assert all(200 <= s < 300 or 400 <= s < 500 for s in statuses), statuses
                owed = {tokens[t] for t in case.named_tokens - used}
                changed = {job for job in after if after[job] != before.get(job)}
                assert changed <= owed, (changed, owed)
                assert set(woken.woken[wakes:]) <= owed
                assert set(woken.woken[wakes:]) == changed  # a row written is a job woken
                used.update(t for t in case.named_tokens if tokens[t] in changed)

            one()
            loop.run_until_complete(_still_serves(server.port, spare))
        finally:
            loop.run_until_complete(server.stop())
            loop.run_until_complete(db.close())
            loop.close()
    assert woken.woken[-1] == tokens[spare]
    assert len(woken.woken) == len(set(woken.woken))  # single use held throughout


async def _still_serves(port: int, token: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/sora-cb/{token}", json={}) as resp,
    ):
        assert resp.status == 200
