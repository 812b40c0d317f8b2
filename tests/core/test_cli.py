"""``python -m sora_bot`` as a user runs it: a real process against the provider double."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles import run_cli, running_provider


async def test_generate_saves_the_video(tmp_path: Path) -> None:
    async with running_provider(task_seconds=0.3, estimated_time=1) as double:
        out = tmp_path / "clips" / "fox.mp4"
        code, text = await run_cli(
            tmp_path,
            "generate",
            "a fox in the snow",
            "--out",
            str(out),
            "--duration",
            "15",
            "--aspect-ratio",
            "9:16",
            "--keep-watermark",
            "--image-url",
            "https://x.test/a.png",
            SORA_API_KEY="test-key",
            SORA_API_BASE=double.base_url,
        )
    assert code == 0, text
    assert out.read_bytes() == double.video_bytes
    assert "100%" in text
    assert double.creates()[0].json == {
        "model": "sora-2",
        "prompt": "a fox in the snow",
        "aspect_ratio": "9:16",
        "duration": 15,
        "remove_watermark": False,
        "image_urls": ["https://x.test/a.png"],
    }


async def test_failed_job_exits_1_with_the_bot_message(tmp_path: Path) -> None:
    async with running_provider(task_seconds=0.2, estimated_time=1) as double:
        code, text = await run_cli(
            tmp_path,
            "generate",
            "a famous actor [fail:content_policy_violation]",
            "--out",
            str(tmp_path / "x.mp4"),
            SORA_API_KEY="test-key",
            SORA_API_BASE=double.base_url,
        )
    assert code == 1
    assert "content filter" in text
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "   ", "--out", "x.mp4"],
        ["generate", "a" * 5001, "--out", "x.mp4"],
        ["generate", "cat", "--out", "x.mp4", "--aspect-ratio", "4:3"],
        ["generate", "cat", "--out", "x.mp4", "--duration", "12"],
        ["generate", "cat", "--out", "x.mp4", "--image-url", "file:///etc/passwd"],
        ["generate", "cat", "--out", "/etc/hostname/clip.mp4"],  # a folder that is a file
    ],
)
async def test_bad_input_exits_2_before_any_request(tmp_path: Path, args: list[str]) -> None:
    async with running_provider() as double:
        code, _ = await run_cli(
            tmp_path, *args, SORA_API_KEY="test-key", SORA_API_BASE=double.base_url
        )
    assert code == 2
    assert double.requests == []


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "SORA_API_KEY"),
        ({"SORA_API_KEY": "k", "SORA_POLL_INTERVAL": "soon"}, "SORA_POLL_INTERVAL"),
    ],
)
async def test_configuration_errors_exit_3(
    tmp_path: Path, env: dict[str, str], needle: str
) -> None:
    code, text = await run_cli(tmp_path, "generate", "cat", "--out", "x.mp4", **env)
    assert code == 3
    assert needle in text


async def test_doctor_checks_the_key(tmp_path: Path) -> None:
    async with running_provider(api_key="right") as double:
        good, good_text = await run_cli(
            tmp_path, "doctor", SORA_API_KEY="right", SORA_API_BASE=double.base_url
        )
        bad, bad_text = await run_cli(
            tmp_path, "doctor", SORA_API_KEY="wrong-secret", SORA_API_BASE=double.base_url
        )
    assert good == 0 and "provider key accepted" in good_text, good_text
    assert bad == 3 and "SORA_API_KEY" in bad_text
    assert "wrong-secret" not in bad_text
