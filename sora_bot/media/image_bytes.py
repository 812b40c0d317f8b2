"""What an image file declares, read from its bytes before any decoder sees them.

``read_header`` gives the format, the declared canvas size and where the image's own bytes end
(``end``): the size decides whether decoding may start at all, and whatever follows ``end`` (a
zip or a script glued to a picture, a phone's motion clip) is not part of the picture.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG and DAC are not frames


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """Format (Pillow's name), declared size and the offset where the image's bytes end."""

    format: str
    width: int
    height: int
    end: int


def read_header(data: bytes) -> ImageHeader | None:
    """The header of a JPEG, PNG or WEBP file; None when the bytes are none of these."""
    try:
        if data.startswith(PNG_SIGNATURE):
            return _png(data)
        if data.startswith(b"\xff\xd8"):
            return _jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
    except (struct.error, IndexError):
        return None  # cut inside a header field
    return None


def _png(data: bytes) -> ImageHeader | None:
    if data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length  # length, type, body, CRC
        if kind == b"IEND":
            return ImageHeader("PNG", width, height, min(pos, len(data)))
    return ImageHeader("PNG", width, height, len(data))  # no IEND: the decoder will judge


def _webp(data: bytes) -> ImageHeader | None:
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)
    kind = data[12:16]
    if kind == b"VP8X":  # extended: the canvas, 24-bit sides minus one
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    elif kind == b"VP8L":  # lossless: 14-bit sides minus one after the 0x2f signature
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", data[21:25])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif kind == b"VP8 ":  # lossy: a key frame's start code, then 14-bit sides
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", data[26:30])
        width, height = w & 0x3FFF, h & 0x3FFF
    else:
        return None
    return ImageHeader("WEBP", width, height, end)


def _jpeg(data: bytes) -> ImageHeader | None:
    size: tuple[int, int] | None = None
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            return None
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return None if size is None else ImageHeader("JPEG", size[1], size[0], pos)
        if marker in _JPEG_STANDALONE:
            continue
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if marker in _JPEG_SOF and size is None:
            size = struct.unpack(">HH", data[pos + 3 : pos + 7])  # height, width
        pos += length
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next real marker
            pos = _after_scan(data, pos)
    return None if size is None else ImageHeader("JPEG", size[1], size[0], len(data))


def _after_scan(data: bytes, pos: int) -> int:
    """The offset of the first marker after entropy-coded data (0xFF00 and RSTn are data)."""
    while (pos := data.find(b"\xff", pos)) != -1 and pos + 1 < len(data):
        follower = data[pos + 1]
        if follower != 0x00 and not 0xD0 <= follower <= 0xD7 and follower != 0xFF:
            return pos
        pos += 1 if follower == 0xFF else 2
    return len(data)
