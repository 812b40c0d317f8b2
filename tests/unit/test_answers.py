"""Provider answers are checked, not believed: hostile values are clamped or ignored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from sora_bot.models import TaskStatus
from sora_bot.provider.answers import (
    MAX_RESULTS,
    MAX_WAIT,
    error_envelope,
    parse_task,
    retry_after,
)


def body(**fields: Any) -> bytes:
    """A valid query answer with ``fields`` replaced (json.dumps writes NaN and Infinity)."""
    answer: dict[str, Any] = {
        "id": "task-unified-1757169743-7cvnl5zw",
        "status": "processing",
        "progress": 40,
        "created": 1757169743,
        "task_info": {"estimated_time": 300},
        "usage": {"credits_reserved": 7},
    }
    answer.update(fields)
    return json.dumps(answer).encode()


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        (float("nan"), 0),
        (float("inf"), 0),
        (float("-inf"), 0),
        (-5, 0),
        (1e300, 100),
        pytest.param(10**400, 0, id="int-too-large-for-a-float"),
        ("50", 0),
        (True, 0),
        (65.7, 65),
    ],
)
def test_progress_is_clamped_or_ignored(progress: Any, expected: int) -> None:
    task = parse_task(body(progress=progress))
    assert task is not None and task.progress == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -5, 0, 1e300, 10**7, "300", None])
def test_unbelievable_estimates_are_ignored(value: Any) -> None:
    task = parse_task(body(task_info={"estimated_time": value}))
    assert task is not None and task.estimated_time is None


def test_believable_estimate_is_kept() -> None:
    task = parse_task(body(task_info={"estimated_time": 412.9}))
    assert task is not None and task.estimated_time == 412


@pytest.mark.parametrize("value", [float("nan"), float("-inf"), -1, 1e300, 10**30, [], "7"])
def test_unbelievable_credits_and_creation_times_are_ignored(value: Any) -> None:
    task = parse_task(body(created=value, usage={"credits_reserved": value}))
    assert task is not None
    assert task.credits_reserved is None and task.created is None


@pytest.mark.parametrize(
    "task_id", ["", " ", "task with spaces", "x" * 201, "tâche", 12, None, ["task-1"]]
)
def test_an_answer_without_a_usable_id_is_no_answer(task_id: Any) -> None:
    assert parse_task(body(id=task_id)) is None


@pytest.mark.parametrize("status", [None, 3, ["completed"], {"a": 1}, "COMPLETED", "done"])
def test_an_answer_without_a_documented_status_is_no_answer(status: Any) -> None:
    assert parse_task(body(status=status)) is None


def test_result_links_are_strings_of_bounded_length_and_few() -> None:
    links = [7, None, "", "https://cdn.example.com/" + "a" * 5000, {"url": "x"}]
    links += [f"https://cdn.example.com/{n}.mp4" for n in range(10)]
    task = parse_task(body(status="completed", results=links))
    assert task is not None and task.status is TaskStatus.COMPLETED
    assert task.results == tuple(f"https://cdn.example.com/{n}.mp4" for n in range(MAX_RESULTS))
    for not_a_list in ("https://x", {"0": "https://x"}):
        task = parse_task(body(status="completed", results=not_a_list))
        assert task is not None and task.results == ()


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than Python's recursion limit
        b'{"id": "t", "status": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"id": "t", "status": "pending", "progress": ' + b"9" * 5000 + b"}",  # digits limit
        b"\xff\xfe\x00garbage",
        b"",
        b"NaN",
        b"null",
    ],
)
def test_hostile_bodies_are_no_answer_not_an_exception(raw: bytes) -> None:
    assert parse_task(raw) is None
    assert error_envelope(raw) == {}


def test_nested_error_fields_are_not_text() -> None:
    nested: Any = "deep"
    for _ in range(900):
        nested = [nested]
    task = parse_task(body(status="failed", error={"code": nested, "message": {"a": 1}}))
    assert task is not None and task.error_code is None and task.error_message is None


@pytest.mark.parametrize(
    ("header", "suggestion", "expected"),
    [
        ("1e300", None, MAX_WAIT),
        ("-30", None, 0.0),
        ("inf", None, None),
        ("nan", None, None),
        (None, "retry after " + "9" * 400 + " seconds", MAX_WAIT),
        (None, "retry after 99999999 seconds", MAX_WAIT),
        ("Mon, 01 Jan 1900 00:00:00 GMT", None, 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", None, MAX_WAIT),
        ("Mon, 99 Foo 99999 99:99:99 GMT", None, None),
    ],
)
def test_waits_asked_for_are_bounded(
    header: str | None, suggestion: str | None, expected: float | None
) -> None:
    assert retry_after(header, suggestion) == expected


def test_a_near_wait_is_kept() -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 110 < (retry_after(soon, None) or 0) <= 120
