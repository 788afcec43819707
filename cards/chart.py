"""A horizontal bar chart as a PNG, drawn with the standard library only (zlib and struct): the stack has
no imaging library, and a picture is read faster than a table. Bars are numbered (the card's legend names
them) and end with their percentage, in a tiny built-in digit font. Palette PNG, one byte a pixel, rows
unfiltered: a 10-bar chart compresses to about 1-2 KB, small enough for a data: URI in a card."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_BARS = 10

# Palette indices
BACKGROUND, BAR, TRACK, INK = 0, 1, 2, 3
PALETTE = ((255, 255, 255), (98, 100, 167), (230, 230, 240), (64, 64, 64))  # white, Teams purple, pale, dark grey

# Layout in pixels
SCALE = 3  # each font pixel is SCALE x SCALE
GLYPH_W, GLYPH_H = 3 * SCALE, 5 * SCALE
MARGIN = 8
NUMBER_W = 2 * GLYPH_W + SCALE  # "10"
BAR_X = MARGIN + NUMBER_W + 8
BAR_MAX = 300  # a bar at 100 %
BAR_H, GAP = 21, 9
LABEL_X = BAR_X + BAR_MAX + 8
WIDTH = LABEL_X + 4 * (GLYPH_W + SCALE) + MARGIN  # room for "100%"

_FONT = {  # 3 x 5, one string a row
    "0": ("111", "101", "101", "101", "111"), "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"), "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"), "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"), "7": ("111", "001", "001", "001", "001"),
    "8": ("111", "101", "111", "101", "111"), "9": ("111", "101", "111", "001", "111"),
    "%": ("101", "001", "010", "100", "101"),
}


def bar_length(fraction: float) -> int:
    """A bar's length in pixels: proportional, 0 to 100 % (more is drawn as 100 %)."""
    return round(min(max(fraction, 0.0), 1.0) * BAR_MAX)


def bar_top(index: int) -> int:
    return MARGIN + index * (BAR_H + GAP)


def bar_chart(fractions: Sequence[float]) -> bytes:
    """Bars 1..n (at most MAX_BARS) for `fractions` (0..1) on a 0-100 % scale, as PNG bytes."""
    fractions = list(fractions)[:MAX_BARS]
    height = bar_top(max(len(fractions), 1)) - GAP + MARGIN
    pixels = [bytearray(WIDTH) for _ in range(height)]
    for index, fraction in enumerate(fractions):
        top = bar_top(index)
        _fill(pixels, BAR_X, top, BAR_MAX, BAR_H, TRACK)
        _fill(pixels, BAR_X, top, bar_length(fraction), BAR_H, BAR)
        text_top = top + (BAR_H - GLYPH_H) // 2
        number = str(index + 1)
        _write(pixels, BAR_X - 8 - _text_width(number), text_top, number)
        _write(pixels, LABEL_X, text_top, f"{round(min(max(fraction, 0.0), 1.0) * 100)}%")
    return png(WIDTH, height, pixels, PALETTE)


def _fill(pixels: list[bytearray], x: int, y: int, width: int, height: int, color: int) -> None:
    for row in pixels[y:y + height]:
        row[x:x + width] = bytes([color]) * width


def _text_width(value: str) -> int:
    return len(value) * (GLYPH_W + SCALE) - SCALE


def _write(pixels: list[bytearray], x: int, y: int, value: str) -> None:
    for char in value:
        for r, line in enumerate(_FONT[char]):
            for c, bit in enumerate(line):
                if bit == "1":
                    _fill(pixels, x + c * SCALE, y + r * SCALE, SCALE, SCALE, INK)
        x += GLYPH_W + SCALE


def png(width: int, height: int, rows: Sequence[bytes | bytearray], palette: Sequence[tuple[int, int, int]]) -> bytes:
    """An 8-bit palette PNG: signature, IHDR, PLTE, one IDAT (each row unfiltered), IEND."""
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # depth 8, palette, deflate, filter 0, no interlace
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
