"""Fuzz target: hostile provider answers never raise anything but the documented errors.

``FUZZ_EXAMPLES`` sets how many bodies each property tries (default 200, so the suite stays
fast; CI runs it again with a larger number).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sora_bot.models import Task
from sora_bot.provider.answers import (
    LATEST_CREATED,
    MAX_CREDITS,
    MAX_ESTIMATE,
    MAX_RESULTS,
    MAX_WAIT,
    TASK_ID,
    error_envelope,
    parse_task,
    retry_after,
)
from sora_bot.provider.client import ProviderClient
from sora_bot.provider.errors import ProviderError, ProviderUnavailable, SoraAPIError
from sora_bot.provider.links import MAX_LINK_CHARS

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TASK = "task-unified-1757169743-7cvnl5zw"
FIELDS = ["id", "status", "progress", "created", "task_info", "usage", "results", "error"]
_T = TypeVar("_T")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from(["pending", "processing", "completed", "failed", TASK, "", "https://x/v"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner, max_size=6),
    ),
    max_leaves=30,
)
task_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.just(TASK), values),
        "status": st.one_of(
            st.sampled_from(["pending", "processing", "completed", "failed"]), values
        ),
        "progress": values,
        "created": values,
        "task_info": st.one_of(
            st.fixed_dictionaries({}, optional={"estimated_time": values}), values
        ),
        "usage": st.one_of(
            st.fixed_dictionaries({}, optional={"credits_reserved": values}), values
        ),
        "results": st.one_of(st.lists(st.one_of(st.text(), values), max_size=12), values),
        "error": st.one_of(
            st.fixed_dictionaries({}, optional={"code": values, "message": values, "type": values}),
            values,
        ),
    },
)


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(min_value=1, max_value=20_000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    return opener * depth + b"1" + closer * draw(st.integers(0, depth))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(json.dumps(draw(task_like)).encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        if draw(st.booleans()) and raw:
            del raw[min(at, len(raw) - 1)]
        else:
            raw[at:at] = draw(st.binary(min_size=1, max_size=3))
    return bytes(raw)


bodies = st.one_of(
    task_like.map(lambda d: json.dumps(d).encode()),  # json.dumps writes NaN and Infinity
    values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    nested(),
    mutated(),
    st.integers(1, 6000).map(
        lambda n: b'{"id": "t", "status": "pending", "progress": ' + b"9" * n + b"}"
    ),
)


def assert_bounded(task: Task) -> None:
    assert isinstance(task.id, str) and TASK_ID.fullmatch(task.id)
    assert isinstance(task.progress, int) and 0 <= task.progress <= 100
    assert task.estimated_time is None or 1 <= task.estimated_time <= MAX_ESTIMATE
    assert task.credits_reserved is None or (
        math.isfinite(task.credits_reserved) and 0 <= task.credits_reserved <= MAX_CREDITS
    )
    assert task.created is None or 1 <= task.created <= LATEST_CREATED
    assert isinstance(task.results, tuple) and len(task.results) <= MAX_RESULTS
    assert all(isinstance(r, str) and 0 < len(r) <= MAX_LINK_CHARS for r in task.results)
    assert task.error_code is None or isinstance(task.error_code, str)
    assert task.error_message is None or isinstance(task.error_message, str)


@FUZZ
@given(bodies)
@example(b'{"id": "t", "status": "processing", "progress": NaN}')
@example(b'{"id": "t", "status": "pending", "task_info": {"estimated_time": 1e999}}')
@example(b"[" * 100_000)
def test_parse_task_is_none_or_bounded(raw: bytes) -> None:
    task = parse_task(raw)
    if task is not None:
        assert_bounded(task)


@FUZZ
@given(bodies)
def test_error_envelope_is_always_a_mapping(raw: bytes) -> None:
    assert isinstance(error_envelope(raw), dict)


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@FUZZ
@given(
    st.one_of(
        st.none(),
        header_text,
        st.floats().map(repr),
        st.integers(-(10**30), 10**30).map(str),
        st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
    ),
    st.one_of(
        st.none(), st.text(max_size=60), st.integers(0, 10**400).map(lambda n: f"retry after {n} s")
    ),
)
def test_retry_after_is_none_or_a_bounded_wait(header: str | None, suggestion: str | None) -> None:
    wait = retry_after(header, suggestion)
    assert wait is None or (math.isfinite(wait) and 0 <= wait <= MAX_WAIT)


# -- the client's answer reading, against a local server ---------------------------------------


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    chunked: bool = False
    retry_after: str | None = None


class HostileServer:
    """Answers every request with ``answer``, on 127.0.0.1, in a loop of its own thread."""

    def __init__(self) -> None:
        self.answer = Answer()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client, self.base_url = self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        answer = self.answer
        headers = {} if answer.retry_after is None else {"Retry-After": answer.retry_after}
        if not answer.chunked:
            return web.Response(status=answer.status, body=answer.body, headers=headers)
        response = web.StreamResponse(status=answer.status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(answer.body), 7):
            await response.write(answer.body[start : start + 7])
        await response.write_eof()
        return response

    async def _start(self) -> tuple[ProviderClient, str]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self.runner, sock).start()
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/apiv1"
        self.session = aiohttp.ClientSession()
        client = ProviderClient(
            self.session, base_url=base, api_key="fuzz-key", max_retries=0, request_timeout=5
        )
        return client, base

    async def _stop(self) -> None:
        await self.session.close()
        await self.runner.cleanup()

    def close(self) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.close()


@FUZZ
@given(
    st.sampled_from([200, 200, 200, 201, 302, 400, 401, 404, 429, 500, 503, 599]),
    st.one_of(bodies, task_like.map(lambda d: json.dumps({**d, "id": TASK}).encode())),
    st.booleans(),
    st.one_of(st.none(), header_text),
)
def test_client_returns_a_checked_task_or_a_documented_error(
    hostile: HostileServer, status: int, body: bytes, chunked: bool, wait: str | None
) -> None:
    hostile.answer = Answer(status, body, chunked, wait)
    try:
        task = hostile.run(hostile.client.get_task(TASK))
    except SoraAPIError as exc:
        assert exc.status == status
        assert exc.retry_after is None or 0 <= exc.retry_after <= MAX_WAIT
    except ProviderUnavailable:
        pass
    except ProviderError as exc:  # any other member of the family would be undocumented here
        raise AssertionError(f"unexpected {type(exc).__name__}") from exc
    else:
        assert status == 200 and task.id == TASK
        assert_bounded(task)
