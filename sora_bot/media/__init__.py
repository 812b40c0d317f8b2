"""Media handling: starting images (checked, bounded, re-encoded) and videos (probe, re-encode).

``image_bytes`` reads what a file declares, ``images`` decodes and re-encodes, ``image_gate``
bounds how many decodes run at once, ``video`` drives the bundled ffmpeg.
"""

from __future__ import annotations

from sora_bot.media.image_gate import DECODE_SLOTS, ImageGate
from sora_bot.media.images import (
    ACCEPTED,
    ACCEPTED_TEXT,
    DECODE_MAX_PIXELS,
    MAX_PIXELS,
    MAX_SIDE,
    MIN_SIDE,
    PreparedImage,
    prepare_image,
)
from sora_bot.media.video import (
    MediaError,
    VideoInfo,
    ffmpeg_exe,
    make_test_video,
    probe_video,
    shrink_video,
)

__all__ = [
    "ACCEPTED",
    "ACCEPTED_TEXT",
    "DECODE_MAX_PIXELS",
    "DECODE_SLOTS",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_SIDE",
    "ImageGate",
    "MediaError",
    "PreparedImage",
    "VideoInfo",
    "ffmpeg_exe",
    "make_test_video",
    "prepare_image",
    "probe_video",
    "shrink_video",
]
