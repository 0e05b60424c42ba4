"""A complete JPEG stream from a slide's tile bytes, decoded as OpenSlide decodes it.

OpenSlide loads a TIFF's JPEGTables, then the tile, and forces the decoder's colour
space from the photometric tag (or the DICOM photometric interpretation), whatever
markers the stream carries. libjpeg-turbo guesses the colour space from JFIF/Adobe
markers instead, so we drop those and write one Adobe marker saying what OpenSlide
would force: the same libjpeg-turbo then gives the same pixels.
"""

from __future__ import annotations

import functools

import numpy as np

from tiler.errors import BrokenSlideError
from tiler.imaging import decode_jpeg
from tiler.slide_structure import JpegColorspace

_SOI = b"\xff\xd8"
# Adobe APP14, version 100, flags 0, transform 0 (RGB) or 1 (YCbCr).
_ADOBE = {
    "rgb": b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00",
    "ycbcr": b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x01",
}
_SOS, _EOI, _APP0, _APP14 = 0xDA, 0xD9, 0xE0, 0xEE
#: Start-of-frame markers (all but DHT, JPG and DAC in C0-CF).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _header(data: bytes) -> tuple[list[tuple[int, int]], int, list[tuple[int, int]]]:
    """The byte spans of the marker segments after SOI, up to the scan (or EOI for a
    tables-only stream), without fill bytes and JFIF/Adobe markers (neighbouring spans
    joined); where the scan starts; and each frame header's (position, length)."""
    if not data.startswith(_SOI):
        raise ValueError("not a JPEG stream")
    kept: list[tuple[int, int]] = []
    frames: list[tuple[int, int]] = []
    pos, size = 2, len(data)

    def keep(start: int, end: int) -> None:
        if kept and kept[-1][1] == start:
            kept[-1] = (kept[-1][0], end)
        else:
            kept.append((start, end))

    while pos + 1 < size:
        if data[pos] != 0xFF:
            raise ValueError("garbage between JPEG markers")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (_SOS, _EOI):
            return kept, pos, frames
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            keep(pos, pos + 2)
            pos += 2
            continue
        if pos + 4 > size:
            raise ValueError("truncated JPEG marker")
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < 2 or pos + 2 + length > size:
            raise ValueError("JPEG marker length runs past the stream")
        if marker not in (_APP0, _APP14):
            keep(pos, pos + 2 + length)
            if marker in _SOF:
                frames.append((pos, length))
        pos += 2 + length
    raise ValueError("JPEG stream without image data")


@functools.lru_cache(maxsize=64)
def _prefix(tables: bytes | None, colorspace: JpegColorspace) -> bytes:
    """SOI, the forced colour space and the tables' segments: the same for every tile of
    a level (the level's tables object is hashed once, so this is a dictionary lookup)."""
    parts = [_SOI, _ADOBE[colorspace]]
    if tables:
        parts += [tables[start:end] for start, end in _header(tables)[0]]
    return b"".join(parts)


def jpeg_stream(
    tile: bytes, tables: bytes | None, colorspace: JpegColorspace
) -> tuple[bytes, tuple[int, int]]:
    """SOI, the forced colour space, the tables' segments, then the tile's own stream;
    and the (width, height) its frame header declares."""
    kept, scan, frames = _header(tile)
    if len(frames) != 1 or frames[0][1] < 7:
        raise ValueError("no single JPEG frame header")
    frame = frames[0][0]
    height = (tile[frame + 5] << 8) | tile[frame + 6]
    width = (tile[frame + 7] << 8) | tile[frame + 8]
    if kept and kept[-1][1] == scan:  # usually the whole tile after SOI: one copy
        kept[-1] = (kept[-1][0], len(tile))
    else:
        kept.append((scan, len(tile)))
    view = memoryview(tile)
    stream = b"".join([_prefix(tables, colorspace), *(view[start:end] for start, end in kept)])
    return stream, (width, height)


def decode_tile(
    tile: bytes,
    tables: bytes | None,
    colorspace: JpegColorspace,
    size: tuple[int, int],
    channels: int = 3,
) -> np.ndarray:
    """HxWx3 pixels (HxWx4 RGBX with `channels=4`) of one JPEG tile of `size` (width,
    height); a typed error if the bytes are not such a tile."""
    try:
        stream, declared = jpeg_stream(tile, tables, colorspace)
        if declared != size:  # checked before decoding: a forged header costs nothing
            raise ValueError(f"the tile declares {declared[0]}x{declared[1]}")
        pixels = decode_jpeg(stream, channels)
    except ValueError as error:
        raise BrokenSlideError(f"undecodable JPEG tile: {error}") from error
    if pixels.shape != (size[1], size[0], channels):
        raise BrokenSlideError(
            f"a JPEG tile decodes to {pixels.shape[1]}x{pixels.shape[0]}, not {size[0]}x{size[1]}"
        )
    return pixels
