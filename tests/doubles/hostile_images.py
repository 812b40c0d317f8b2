"""Hostile starting images, built small and on demand (shared by tests and ``bench``).

Each builder returns the bytes a member could attach; ``SAMPLES`` names them. Big ones are
built without holding their pixels (rows of zeros go straight into zlib) and cached.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable

from PIL import Image


def chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _ihdr(width: int, height: int) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))


def png_claiming(width: int, height: int, extra: bytes = b"") -> bytes:
    """A PNG whose header claims ``width``×``height`` over a tiny body (a decompression bomb)."""
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + _ihdr(width, height) + extra + idat + chunk(b"IEND", b"")


@functools.cache
def real_png(width: int, height: int) -> bytes:
    """A complete, valid black PNG of this size, compressed row by row."""
    packer, row = zlib.compressobj(9), b"\x00" * (width * 3 + 1)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + _ihdr(width, height) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def _noisy(size: tuple[int, int]) -> Image.Image:
    return Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))


def metadata_bomb(kind: bytes) -> bytes:
    """A small PNG whose zTXt or iCCP chunk inflates to 64 MiB."""
    inflated = zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)
    body = (b"Comment\x00\x00" if kind == b"zTXt" else b"icc\x00\x00") + inflated
    return png_claiming(64, 64, chunk(kind, body))


def webp_canvas(side: int) -> bytes:
    """A still WEBP (extended format) whose canvas claims ``side`` pixels a side."""
    data = bytearray(_encode(Image.new("RGBA", (64, 64), (0, 0, 0, 128)), "WEBP"))
    assert data[12:16] == b"VP8X"
    data[24:27] = (side - 1).to_bytes(3, "little")
    data[27:30] = (side - 1).to_bytes(3, "little")
    return bytes(data)


def jpeg_claiming(side: int) -> bytes:
    """A small JPEG whose frame header claims ``side`` pixels a side."""
    data = bytearray(_encode(Image.new("RGB", (64, 64)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def animated(fmt: str, frames: int = 50) -> bytes:
    """An animated WEBP or PNG (APNG) of small frames."""
    images = [Image.new("RGB", (64, 64), (i * 5 % 256, 0, 0)) for i in range(frames)]
    return _encode(images[0], fmt, save_all=True, append_images=images[1:], duration=40)


def truncated_png() -> bytes:
    """The first half of a noisy PNG: a valid header, a stream that stops."""
    data = _encode(_noisy((300, 300)), "PNG")
    return data[: len(data) // 2]


def corrupt_jpeg() -> bytes:
    """A noisy JPEG cut inside its scan."""
    data = _encode(_noisy((300, 300)), "JPEG", quality=90)
    return data[: len(data) // 2]


def polyglot(fmt: str) -> bytes:
    """A valid image with a zip archive (an HTML page inside) glued after its end."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("index.html", "<script>alert(document.domain)</script>")
    return _encode(Image.new("RGB", (64, 64), "blue"), fmt) + archive.getvalue()


@functools.cache
def big_jpeg() -> bytes:
    """A 7000×5000 (35 MP) grey JPEG: allowed, but only decoded reduced."""
    return _encode(Image.new("L", (7000, 5000), 128), "JPEG", quality=85)


SAMPLES: dict[str, Callable[[], bytes]] = {
    "bomb-png": lambda: png_claiming(30000, 30000),
    "png-8192x4096": lambda: real_png(8192, 4096),
    "webp-canvas-16k": lambda: webp_canvas(16383),
    "jpeg-65k": lambda: jpeg_claiming(65000),
    "animated-webp": lambda: animated("WEBP"),
    "apng": lambda: animated("PNG"),
    "ztxt-bomb": lambda: metadata_bomb(b"zTXt"),
    "iccp-bomb": lambda: metadata_bomb(b"iCCP"),
    "truncated-png": truncated_png,
    "corrupt-jpeg": corrupt_jpeg,
    "png-polyglot": lambda: polyglot("PNG"),
    "jpeg-polyglot": lambda: polyglot("JPEG"),
    "jpeg-35mp": big_jpeg,
    "png-4096x4096": lambda: real_png(4096, 4096),  # the largest PNG allowed: decoded in full
}
