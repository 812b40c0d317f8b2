"""Starting images: checked from their header, decoded within a memory bound, re-encoded to fit.

Limits (chosen, not from the provider): sides from ``MIN_SIDE`` to ``MAX_SIDE`` pixels and at most
``MAX_PIXELS`` pixels as declared; at most ``DECODE_MAX_PIXELS`` pixels ever decoded (a JPEG
decodes at 1/2, 1/4 or 1/8 scale to get there, PNG and WEBP cannot and are refused above it).
Everything is read from the header (``image_bytes``) before a decoder sees the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from sora_bot.errors import InvalidInput
from sora_bot.media.image_bytes import ImageHeader, read_header

MIN_SIDE = 16
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000
DECODE_MAX_PIXELS = 4096 * 4096  # 64 MiB as RGBA: the most one decode may hold
REENCODE_MAX_SIDE = 4096  # the provider renders at most 1280 px wide: more only costs bytes
JPEG_QUALITIES = (90, 80, 70, 60, 50)
JPEG_SCALES = (1, 2, 4, 8)  # the reductions libjpeg can decode at
ACCEPTED = {
    "JPEG": ("jpeg", "image/jpeg", "jpg"),
    "PNG": ("png", "image/png", "png"),
    "WEBP": ("webp", "image/webp", "webp"),
}
ACCEPTED_TEXT = "Please use a JPEG, PNG or WEBP image."
# PNG text chunks are never used; Pillow would keep up to 64 MiB of them per image.
PngImagePlugin.MAX_TEXT_MEMORY = 4 * 1024 * 1024


@dataclass(frozen=True)
class PreparedImage:
    """An image checked by its bytes, possibly re-encoded to fit a size limit."""

    data: bytes
    format: str  # "jpeg" | "png" | "webp"
    content_type: str
    extension: str  # without the dot
    width: int
    height: int
    recompressed: bool


def prepare_image(
    data: bytes, *, max_bytes: int = 10 * 1024 * 1024, target_bytes: int = 4 * 1024 * 1024
) -> PreparedImage:
    """Check an image by its bytes; re-encode it as JPEG under ``target_bytes`` when too large.

    Bytes after the image's own end (a polyglot's other half) are never passed on.
    """
    if not data:
        raise InvalidInput(f"The image file is empty. {ACCEPTED_TEXT}")
    header = read_header(data)
    if header is None:
        raise InvalidInput(f"That file is not an image we can use. {ACCEPTED_TEXT}")
    _check_size(header)
    data = data[: header.end]
    try:
        img = Image.open(io.BytesIO(data), formats=[header.format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput(_too_large(header)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidInput(f"That file is not an image we can use. {ACCEPTED_TEXT}") from None
    with img:
        if getattr(img, "is_animated", False):  # frame count from the header: nothing decoded
            raise InvalidInput("Animated images can't be used; please use a still picture.")
        passthrough = len(data) <= max_bytes
        if header.format == "JPEG":
            # A picture passed on as is is decoded only to prove it is whole: the smallest scale.
            _reduce_on_load(img, header, JPEG_SCALES[-1] if passthrough else None)
        try:
            img.load()
        except (Image.DecompressionBombError, OSError, SyntaxError, ValueError):
            raise InvalidInput(
                "The image looks damaged or incomplete; please try another."
            ) from None
        fmt, content_type, extension = ACCEPTED[header.format]
        if passthrough:
            width, height = _oriented(img, header.width, header.height)
            return PreparedImage(data, fmt, content_type, extension, width, height, False)
        return _recompress(img, min(max_bytes, target_bytes))


def _check_size(header: ImageHeader) -> None:
    width, height = header.width, header.height
    limit = MAX_PIXELS if header.format == "JPEG" else DECODE_MAX_PIXELS
    if width * height > limit or max(width, height) > MAX_SIDE:
        raise InvalidInput(_too_large(header))
    if min(width, height) < MIN_SIDE:
        raise InvalidInput(f"The image is too small ({width}×{height}); please use a bigger one.")


def _too_large(header: ImageHeader) -> str:
    limit = MAX_PIXELS if header.format == "JPEG" else DECODE_MAX_PIXELS
    return (
        f"The image is too large ({header.width}×{header.height}); please use one of at most "
        f"{limit // 1_000_000} megapixels and {MAX_SIDE} pixels a side."
    )


def _reduce_on_load(img: Image.Image, header: ImageHeader, scale: int | None) -> None:
    """Let libjpeg decode at a reduced scale: under the decode bound, or at ``scale``."""
    if scale is None:
        pixels = header.width * header.height
        scale = next(s for s in JPEG_SCALES if pixels <= DECODE_MAX_PIXELS * s * s)
    if scale > 1:
        img.draft(img.mode, (max(1, header.width // scale), max(1, header.height // scale)))


def _oriented(img: Image.Image, width: int, height: int) -> tuple[int, int]:
    # EXIF orientations 5-8 turn the picture by 90°: viewers show it with sides swapped.
    if img.getexif().get(0x0112) in (5, 6, 7, 8):
        return height, width
    return width, height


def _flatten(img: Image.Image) -> Image.Image:
    img = ImageOps.exif_transpose(img)
    if max(img.size) > REENCODE_MAX_SIDE:  # shrink before any copy in another mode
        img.thumbnail((REENCODE_MAX_SIDE, REENCODE_MAX_SIDE), Image.Resampling.LANCZOS)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _recompress(img: Image.Image, limit: int) -> PreparedImage:
    rgb = _flatten(img)
    while min(rgb.size) >= MIN_SIDE:
        for quality in JPEG_QUALITIES:
            out = io.BytesIO()
            rgb.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= limit:
                return PreparedImage(out.getvalue(), "jpeg", "image/jpeg", "jpg", *rgb.size, True)
        new_size = (max(1, int(rgb.width * 0.75)), max(1, int(rgb.height * 0.75)))
        rgb = rgb.resize(new_size, Image.Resampling.LANCZOS)
    raise InvalidInput("The image could not be compressed small enough; please use a smaller one.")
