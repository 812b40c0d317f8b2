"""Videos: probe and re-encode with the ffmpeg binary bundled by imageio-ffmpeg."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sora_bot.errors import SoraBotError

FFMPEG_TIMEOUT = 600.0
SCALE_TIERS = ((2500, 1080), (1200, 720), (500, 480), (0, 360))  # (video kbit/s, short side)


class MediaError(SoraBotError):
    """A video could not be probed or re-encoded (not the user's fault)."""


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg says about a video file: seconds, displayed size, bytes on disk."""

    duration: float
    width: int
    height: int
    size: int


_DURATION_RE = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_VIDEO_RE = re.compile(r"Stream #\d+:\d+.*?: Video: .*?[\s,](\d{2,5})x(\d{2,5})[\s,\[]")
_ROTATION_RE = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees")
_SIZE_RE = re.compile(r"\d{1,5}x\d{1,5}")
_SAFE_TEXT_RE = re.compile(r"[^A-Za-z0-9 .,_!?#-]")
_filter_cache: dict[str, bool] = {}


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped with imageio-ffmpeg."""
    import imageio_ffmpeg

    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:
        raise MediaError(f"ffmpeg is not available: {exc}") from exc


async def _run_ffmpeg(*args: str, time_limit: float = FFMPEG_TIMEOUT) -> tuple[int, str]:
    """Run ffmpeg without blocking the loop and return its exit code and merged output.

    The process is killed on timeout (``MediaError``) or cancellation.
    """
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(time_limit):  # not wait_for: it can lose a cancel on 3.11
            output, _ = await proc.communicate()
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise MediaError(f"ffmpeg took longer than {time_limit:.0f} s") from None
        raise
    assert proc.returncode is not None
    return proc.returncode, output.decode("utf-8", "replace")


async def probe_video(path: Path) -> VideoInfo:
    """Duration and size of a video, parsed from ``ffmpeg -i`` (there is no ffprobe)."""
    try:
        size = (await asyncio.to_thread(os.stat, path)).st_size
    except OSError as exc:
        raise MediaError(f"cannot read {Path(path).name}: {exc.strerror}") from exc
    _, out = await _run_ffmpeg("-i", _ffpath(path), time_limit=60)
    duration, video = _DURATION_RE.search(out), _VIDEO_RE.search(out)
    if duration is None or video is None:
        raise MediaError(f"{Path(path).name} is not a readable video")
    hours, minutes, seconds = duration.groups()
    width, height = int(video.group(1)), int(video.group(2))
    rotation = _ROTATION_RE.search(out)
    if rotation and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width
    return VideoInfo(int(hours) * 3600 + int(minutes) * 60 + float(seconds), width, height, size)


def _encode_plan(info: VideoInfo, budget_bytes: float) -> tuple[int, int, int, int] | None:
    """Video and audio kbit/s and output size for a byte budget, or None if it cannot work."""
    total_kbps = budget_bytes * 8 / 1000 / max(info.duration, 0.1) * 0.95  # ~5% mp4 overhead
    audio_kbps = int(min(96, max(32, total_kbps * 0.1)))
    video_kbps = int(total_kbps - audio_kbps)
    if video_kbps < 60:  # below this the picture is mush: better to say it does not fit
        return None
    # Fewer pixels keep a low bitrate watchable: cap the short side by the bitrate.
    short_cap = next(side for kbps, side in SCALE_TIERS if video_kbps >= kbps)
    scale = min(1.0, short_cap / max(1, min(info.width, info.height)))
    width = max(2, int(info.width * scale) // 2 * 2)
    height = max(2, int(info.height * scale) // 2 * 2)
    return video_kbps, audio_kbps, width, height


async def shrink_video(
    src: Path, dest: Path, *, max_bytes: int, time_limit: float = FFMPEG_TIMEOUT
) -> Path | None:
    """Re-encode ``src`` into ``dest`` under ``max_bytes``; None when it cannot fit.

    Raises ``MediaError`` when ffmpeg fails or times out.
    """
    info = await probe_video(src)
    if info.size <= max_bytes:
        await asyncio.to_thread(shutil.copyfile, src, dest)
        return dest
    part = dest.with_name(dest.name + ".part")
    budget = max_bytes * 0.9
    try:
        for _ in range(2):
            plan = _encode_plan(info, budget)
            if plan is None:
                return None
            video_kbps, audio_kbps, width, height = plan
            code, err = await _run_ffmpeg(
                *("-v", "error", "-y", "-i", _ffpath(src), "-map", "0:v:0", "-map", "0:a:0?"),
                *("-vf", f"scale={width}:{height}", "-c:v", "libx264", "-preset", "veryfast"),
                *("-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps}k"),
                *("-bufsize", f"{video_kbps * 2}k", "-pix_fmt", "yuv420p"),
                *("-c:a", "aac", "-b:a", f"{audio_kbps}k", "-movflags", "+faststart"),
                *("-f", "mp4", _ffpath(part)),
                time_limit=time_limit,
            )
            if code != 0:
                raise MediaError(f"ffmpeg could not re-encode {src.name}: {_last_line(err)}")
            size = (await asyncio.to_thread(os.stat, part)).st_size
            if size <= max_bytes:
                await asyncio.to_thread(os.replace, part, dest)
                return dest
            budget = budget * max_bytes / size * 0.85  # aim lower by how much we overshot
        return None
    finally:
        await asyncio.to_thread(_unlink_quietly, part)


async def make_test_video(
    dest: Path, *, seconds: float = 1.0, size: str = "320x240", text: str | None = None
) -> Path:
    """Write a real mp4 (ffmpeg test pattern and a tone), optionally with a caption."""
    if not _SIZE_RE.fullmatch(size) or not 0 < seconds <= 600:
        raise ValueError(f"bad test video parameters: {size!r}, {seconds!r} s")
    pattern = f"testsrc=duration={seconds}:size={size}:rate=25"
    tone = f"sine=frequency=440:duration={seconds}"
    base = ["-v", "error", "-y", "-f", "lavfi", "-i", pattern, "-f", "lavfi", "-i", tone]
    tail = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    tail += ["-shortest", "-movflags", "+faststart", _ffpath(dest)]
    # Only characters that need no drawtext escaping: the caption is a label, not user content.
    caption = _SAFE_TEXT_RE.sub("", text or "")[:80].strip()
    if caption and await _has_filter("drawtext"):
        draw = f"drawtext=text='{caption}':fontcolor=white:fontsize=20:box=1:boxcolor=black:x=8:y=8"
        code, _ = await _run_ffmpeg(*base, "-vf", draw, *tail)
        if code == 0:
            return dest
        # Usually a missing font: fall through and make the video without the caption.
    code, err = await _run_ffmpeg(*base, *tail)
    if code != 0:
        raise MediaError(f"ffmpeg could not make a test video: {_last_line(err)}")
    return dest


async def _has_filter(name: str) -> bool:
    if name not in _filter_cache:
        _, out = await _run_ffmpeg("-filters", time_limit=30)
        _filter_cache[name] = re.search(rf"^\s*\S+\s+{re.escape(name)}\s", out, re.M) is not None
    return _filter_cache[name]


def _ffpath(path: Path) -> str:
    # "file:" keeps ffmpeg from reading a leading "-" as an option or "a:b" as a protocol.
    return "file:" + str(Path(path).absolute())


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no details"


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
