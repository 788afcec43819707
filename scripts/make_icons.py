"""Draw the Teams app icons (color.png 192x192, outline.png 32x32 white on transparent) as plain PNGs."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

Pixel = tuple[int, int, int, int]


def write_png(path: Path, pixels: list[list[Pixel]]) -> None:
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + b"".join(struct.pack("BBBB", *p) for p in row) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))


def door(size: int, x: int, y: int) -> bool:
    """A door in a frame: the RoomBot glyph, in a size x size box."""
    s = size / 32
    frame = 8 * s <= x < 24 * s and 5 * s <= y < 28 * s
    inside = 11 * s <= x < 21 * s and 8 * s <= y < 28 * s
    knob = 17 * s <= x < 19 * s and 16 * s <= y < 18 * s
    floor = 4 * s <= x < 28 * s and 27 * s <= y < 29 * s
    return (frame and not inside) or knob or floor


def main(folder: Path) -> None:
    blue: Pixel = (47, 95, 167, 255)
    white: Pixel = (255, 255, 255, 255)
    clear: Pixel = (0, 0, 0, 0)
    write_png(folder / "color.png",
              [[white if door(192, x, y) else blue for x in range(192)] for y in range(192)])
    write_png(folder / "outline.png",
              [[white if door(32, x, y) else clear for x in range(32)] for y in range(32)])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "manifest")
