"""Small PNG charts for admin reports (Pillow, no fonts to install)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 560, 180
MARGIN = 24
BAR_COLOUR = (88, 101, 242)  # Discord blurple
TEXT_COLOUR = (220, 221, 222)
GRID_COLOUR = (79, 84, 92)
BACKGROUND = (47, 49, 54)


def daily_spend_png(daily: list[tuple[str, int]]) -> bytes:
    """A bar chart of credits per day (labels: day of month; the peak value in the corner)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    peak = max((credits for _, credits in daily), default=0)
    plot_top, plot_bottom = MARGIN, HEIGHT - MARGIN
    draw.line([(MARGIN, plot_bottom), (WIDTH - MARGIN, plot_bottom)], fill=GRID_COLOUR)
    draw.text((MARGIN, 4), f"credits per day (UTC) - peak {peak}", fill=TEXT_COLOUR)
    if daily:
        slot = (WIDTH - 2 * MARGIN) / len(daily)
        for index, (day, credits) in enumerate(daily):
            left = MARGIN + index * slot + slot * 0.15
            right = MARGIN + (index + 1) * slot - slot * 0.15
            height = 0 if peak == 0 else (plot_bottom - plot_top) * credits / peak
            if height:
                draw.rectangle([left, plot_bottom - height, right, plot_bottom], fill=BAR_COLOUR)
            draw.text((left, plot_bottom + 4), day[-2:], fill=TEXT_COLOUR)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
