"""A stuck test fails with the stacks of its asyncio tasks instead of hanging the run.

faulthandler shows threads only, and a hung async test is a thread idle in ``select``:
what matters is which task awaits what. After ``HANG_DUMP_SECONDS`` a watchdog thread
finds the event loop the main thread is running, asks it to print every task's stack,
and after ``HANG_FAIL_SECONDS`` cancels the test's task so the run goes on. A test that
outlives its cancel too (a swallowed cancellation) ends the run a minute later: a run that
fails with the stacks beats one that hangs until CI's limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import TextIO

import pytest

DUMP_AFTER = float(os.environ.get("HANG_DUMP_SECONDS", "90"))
FAIL_AFTER = float(os.environ.get("HANG_FAIL_SECONDS", "150"))
GIVE_UP_AFTER = float(os.environ.get("HANG_GIVE_UP_SECONDS", "60"))  # seconds after the cancel


def _running_loop(thread_id: int) -> asyncio.AbstractEventLoop | None:
    """The event loop whose ``run_forever`` is on that thread's stack, if any."""
    frame: FrameType | None = sys._current_frames().get(thread_id)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, asyncio.AbstractEventLoop):
            return candidate
        frame = frame.f_back
    return None


class _Terminal:
    """pytest's own terminal: stderr is captured while a test runs, and a run ended with
    ``os._exit`` would never show what was captured."""

    file: TextIO = sys.stderr


def _dump_tasks(loop: asyncio.AbstractEventLoop, label: str) -> None:
    out = _Terminal.file
    tasks = asyncio.all_tasks(loop)
    print(f"\n=== {label}: {len(tasks)} asyncio tasks ===", file=out)
    for task in tasks:
        print(f"--- {task!r}", file=out)
        task.print_stack(limit=30, file=out)
    out.flush()


def _cancel_main(loop: asyncio.AbstractEventLoop) -> None:
    # The outermost task is the test itself (pytest-asyncio runs it with run_until_complete).
    for task in asyncio.all_tasks(loop):
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", "")
        if name.startswith("test_") or ".test_" in name:
            task.cancel("hang watchdog")


def _watch(label: str, thread_id: int, done: threading.Event) -> None:
    if done.wait(DUMP_AFTER):
        return
    out = _Terminal.file
    print(f"\n=== {label} still running after {DUMP_AFTER:.0f} s ===", file=out)
    frame = sys._current_frames().get(thread_id)
    if frame is not None:
        traceback.print_stack(frame, file=out)
    loop = _running_loop(thread_id)
    if loop is None:
        return
    loop.call_soon_threadsafe(_dump_tasks, loop, label)
    if done.wait(max(0.0, FAIL_AFTER - DUMP_AFTER)):
        return
    print(f"\n=== {label}: cancelling after {FAIL_AFTER:.0f} s ===", file=out)
    loop.call_soon_threadsafe(_dump_tasks, loop, label)
    loop.call_soon_threadsafe(_cancel_main, loop)
    if done.wait(GIVE_UP_AFTER):
        return
    print(f"\n=== {label}: the cancel was not honoured; ending the run ===", file=out)
    loop.call_soon_threadsafe(_dump_tasks, loop, label)
    time.sleep(1.0)  # let the loop print the stacks
    out.flush()
    os._exit(3)


def pytest_configure(config: pytest.Config) -> None:
    # Output capture is off between tests' phases, so fd 2 is the real one here; a copy
    # of it stays the terminal while a test runs (as pytest's faulthandler plugin does).
    with contextlib.suppress(OSError, ValueError):
        _Terminal.file = open(os.dup(sys.stderr.fileno()), "w", closefd=True)  # noqa: SIM115


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(item.nodeid, threading.get_ident(), done), daemon=True
    )
    watcher.start()
    try:
        return (yield)
    finally:
        done.set()
