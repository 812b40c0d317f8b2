"""Tests for image checks and compression, and for video probe, shrink and test clips."""

from __future__ import annotations

import asyncio
import io
import os
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sora_bot import media
from sora_bot.errors import InvalidInput
from sora_bot.media import (
    ImageGate,
    MediaError,
    make_test_video,
    prepare_image,
    probe_video,
    shrink_video,
)
from sora_bot.media import video as media_video


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def noisy(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    return Image.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode)))


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims a size, with a tiny body that does not match."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("fmt", "name", "content_type", "extension"),
    [
        ("JPEG", "jpeg", "image/jpeg", "jpg"),
        ("PNG", "png", "image/png", "png"),
        ("WEBP", "webp", "image/webp", "webp"),
    ],
)
def test_accepted_formats_pass_unchanged(
    fmt: str, name: str, content_type: str, extension: str
) -> None:
    data = encode(Image.new("RGB", (64, 36), "red"), fmt)
    prepared = prepare_image(data)
    assert (prepared.format, prepared.content_type, prepared.extension) == (
        name,
        content_type,
        extension,
    )
    assert (prepared.width, prepared.height) == (64, 36)
    assert prepared.data == data
    assert not prepared.recompressed


def jpeg_truncated() -> bytes:
    data = encode(noisy((200, 200)), "JPEG", quality=90)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"a cat on a skateboard\n" * 10, id="text"),
        pytest.param(encode(Image.new("P", (64, 64)), "GIF"), id="gif"),
        pytest.param(encode(Image.new("RGB", (64, 64)), "BMP"), id="bmp"),
        pytest.param(b"\xff\xd8\xff\xe0" + b"\x00" * 200, id="jpeg-magic-then-garbage"),
        pytest.param(jpeg_truncated(), id="truncated-jpeg"),
        pytest.param(encode(Image.new("RGB", (8, 64)), "PNG"), id="too-narrow"),
        pytest.param(png_header(9000, 100), id="too-wide"),
    ],
)
def test_bad_images_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        prepare_image(data)


def test_gif_refusal_names_accepted_formats() -> None:
    with pytest.raises(InvalidInput, match="JPEG, PNG or WEBP"):
        prepare_image(encode(Image.new("P", (64, 64)), "GIF"))


def test_magic_alone_is_not_enough() -> None:
    # Files are judged by their bytes only: a right signature with garbage after it fails.
    for data in (
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
        b"RIFF\x00\x01\x00\x00WEBPVP8 " + b"\x07" * 80,
    ):
        with pytest.raises(InvalidInput):
            prepare_image(data)


@pytest.mark.parametrize("size", [(30000, 30000), (8000, 8000)])
def test_decompression_bomb_is_refused_quickly(size: tuple[int, int]) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="too large"):
        prepare_image(png_header(*size))
    assert time.monotonic() - started < 0.5


def test_big_png_is_recompressed_under_the_target() -> None:
    data = encode(noisy((1200, 900)), "PNG")
    assert len(data) > 2_000_000
    prepared = prepare_image(data, max_bytes=1_000_000, target_bytes=300_000)
    assert prepared.recompressed
    assert len(prepared.data) <= 300_000
    assert (prepared.format, prepared.content_type, prepared.extension) == (
        "jpeg",
        "image/jpeg",
        "jpg",
    )
    with Image.open(io.BytesIO(prepared.data)) as again:
        again.load()
        assert again.format == "JPEG"
        assert again.size == (prepared.width, prepared.height)


def test_recompression_downscales_when_quality_is_not_enough() -> None:
    data = encode(noisy((800, 800)), "PNG")
    prepared = prepare_image(data, max_bytes=100_000, target_bytes=30_000)
    assert len(prepared.data) <= 30_000
    assert prepared.width < 800
    assert prepared.width == prepared.height


def test_transparent_image_is_flattened_onto_white() -> None:
    img = noisy((400, 300), "RGBA")
    img.paste((0, 0, 0, 0), (0, 0, 100, 100))  # a fully transparent corner
    data = encode(img, "PNG")
    prepared = prepare_image(data, max_bytes=len(data) - 1)
    assert prepared.recompressed
    with Image.open(io.BytesIO(prepared.data)) as again:
        assert again.mode == "RGB"
        r, g, b = again.convert("RGB").getpixel((20, 20))  # type: ignore[misc]
        assert min(r, g, b) > 235


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: shown as portrait
    data = encode(noisy((320, 180)), "JPEG", exif=exif, quality=95)
    plain = prepare_image(data)
    assert (plain.width, plain.height) == (180, 320)
    squeezed = prepare_image(data, max_bytes=len(data) - 1)
    assert squeezed.recompressed
    with Image.open(io.BytesIO(squeezed.data)) as again:
        assert again.size == (180, 320)


async def test_image_gate_prepares_in_a_thread() -> None:
    data = encode(Image.new("RGB", (64, 64), "blue"), "WEBP")
    assert (await ImageGate().prepare(data)).format == "webp"


# --- video -------------------------------------------------------------------------------------


async def test_make_test_video_then_probe(tmp_path: Path) -> None:
    path = await make_test_video(tmp_path / "clip.mp4", seconds=1.0, size="320x240", text="job 42")
    info = await probe_video(path)
    assert info.duration == pytest.approx(1.0, abs=0.15)
    assert (info.width, info.height) == (320, 240)
    assert info.size == path.stat().st_size > 0


async def test_make_test_video_without_drawtext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(media_video._filter_cache, "drawtext", False)
    path = await make_test_video(tmp_path / "plain.mp4", size="160x90", text="caption")
    assert (await probe_video(path)).width == 160


async def test_probe_refuses_garbage(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 50)
    with pytest.raises(MediaError):
        await probe_video(junk)
    with pytest.raises(MediaError):
        await probe_video(tmp_path / "missing.mp4")


def noisy_video(dest: Path) -> Path:
    """A hard-to-compress clip, so that shrinking has real work to do."""
    subprocess.run(
        [
            media.ffmpeg_exe(),
            *("-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=2:size=640x360:rate=25"),
            *("-f", "lavfi", "-i", "sine=duration=2", "-vf", "noise=alls=60:allf=t"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "aac"),
            *("-pix_fmt", "yuv420p", "-shortest", str(dest)),
        ],
        check=True,
    )
    return dest


async def test_shrink_video_fits_the_budget(tmp_path: Path) -> None:
    src = noisy_video(tmp_path / "big.mp4")
    source = await probe_video(src)
    budget = 300_000
    assert source.size > 2 * budget
    dest = await shrink_video(src, tmp_path / "small.mp4", max_bytes=budget)
    assert dest == tmp_path / "small.mp4"
    small = await probe_video(dest)
    assert small.size <= budget
    assert small.duration == pytest.approx(source.duration, abs=0.2)
    assert small.width <= source.width
    assert not list(tmp_path.glob("*.part"))
    decoded = subprocess.run(
        [media.ffmpeg_exe(), "-v", "error", "-i", str(dest), "-f", "null", "-"],
        capture_output=True,
        check=False,
    )
    assert decoded.returncode == 0 and not decoded.stderr


async def test_shrink_video_gives_up_on_an_impossible_budget(tmp_path: Path) -> None:
    src = await make_test_video(tmp_path / "clip.mp4", seconds=1.0)
    dest = tmp_path / "tiny.mp4"
    assert await shrink_video(src, dest, max_bytes=2_000) is None
    assert not dest.exists()


async def test_shrink_video_copies_a_file_that_already_fits(tmp_path: Path) -> None:
    src = await make_test_video(tmp_path / "clip.mp4")
    dest = await shrink_video(src, tmp_path / "copy.mp4", max_bytes=10_000_000)
    assert dest is not None and dest.read_bytes() == src.read_bytes()


async def test_cancelled_ffmpeg_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = noisy_video(tmp_path / "big.mp4")
    started: list[asyncio.subprocess.Process] = []
    spawn = asyncio.create_subprocess_exec

    async def recording_spawn(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        started.append(await spawn(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recording_spawn)
    task = asyncio.create_task(shrink_video(src, tmp_path / "out.mp4", max_bytes=300_000))
    while len(started) < 2:  # the probe, then the encode
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert started[-1].returncode is not None  # the encoder was reaped, not left running
    assert not (tmp_path / "out.mp4").exists()
    assert not list(tmp_path.glob("*.part"))
