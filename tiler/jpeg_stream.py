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


def _header_segments(data: bytes) -> tuple[list[bytes], int]:
    """The marker segments after SOI, up to the scan (or EOI for a tables-only stream),
    without JFIF/Adobe markers; and where the scan starts."""
    if not data.startswith(_SOI):
        raise ValueError("not a JPEG stream")
    segments: list[bytes] = []
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            raise ValueError("garbage between JPEG markers")
        if data[pos + 1] == 0xFF:  # fill byte
            pos += 1
            continue
        marker = data[pos + 1]
        if marker in (_SOS, _EOI):
            return segments, pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            segments.append(data[pos : pos + 2])
            pos += 2
            continue
        if pos + 4 > len(data):
            raise ValueError("truncated JPEG marker")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise ValueError("JPEG marker length runs past the stream")
        if marker not in (_APP0, _APP14):
            segments.append(data[pos : pos + 2 + length])
        pos += 2 + length
    raise ValueError("JPEG stream without image data")


@functools.lru_cache(maxsize=64)
def _prefix(tables: bytes | None, colorspace: JpegColorspace) -> bytes:
    """SOI, the forced colour space and the tables' segments: the same for every tile of
    a level (the level's tables object is hashed once, so this is a dictionary lookup)."""
    return b"".join([_SOI, _ADOBE[colorspace], *(_header_segments(tables)[0] if tables else ())])


def jpeg_stream(
    tile: bytes, tables: bytes | None, colorspace: JpegColorspace
) -> tuple[bytes, tuple[int, int]]:
    """SOI, the forced colour space, the tables' segments, then the tile's own stream;
    and the (width, height) its frame header declares."""
    parts = [_prefix(tables, colorspace)]
    segments, scan = _header_segments(tile)
    parts += segments
    parts.append(tile[scan:])
    frame = [s for s in segments if s[1] in _SOF]
    if len(frame) != 1 or len(frame[0]) < 9:
        raise ValueError("no single JPEG frame header")
    height, width = int.from_bytes(frame[0][5:7], "big"), int.from_bytes(frame[0][7:9], "big")
    return b"".join(parts), (width, height)


def decode_tile(
    tile: bytes,
    tables: bytes | None,
    colorspace: JpegColorspace,
    size: tuple[int, int],
) -> np.ndarray:
    """HxWx3 pixels of one JPEG tile of `size` (width, height); a typed error if the
    bytes are not such a tile."""
    try:
        stream, declared = jpeg_stream(tile, tables, colorspace)
        if declared != size:  # checked before decoding: a forged header costs nothing
            raise ValueError(f"the tile declares {declared[0]}x{declared[1]}")
        pixels = decode_jpeg(stream)
    except ValueError as error:
        raise BrokenSlideError(f"undecodable JPEG tile: {error}") from error
    if pixels.shape != (size[1], size[0], 3):
        raise BrokenSlideError(
            f"a JPEG tile decodes to {pixels.shape[1]}x{pixels.shape[0]}, not {size[0]}x{size[1]}"
        )
    return pixels
