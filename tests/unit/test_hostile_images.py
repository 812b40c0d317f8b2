"""Hostile starting images: refused from the header, decoded within bounds, trimmed to the image.

Also the gate that bounds how many decodes run at once. Builders live in ``tests.doubles``
(``hostile_images``), shared with ``bench.hostile_images``.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest
from PIL import Image

from sora_bot.errors import InvalidInput
from sora_bot.media import DECODE_MAX_PIXELS, ImageGate, PreparedImage, prepare_image
from sora_bot.media.image_bytes import read_header
from tests.doubles import hostile_images as hostile


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("size", [(640, 360), (17, 9000), (4096, 2)])
def test_header_sizes_match_pillow(fmt: str, size: tuple[int, int]) -> None:
    data = encode(Image.new("RGB", size, "red"), fmt)
    header = read_header(data)
    assert header is not None and header.format == fmt
    assert (header.width, header.height) == size and header.end == len(data)


def test_lossless_webp_header() -> None:
    data = encode(Image.new("RGBA", (300, 200)), "WEBP", lossless=True)
    header = read_header(data)
    assert header is not None and (header.width, header.height) == (300, 200)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("bomb-png", "too large"),
        ("png-8192x4096", "too large"),
        ("webp-canvas-16k", "too large"),
        ("jpeg-65k", "too large"),
        ("animated-webp", "Animated"),
        ("apng", "Animated"),
        ("ztxt-bomb", "not an image"),
        ("iccp-bomb", "not an image"),
        ("truncated-png", "damaged"),
        ("corrupt-jpeg", "damaged"),
    ],
)
def test_hostile_images_are_refused_quickly(name: str, says: str) -> None:
    data = hostile.SAMPLES[name]()
    started = time.monotonic()
    with pytest.raises(InvalidInput, match=says):
        prepare_image(data)
    assert time.monotonic() - started < 1.0


def test_a_png_over_the_decode_bound_is_refused_before_decoding() -> None:
    side = int(DECODE_MAX_PIXELS**0.5) + 1
    with pytest.raises(InvalidInput, match="16 megapixels"):
        prepare_image(hostile.png_claiming(side, side))


@pytest.mark.parametrize("name", ["png-polyglot", "jpeg-polyglot"])
def test_a_polyglot_loses_its_other_half(name: str) -> None:
    data = hostile.SAMPLES[name]()
    prepared = prepare_image(data)
    assert b"PK\x03\x04" not in prepared.data and len(prepared.data) < len(data)
    with Image.open(io.BytesIO(prepared.data)) as again:
        again.load()


def test_a_big_jpeg_is_decoded_reduced() -> None:
    # 7000×5000 = 35 MP declared: within the JPEG limit, decoded at half scale (8.75 MP).
    data = hostile.SAMPLES["jpeg-35mp"]()
    prepared = prepare_image(data, max_bytes=len(data) - 1, target_bytes=2_000_000)
    assert prepared.recompressed and max(prepared.width, prepared.height) <= 4096


async def test_the_gate_runs_at_most_its_slots_at_once() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def slow(data: bytes) -> PreparedImage:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return PreparedImage(data, "png", "image/png", "png", 16, 16, False)

    gate = ImageGate(2, prepare=slow)
    await asyncio.gather(*(gate.prepare(b"x") for _ in range(8)))
    assert peak == 2


async def test_a_slot_stays_taken_until_an_abandoned_decode_ends() -> None:
    release, started = threading.Event(), threading.Event()
    calls: list[bytes] = []

    def blocking(data: bytes) -> PreparedImage:
        calls.append(data)
        started.set()
        release.wait(5)
        return PreparedImage(data, "png", "image/png", "png", 16, 16, False)

    gate = ImageGate(1, prepare=blocking)
    first = asyncio.create_task(gate.prepare(b"first"))
    await asyncio.to_thread(started.wait, 5)
    first.cancel()  # the caller gives up; its thread decodes on
    second = asyncio.create_task(gate.prepare(b"second"))
    await asyncio.sleep(0.1)
    assert calls == [b"first"]  # the second waits for the slot the thread still holds
    release.set()
    assert (await asyncio.wait_for(second, 5)).data == b"second"
