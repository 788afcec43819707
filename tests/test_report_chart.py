"""The report's chart: a valid PNG written with the standard library, bars proportional to the values
(read back pixel by pixel), small enough for a card."""

from __future__ import annotations

import struct
import zlib

import pytest

from cards.chart import BAR, BAR_H, BAR_MAX, BAR_X, INK, PALETTE, TRACK, WIDTH, bar_chart, bar_top


def _decode(data: bytes) -> tuple[int, int, list[bytes], bytes]:
    """Width, height, rows of palette indices and the palette, checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(data)
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"PLTE" in kinds and kinds.index(b"PLTE") < kinds.index(
        b"IDAT")
    width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color, compression, filtering, interlace) == (8, 3, 0, 0, 0)
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) == height * (1 + width)
    rows = [raw[r * (width + 1):(r + 1) * (width + 1)] for r in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter type None
    return width, height, [row[1:] for row in rows], dict(chunks)[b"PLTE"]


def test_a_valid_png_of_the_expected_size() -> None:
    width, height, rows, palette = _decode(bar_chart([0.5, 0.25, 1.0]))
    assert width == WIDTH and height == bar_top(3) - 9 + 8 and len(rows) == height
    assert palette == bytes(v for rgb in PALETTE for v in rgb)
    assert max(max(row) for row in rows) < len(PALETTE)


@pytest.mark.parametrize("values", [[0.0, 0.1, 0.333, 0.5, 0.9, 1.0], [0.07, 0.42, 0.015]])
def test_bars_are_proportional_to_the_values(values: list[float]) -> None:
    _, _, rows, _ = _decode(bar_chart(values))
    for index, value in enumerate(values):
        middle = rows[bar_top(index) + BAR_H // 2]
        bar = middle[BAR_X:BAR_X + BAR_MAX]
        drawn = bar.count(BAR)
        assert drawn == round(value * BAR_MAX), (index, value, drawn)
        assert bar == bytes([BAR]) * drawn + bytes([TRACK]) * (BAR_MAX - drawn)  # one bar from the left, then track


def test_bars_are_numbered_and_labelled_in_ink_outside_the_bars() -> None:
    _, _, rows, _ = _decode(bar_chart([0.5]))
    band = rows[bar_top(0):bar_top(0) + BAR_H]
    assert any(INK in row[:BAR_X] for row in band)  # the number "1"
    assert any(INK in row[BAR_X + BAR_MAX:] for row in band)  # "50%"
    assert not any(INK in row[BAR_X:BAR_X + BAR_MAX] for row in band)


def test_values_out_of_range_and_too_many_bars() -> None:
    _, height, rows, _ = _decode(bar_chart([1.7, -0.2] + [0.5] * 20))
    assert height == bar_top(10) - 9 + 8  # ten bars at most
    assert rows[bar_top(0) + 5][BAR_X:BAR_X + BAR_MAX].count(BAR) == BAR_MAX
    assert rows[bar_top(1) + 5][BAR_X:BAR_X + BAR_MAX].count(BAR) == 0


def test_ten_bars_take_a_couple_of_kilobytes(report) -> None:
    data = bar_chart([i / 10 + 0.03 for i in range(10)])
    assert len(data) < 4096
    report(f"report chart: 10 bars, {WIDTH} px wide -> {len(data):,} bytes of PNG")
