"""A tiny PNG writer (zlib + struct) and the weekly trend chart.

No imaging dependency: an RGB canvas with filled rectangles is all a bar
chart needs. The chart has no text (labels belong to the app, which has the
numbers in the report JSON); its legend is in ``CHART_LEGEND``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
AXIS: Color = (90, 90, 90)
GRID: Color = (230, 230, 230)
PREVIOUS: Color = (190, 190, 190)
CURRENT: Color = (52, 120, 198)
CURRENT_OVER: Color = (222, 120, 40)
TARGET: Color = (200, 30, 30)

CHART_LEGEND = {
    "grey bar": "same weekday, the week before",
    "blue bar": "this week, within 10% of target or under it",
    "orange bar": "this week, more than 10% over target",
    "red dashed line": "daily calorie target",
}


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` (rows top to bottom, 3 bytes per pixel)."""
    if len(rgb) != width * height * 3:
        raise ValueError(f"expected {width * height * 3} bytes of RGB, got {len(rgb)}")
    stride = width * 3
    raw = b"".join(b"\x00" + rgb[y * stride : (y + 1) * stride] for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


class Canvas:
    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill [x0, x1) x [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(row)] = row

    def pixel(self, x: int, y: int) -> Color:
        i = (y * self.width + x) * 3
        return (self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])

    def png(self) -> bytes:
        return encode_png(self.width, self.height, bytes(self.pixels))


def week_chart(
    current: Sequence[float | None],
    previous: Sequence[float | None],
    target: float,
    width: int = 336,
    height: int = 160,
) -> bytes:
    """Daily calories: this week's bars beside last week's, and the target line."""
    left, right, top, bottom = 8, 8, 8, 12
    plot_h = height - top - bottom
    values = [v for v in (*current, *previous) if v is not None]
    peak = max([target, *values]) * 1.15 if (values or target) else 1.0
    canvas = Canvas(width, height)

    def y_of(value: float) -> int:
        return top + plot_h - round(plot_h * value / peak)

    for frac in (0.25, 0.5, 0.75, 1.0):
        canvas.rect(
            left, y_of(peak * frac / 1.15), width - right, y_of(peak * frac / 1.15) + 1, GRID
        )
    days = max(len(current), len(previous), 1)
    group = (width - left - right) // days
    bar = max(2, (group - 6) // 2)
    for i in range(days):
        x = left + i * group + 3
        prev = previous[i] if i < len(previous) else None
        cur = current[i] if i < len(current) else None
        if prev:
            canvas.rect(x, y_of(prev), x + bar, y_of(0), PREVIOUS)
        if cur:
            color = CURRENT_OVER if target and cur > target * 1.1 else CURRENT
            canvas.rect(x + bar, y_of(cur), x + 2 * bar, y_of(0), color)
    if target:
        ty = y_of(target)
        for x in range(left, width - right, 8):
            canvas.rect(x, ty - 1, x + 5, ty + 1, TARGET)
    canvas.rect(left, y_of(0), width - right, y_of(0) + 1, AXIS)
    return canvas.png()
